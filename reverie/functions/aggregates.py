"""Aggregate functions for ``group_by`` queries: ``count``, ``sum``, ``min``, ``max``, ``mean``.

>>> import reverie as rv
>>> from reverie.functions import count, mean
>>> # t.group_by(t.kind).select(t.kind, count(t.n), mean(t.n)).collect()
"""

from __future__ import annotations

from typing import Any

from reverie import types as ts
from reverie.errors import TypeMismatchError
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, as_node

_NUMERIC = (ts.IntType, ts.FloatType)
_ORDERED = (*_NUMERIC, ts.StringType, ts.TimestampType, ts.DateType, ts.BoolType)


def _aggregate(kind: str, value: Any) -> Expr:
    node = as_node(value)
    t = node.col_type
    if kind in ('sum', 'mean') and not isinstance(t, _NUMERIC):
        raise TypeMismatchError(f'{kind}() needs Int or Float values; {Expr(node)!r} has type {t}.')
    if kind in ('min', 'max') and not isinstance(t, _ORDERED):
        raise TypeMismatchError(
            f'{kind}() needs values that can be ordered; {Expr(node)!r} has type {t}.'
        )
    if kind == 'count':
        result: ts.ColumnType = ts.Int
    elif kind == 'mean':
        result = ts.Float
    else:
        assert t is not None
        result = t.copy(nullable=True)
    return Expr(n.Aggregate(kind, node, result))


def count(value: Any) -> Expr:
    """Number of non-null values in each group."""
    return _aggregate('count', value)


def sum(value: Any) -> Expr:
    """Sum of the values in each group."""
    return _aggregate('sum', value)


def min(value: Any) -> Expr:
    """Smallest value in each group."""
    return _aggregate('min', value)


def max(value: Any) -> Expr:
    """Largest value in each group."""
    return _aggregate('max', value)


def mean(value: Any) -> Expr:
    """Mean of the values in each group."""
    return _aggregate('mean', value)
