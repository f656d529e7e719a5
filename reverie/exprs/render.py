"""Readable text for an expression, as it would be typed: ``t.n + 1``."""

from __future__ import annotations

from reverie.exprs import nodes as n

_BOOL_SYMBOL = {'and': '&', 'or': '|'}


def render(node: n.Node) -> str:
    """Python-like source text of ``node``."""
    match node:
        case n.ColumnRef():
            return node.name
        case n.Literal():
            return repr(node.value)
        case n.ListNode():
            return '[' + ', '.join(render(i) for i in node.items) + ']'
        case n.DictNode():
            items = (f'{k!r}: {render(v)}' for k, v in zip(node.keys, node.values, strict=True))
            return '{' + ', '.join(items) + '}'
        case n.MathCall():
            digits = '' if node.digits is None else f', {node.digits}'
            return f'{node.fn}({render(node.operand)}{digits})'
        case n.BinaryOp():
            return f'{_wrap(node.left)} {node.op} {_wrap(node.right)}'
        case n.BoolOp():
            return f' {_BOOL_SYMBOL[node.op]} '.join(_wrap(o) for o in node.operands)
        case n.Not():
            return f'~{_wrap(node.operand)}'
        case n.IsNull():
            return f'{_wrap(node.operand)} {"!=" if node.negate else "=="} None'
        case n.IsIn():
            return f'{_wrap(node.operand)}.isin([{", ".join(render(v) for v in node.values)}])'
        case n.Cast():
            return f'{_wrap(node.operand)}.astype({node.target})'
        case n.JsonPath():
            return _wrap(node.operand) + ''.join(f'[{_step(p)}]' for p in node.path)
        case n.ImageProp():
            return f'{_wrap(node.operand)}.{node.prop}'
        case n.CellProp():
            return f'{node.column.name}.{node.prop}'
        case n.Aggregate():
            return f'{node.kind}({render(node.operand)})'
        case n.FunctionCall():
            args = [render(a) for a in node.args]
            args += [f'{k}={render(v)}' for k, v in node.kwargs]
            return f'{node.fn.name}({", ".join(args)})'
    rendered = getattr(node, 'rendered', None)  # nodes defined outside nodes.py
    return rendered() if callable(rendered) else type(node).__name__


def _step(step: str | int | n.JsonSlice) -> str:
    if isinstance(step, n.JsonSlice):
        parts = ['' if v is None else str(v) for v in (step.start, step.stop, step.step)]
        return ':'.join(parts[:2]) + (f':{parts[2]}' if step.step is not None else '')
    return repr(step)


def _wrap(node: n.Node) -> str:
    text = render(node)
    return f'({text})' if isinstance(node, n.BinaryOp | n.BoolOp) else text
