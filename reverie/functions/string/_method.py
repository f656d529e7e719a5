"""How a string function becomes a ``Function`` and a method of String expressions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from reverie import types as ts
from reverie.exprs.to_sql import SqlTwin
from reverie.functions.udf import Function, method_function

# Stored expressions find each function by this path, whatever module defines it.
PACKAGE = 'reverie.functions.string'
F = TypeVar('F', bound=Callable[..., Any])


def string_method(
    name: str,
    *,
    attr: str | None = None,
    param_types: dict[str, ts.ColumnType] | None = None,
    return_type: ts.ColumnType | None = None,
    sql_twin: SqlTwin | None = None,
) -> Callable[[Callable[..., Any]], Function]:
    """Decorator: the function (first parameter ``s: str``) as ``t.col.<name>(...)``.

    Args:
        name: the method name users call.
        attr: the package attribute holding the Function, when ``name`` shadows a builtin.
        param_types: types the hints cannot say.
        return_type: the result type, when the hint cannot say it.
        sql_twin: SQL computing the function exactly (``functions/string/sql.py``).
    """

    def make(py_fn: Callable[..., Any]) -> Function:
        return method_function(
            'String',
            py_fn,
            name=name,
            path=f'{PACKAGE}.{attr or name}',
            param_types=param_types,
            return_type=return_type,
            sql_twin=sql_twin,
        )

    return make


def str_methods(returns: type, names: str) -> list[Function]:
    """String functions equal to ``str`` methods that take no argument, one per name.

    Args:
        returns: what each method returns (``str`` or ``bool``): the column type of results.
        names: the method names, separated by spaces.
    """
    return [string_method(name)(_calling(name, returns)) for name in names.split()]


def _calling(name: str, returns: type) -> Callable[[str], Any]:
    """``lambda s: s.<name>()``, typed ``(s: str) -> returns`` for the column types."""
    method = getattr(str, name)

    def call(s: str) -> Any:
        return method(s)

    call.__annotations__ = {'s': str, 'return': returns}
    return named(call, name)


def named(py_fn: F, name: str) -> F:
    """``py_fn`` (made in a factory) named as if defined at module level.

    A ``<locals>`` name would make ``Function`` store its source; string functions are
    found again by their path instead.
    """
    py_fn.__name__ = py_fn.__qualname__ = name
    return py_fn
