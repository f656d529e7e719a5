"""``expr.apply(fn, col_type=...)``: call a plain Python function on an expression's values.

Pixeltable's ``t.col.apply(func, col_type=)``: ``fn`` becomes a one-argument UDF on the
spot. Its result type comes from ``col_type``, else from ``fn``'s return type hint. As for
any UDF with a non-optional parameter, a null value gives null without calling ``fn``.
Importable functions (``json.dumps``, ``len``, your module's functions) and functions of a
script or notebook work in computed columns; a lambda works in queries only (it has no
name to be found again by).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.exprs.expr import Expr, register_method
from reverie.functions.udf import Function


def apply(expr: Expr, fn: Callable[..., Any], /, *, col_type: Any = None) -> Expr:
    """``fn(value)`` for each value of ``expr``.

    Examples:
        >>> t.prompt.apply(len, col_type=rv.Int)  # doctest: +SKIP
    """
    if isinstance(fn, Function):
        return fn(expr)
    if not callable(fn):
        raise InvalidValueError(
            f'apply() takes a function, got {type(fn).__name__}; e.g. t.x.apply(str.upper).'
        )
    hints = getattr(fn, '__annotations__', None)
    if col_type is None and not (isinstance(hints, dict) and 'return' in hints):
        name = getattr(fn, '__name__', 'fn')
        raise InvalidValueError(
            f'apply({name}) cannot tell the type of its result: pass col_type=, e.g. '
            f'.apply({name}, col_type=rv.String), or give {name} a return type hint.'
        )
    return_type = ts.to_column_type(col_type) if col_type is not None else None
    param_types = {}
    first = _first_param(fn)
    if first is not None and expr.col_type is not None:
        # As for a UDF with a non-optional parameter: nulls give null, fn is not called.
        param_types[first] = expr.col_type.copy(nullable=False)
    return Function(fn, return_type=return_type, param_types=param_types)(expr)


def _first_param(fn: Callable[..., Any]) -> str | None:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature
        return None
    return params[0].name if params and params[0].kind is not params[0].VAR_POSITIONAL else None


for _type_name in [*ts.type_names(), 'Any']:
    register_method(_type_name, 'apply', apply)
