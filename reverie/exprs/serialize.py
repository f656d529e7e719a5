"""Expression nodes to and from JSON, as stored in the catalog.

Columns are stored by id, so renaming a column does not break expressions that use it.
Functions are stored as whatever their ``to_json`` says and found again by the loader
that ``reverie.functions`` registers with ``set_function_loader`` (this layer never
imports it).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError, NotFoundError
from reverie.exprs import nodes as n

FunctionLoader = Callable[[dict[str, Any]], n.FunctionLike]
ColumnLookup = Callable[[int], n.ColumnRef]

_loader: FunctionLoader | None = None


def set_function_loader(loader: FunctionLoader) -> None:
    """Install the function that turns stored function JSON back into a function."""
    global _loader
    _loader = loader


def to_json(node: n.Node) -> dict[str, Any]:
    """JSON-serialisable form of ``node``."""
    match node:
        case n.ColumnRef():
            return {'kind': 'col', 'column_id': node.column_id}
        case n.Literal():
            return {
                'kind': 'lit',
                'value': _value_json(node.value),
                'type': _type_json(node.lit_type),
            }
        case n.ListNode():
            return {'kind': 'list', 'items': [to_json(i) for i in node.items]}
        case n.DictNode():
            return {
                'kind': 'dict',
                'keys': list(node.keys),
                'values': [to_json(v) for v in node.values],
            }
        case n.MathCall():
            return {
                'kind': 'math',
                'fn': node.fn,
                'operand': to_json(node.operand),
                'digits': node.digits,
                'type': _type_json(node.result_type),
            }
        case n.BinaryOp():
            return {
                'kind': 'binary',
                'op': node.op,
                'left': to_json(node.left),
                'right': to_json(node.right),
                'type': _type_json(node.result_type),
            }
        case n.BoolOp():
            return {'kind': 'bool', 'op': node.op, 'operands': [to_json(o) for o in node.operands]}
        case n.Not():
            return {'kind': 'not', 'operand': to_json(node.operand)}
        case n.IsNull():
            return {'kind': 'isnull', 'operand': to_json(node.operand), 'negate': node.negate}
        case n.IsIn():
            return {
                'kind': 'isin',
                'operand': to_json(node.operand),
                'values': [to_json(v) for v in node.values],
            }
    return _access_json(node)


def _access_json(node: n.Node) -> dict[str, Any]:
    """JSON of casts, paths, properties and calls (the rest of ``to_json``)."""
    match node:
        case n.Cast():
            return {
                'kind': 'cast',
                'operand': to_json(node.operand),
                'type': _type_json(node.target),
            }
        case n.JsonPath():
            return {
                'kind': 'jsonpath',
                'operand': to_json(node.operand),
                'path': [_step_json(p) for p in node.path],
            }
        case n.ImageProp():
            return {
                'kind': 'imageprop',
                'operand': to_json(node.operand),
                'prop': node.prop,
                'type': _type_json(node.result_type),
            }
        case n.CellProp():
            return {
                'kind': 'cellprop',
                'column': to_json(node.column),
                'prop': node.prop,
                'type': _type_json(node.result_type),
            }
        case n.FunctionCall():
            return {
                'kind': 'call',
                'fn': node.fn.to_json(),
                'args': [to_json(a) for a in node.args],
                'kwargs': [[k, to_json(v)] for k, v in node.kwargs],
                'type': _type_json(node.result_type),
            }
    unstorable = getattr(node, 'unstorable', None)  # a node defined outside nodes.py says why
    if isinstance(unstorable, str):
        raise InvalidValueError(unstorable)
    raise TypeError(f'cannot serialise {type(node).__name__}')


def from_json(d: dict[str, Any], columns: ColumnLookup) -> n.Node:
    """Inverse of ``to_json``; ``columns`` finds a column by id."""
    kind = d['kind']

    def sub(x: dict[str, Any]) -> n.Node:
        return from_json(x, columns)

    if kind == 'col':
        return columns(int(d['column_id']))
    if kind == 'lit':
        lit_type = _type_from(d['type'])
        return n.Literal(_value_from(d['value'], lit_type), lit_type)
    if kind == 'list':
        return n.ListNode(tuple(sub(i) for i in d['items']), ts.Json)
    if kind == 'dict':
        return n.DictNode(tuple(d['keys']), tuple(sub(v) for v in d['values']), ts.Json)
    if kind == 'math':
        return n.MathCall(d['fn'], sub(d['operand']), d['digits'], _required_type(d['type']))
    if kind == 'binary':
        return n.BinaryOp(d['op'], sub(d['left']), sub(d['right']), _required_type(d['type']))
    if kind == 'bool':
        return n.BoolOp(d['op'], tuple(sub(o) for o in d['operands']), ts.Bool)
    if kind == 'not':
        return n.Not(sub(d['operand']), ts.Bool)
    if kind == 'isnull':
        return n.IsNull(sub(d['operand']), bool(d['negate']), ts.Bool)
    if kind == 'isin':
        return n.IsIn(sub(d['operand']), tuple(sub(v) for v in d['values']), ts.Bool)
    if kind == 'cast':
        return n.Cast(sub(d['operand']), _required_type(d['type']))
    if kind == 'jsonpath':
        return n.JsonPath(sub(d['operand']), tuple(_step_from(p) for p in d['path']), ts.Json)
    if kind == 'imageprop':
        return n.ImageProp(sub(d['operand']), d['prop'], _required_type(d['type']))
    if kind == 'cellprop':
        column = sub(d['column'])
        assert isinstance(column, n.ColumnRef)
        return n.CellProp(column, d['prop'], _required_type(d['type']))
    if kind == 'call':
        if _loader is None:
            raise NotFoundError('No function loader is installed; import reverie first.')
        return n.FunctionCall(
            _loader(d['fn']),
            tuple(sub(a) for a in d['args']),
            tuple((k, sub(v)) for k, v in d['kwargs']),
            _required_type(d['type']),
        )
    raise ValueError(f'unknown expression kind {kind!r}')


def _step_json(step: str | int | n.JsonSlice) -> Any:
    if isinstance(step, n.JsonSlice):
        return {'slice': [step.start, step.stop, step.step]}
    return step


def _step_from(step: Any) -> str | int | n.JsonSlice:
    if isinstance(step, dict):
        return n.JsonSlice(*step['slice'])
    return step  # type: ignore[no-any-return]


def _value_json(value: Any) -> Any:
    """Dates and timestamps as ISO text (the catalog stores JSON); the type says which."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _value_from(value: Any, lit_type: ts.ColumnType | None) -> Any:
    return value if lit_type is None else lit_type.value_from_json(value)


def _type_json(t: ts.ColumnType | None) -> dict[str, Any] | None:
    return None if t is None else t.to_json()


def _type_from(d: dict[str, Any] | None) -> ts.ColumnType | None:
    return None if d is None else ts.ColumnType.from_json(d)


def _required_type(d: dict[str, Any] | None) -> ts.ColumnType:
    t = _type_from(d)
    if t is None:
        raise ValueError('stored expression lacks its type')
    return t
