"""Compile an expression node into a Python closure, once, for evaluation row after row.

``compile_expr(node)`` walks the tree once and returns ``f(env) -> value``; evaluating a row
is then a chain of small closures, not a tree walk with type dispatch per node. ``env`` is
whatever the caller keeps row values in: a dict keyed by nodes (computed columns) or a tuple
indexed by position (queries); ``key`` maps a leaf (column, cell property, function call) to
its place in ``env``. ``calls`` lets the engine compile a function call inline (the function
is called as the row is evaluated); without it a call's value is read from ``env``.

Nulls follow SQL: arithmetic and comparisons with None give None; ``&`` and ``|`` use
three-valued logic.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable
from typing import Any

from reverie.exprs import nodes as n
from reverie.exprs.values import (
    EvaluationError,
    cast_value,
    image_prop,
    json_path,
    three_valued,
)

Getter = Callable[[Any], Any]
LeafKey = Callable[[n.Node], Any]
CallCompiler = Callable[[n.FunctionCall, Getter], Getter | None]

_IS_LEAF = (n.ColumnRef, n.CellProp)
_compiled: weakref.WeakKeyDictionary[n.Node, Getter] = weakref.WeakKeyDictionary()


def _identity_key(node: n.Node) -> Any:
    return node


def compile_args(
    call: n.FunctionCall, *, key: LeafKey = _identity_key, calls: CallCompiler | None = None
) -> Getter:
    """A closure returning ``(args, kwargs)`` of ``call`` for a row."""
    return _Compiler(key, calls)._call_args(call)


def evaluate(node: n.Node, env: Any) -> Any:
    """Value of ``node`` for one row whose leaves are in ``env`` (keyed by node).

    Compiles ``node`` once (kept for as long as the node lives) and runs it.
    """
    compiled = _compiled.get(node)
    if compiled is None:
        compiled = _compiled[node] = compile_expr(node)
    return compiled(env)


def compile_expr(
    node: n.Node, *, key: LeafKey = _identity_key, calls: CallCompiler | None = None
) -> Getter:
    """A closure computing ``node`` from ``env`` (see the module docstring)."""
    return _Compiler(key, calls).compile(node)


class _Compiler:
    def __init__(self, key: LeafKey, calls: CallCompiler | None) -> None:
        self.key = key
        self.calls = calls

    def compile(self, node: n.Node) -> Getter:
        if isinstance(node, _IS_LEAF):
            return operator.itemgetter(self.key(node))
        if isinstance(node, n.Literal):
            value = node.value
            return lambda env: value
        if isinstance(node, n.FunctionCall):
            if self.calls is not None:
                compiled = self.calls(node, self._call_args(node))
                if compiled is not None:
                    return compiled
            return operator.itemgetter(self.key(node))
        method = getattr(self, f'_{type(node).__name__}', None)
        if method is None:
            raise TypeError(f'cannot evaluate {type(node).__name__}')
        result: Getter = method(node)
        return result

    def _call_args(self, call: n.FunctionCall) -> Getter:
        """One getter returning ``(args, kwargs)`` of a call for a row."""
        args = [self.compile(a) for a in call.args]
        kwargs = [(k, self.compile(v)) for k, v in call.kwargs]
        if not kwargs:
            if len(args) == 1:
                (only,) = args
                return lambda env: ((only(env),), {})
            return lambda env: (tuple([a(env) for a in args]), {})
        return lambda env: (
            tuple([a(env) for a in args]),
            {k: v(env) for k, v in kwargs},
        )

    def _ListNode(self, node: n.ListNode) -> Getter:
        items = [self.compile(i) for i in node.items]
        return lambda env: [i(env) for i in items]

    def _DictNode(self, node: n.DictNode) -> Getter:
        items = [(k, self.compile(v)) for k, v in zip(node.keys, node.values, strict=True)]
        return lambda env: {k: v(env) for k, v in items}

    def _MathCall(self, node: n.MathCall) -> Getter:
        inner, digits = self.compile(node.operand), node.digits
        if node.fn == 'abs':
            return lambda env: None if (v := inner(env)) is None else abs(v)

        def rounded(env: Any) -> Any:
            value = inner(env)
            if value is None:
                return None
            try:
                return round(value, digits)
            except (TypeError, OverflowError, ValueError) as e:
                raise EvaluationError(f'round({value!r}): {e}') from None

        return rounded

    def _BinaryOp(self, node: n.BinaryOp) -> Getter:
        op = n.OPERATORS[node.op]
        if node.op == '**' and node.result_type.python_type is float:
            power = op

            def op(a: Any, b: Any) -> Any:
                return float(power(a, b))  # 2 ** 3 is 8.0 where the type says Float

        if node.op in n.ARITHMETIC and node.result_type.dynamic:
            op = _numbers_only(node.op, op)  # JSON: 'ab' * 2 is an error, as in Pixeltable
        left = self.compile(node.left)
        if isinstance(node.right, n.Literal) and node.right.value is not None:
            const = node.right.value

            def with_const(env: Any) -> Any:
                a = left(env)
                return None if a is None else _apply(op, a, const)

            return with_const
        right = self.compile(node.right)

        def binary(env: Any) -> Any:
            a, b = left(env), right(env)
            return None if a is None or b is None else _apply(op, a, b)

        return binary

    def _BoolOp(self, node: n.BoolOp) -> Getter:
        parts = [self.compile(o) for o in node.operands]
        kind = node.op
        return lambda env: three_valued(kind, [p(env) for p in parts])

    def _Not(self, node: n.Not) -> Getter:
        inner = self.compile(node.operand)

        def negate(env: Any) -> Any:
            value = inner(env)
            return None if value is None else not value

        return negate

    def _IsNull(self, node: n.IsNull) -> Getter:
        inner = self.compile(node.operand)
        if node.negate:
            return lambda env: inner(env) is not None
        return lambda env: inner(env) is None

    def _IsIn(self, node: n.IsIn) -> Getter:
        inner = self.compile(node.operand)
        values = [self.compile(v) for v in node.values]

        def is_in(env: Any) -> Any:
            value = inner(env)
            if value is None:
                return None
            candidates: list[Any] = []
            for v in values:
                item = v(env)
                candidates.extend(item if isinstance(item, list) else [item])
            return value in candidates

        return is_in

    def _Cast(self, node: n.Cast) -> Getter:
        inner, target = self.compile(node.operand), node.target
        return lambda env: cast_value(inner(env), target)

    def _JsonPath(self, node: n.JsonPath) -> Getter:
        inner, path = self.compile(node.operand), node.path
        return lambda env: json_path(inner(env), path)

    def _ImageProp(self, node: n.ImageProp) -> Getter:
        inner, prop = self.compile(node.operand), node.prop
        return lambda env: image_prop(inner(env), prop)


def _numbers_only(symbol: str, op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``op`` for JSON operands: both must be numbers (not strings, lists or bools)."""

    def checked(a: Any, b: Any) -> Any:
        for v in (a, b):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TypeError(
                    f'{symbol} on JSON values needs numbers on both sides, got '
                    f'{type(a).__name__} {a!r} and {type(b).__name__} {b!r}'
                )
        return op(a, b)

    return checked


def _apply(op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``op(a, b)``, its failures as EvaluationError (the row's error, or no match in a filter)."""
    try:
        return op(a, b)
    except ZeroDivisionError:
        raise EvaluationError('division by zero') from None
    except (TypeError, OverflowError) as e:
        raise EvaluationError(str(e)) from None
