"""How a string function becomes a ``Function`` and a method of String expressions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reverie import types as ts
from reverie.exprs.to_sql import SqlTwin
from reverie.functions.udf import Function, method_function

# Stored expressions find each function by this path, whatever module defines it.
PACKAGE = 'reverie.functions.string'


def string_method(
    py_fn: Callable[..., Any],
    name: str,
    *,
    attr: str | None = None,
    param_types: dict[str, ts.ColumnType] | None = None,
    return_type: ts.ColumnType | None = None,
    sql_twin: SqlTwin | None = None,
) -> Function:
    """``py_fn`` (first parameter ``s: str``) as ``t.col.<name>(...)``.

    Args:
        py_fn: the implementation; its type hints give the parameter types.
        name: the method name users call.
        attr: the package attribute holding the Function, when ``name`` shadows a builtin.
        param_types: types the hints cannot say.
        return_type: the result type, when the hint cannot say it.
        sql_twin: SQL computing the function exactly (``functions/string/sql.py``).
    """
    return method_function(
        'String',
        py_fn,
        name=name,
        path=f'{PACKAGE}.{attr or name}',
        param_types=param_types,
        return_type=return_type,
        sql_twin=sql_twin,
    )
