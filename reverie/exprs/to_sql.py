"""Translate expression nodes to SQLAlchemy Core, where SQL can compute them exactly.

``to_sql`` returns None for anything SQL would compute differently from Python for some
value (float ``//`` and ``%``, powers, JSON paths, images, functions without an exact SQL
twin); the caller then evaluates that part in Python. A function call is translated by its
function's ``sql_twin`` (the string builtins have some). Which translated nodes a query or a
computed column may hand to the database is the planner's decision (``exec/planner.py``).
Values are always bound parameters.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from reverie import types as ts
from reverie.exprs import nodes as n

ColumnResolver = Callable[[n.ColumnRef | n.CellProp], ColumnElement[Any] | None]
ToSql = Callable[[n.Node], ColumnElement[Any] | None]
# A function's SQL twin: given the call node and the translation of its argument nodes, the
# SQL computing the call exactly like the function for every value (nulls included), or None
# when these arguments have no exact twin.
SqlTwin = Callable[[n.FunctionCall, ToSql], ColumnElement[Any] | None]


_AGGREGATE_SQL: dict[str, Callable[[Any], ColumnElement[Any]]] = {
    'count': sa.func.count,
    'sum': sa.func.sum,
    'min': sa.func.min,
    'max': sa.func.max,
    'mean': sa.func.avg,
}


def to_sql(node: n.Node, resolve: ColumnResolver) -> ColumnElement[Any] | None:
    """SQL for ``node``, or None when it must be computed in Python."""
    match node:
        case n.ColumnRef():
            return resolve(node) if node.col_type.scalar else None
        case n.CellProp():
            return resolve(node) if node.prop != 'cellmeta' else None
        case n.Literal():
            return _literal(node.value)
        case n.FunctionCall():
            twin = node.fn.sql_twin
            return None if twin is None else twin(node, lambda arg: to_sql(arg, resolve))
        case n.BinaryOp():
            return _binary(node, resolve)
        case n.BoolOp():
            parts = [to_sql(o, resolve) for o in node.operands]
            if any(p is None for p in parts):
                return None
            return sa.and_(*parts) if node.op == 'and' else sa.or_(*parts)  # type: ignore[arg-type]
        case n.Not():
            inner = to_sql(node.operand, resolve)
            return None if inner is None else sa.not_(inner)
        case n.IsNull():
            inner = to_sql(node.operand, resolve)
            if inner is None:
                return None
            return inner.is_not(None) if node.negate else inner.is_(None)
        case n.Aggregate():
            inner = to_sql(node.operand, resolve)
            if inner is None:
                return None
            return _AGGREGATE_SQL[node.kind](inner)
        case n.IsIn():
            inner = to_sql(node.operand, resolve)
            values = [v.value for v in node.values if isinstance(v, n.Literal)]
            if inner is None or len(values) != len(node.values):
                return None
            flat: list[Any] = []
            for v in values:
                flat.extend(v if isinstance(v, list) else [v])
            if any(isinstance(v, dict | list) for v in flat):
                return None
            return inner.in_([_db_value(v) for v in flat])
    return None


def _floor_div_mod(
    op: str, left: ColumnElement[Any], right: ColumnElement[Any]
) -> ColumnElement[Any]:
    """Integer ``//`` or ``%`` with Python's results on SQLite and PostgreSQL.

    SQL truncates towards zero (``-7 / 2`` is -3, ``-7 % 2`` is -1); Python floors
    (``-7 // 2`` is -4, ``-7 % 2`` is 1). Where the truncated remainder is non-zero and its
    sign differs from the divisor's, Python's quotient is one less and its remainder is
    one divisor more. Nothing here can overflow. A zero divisor gives NULL, as ``/`` does.
    """
    # Typed as BigInteger so that ``//`` renders as SQL's integer ``/`` (not FLOOR of a float).
    divisor = sa.type_coerce(sa.func.nullif(right, 0), sa.BigInteger())
    left = sa.type_coerce(left, sa.BigInteger())
    remainder = left % divisor
    floors = sa.and_(remainder != 0, (remainder < 0) != (divisor < 0))
    if op == '%':
        return sa.case((floors, remainder + divisor), else_=remainder)
    return sa.case((floors, left // divisor - 1), else_=left // divisor)


def split_conjuncts(node: n.Node) -> list[n.Node]:
    """The operands of a top-level ``&`` (or the node itself)."""
    if isinstance(node, n.BoolOp) and node.op == 'and':
        return list(node.operands)
    return [node]


def _db_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return ts.Timestamp.to_db(ts.Timestamp.validate(value))
    return value


def _literal(value: Any) -> ColumnElement[Any] | None:
    if isinstance(value, dict | list):
        return None
    if value is None:
        return sa.null()
    if isinstance(value, int) and not isinstance(value, bool):
        return sa.literal(value, sa.BigInteger())  # not INTEGER: PostgreSQL casts to 32 bits
    return sa.literal(_db_value(value))


def _binary(node: n.BinaryOp, resolve: ColumnResolver) -> ColumnElement[Any] | None:
    text = node.col_type.python_type is str
    if node.op == '**' or (text and node.op == '*'):
        return None  # SQL powers are floats; SQLite cannot repeat a string
    for side in (node.left, node.right):
        if side.col_type is not None and not side.col_type.scalar:
            return None  # JSON, arrays, images
    if node.op in ('//', '%') and not (
        _python_type(node.left) is int and _python_type(node.right) is int
    ):
        return None  # SQLite's % turns floats into integers; PostgreSQL has no float %
    left, right = to_sql(node.left, resolve), to_sql(node.right, resolve)
    if left is None or right is None:
        return None
    if node.op in ('//', '%'):
        return _floor_div_mod(node.op, left, right)
    if node.op in n.COMPARISON:
        return n.OPERATORS[node.op](left, right)  # type: ignore[no-any-return]
    if node.op == '+' and text:
        return left.concat(right)
    if node.op == '/':
        return sa.cast(left, sa.Double()) / sa.func.nullif(right, 0)
    return n.OPERATORS[node.op](left, right)  # type: ignore[no-any-return]


def _python_type(node: n.Node) -> type | None:
    return None if node.col_type is None else node.col_type.python_type
