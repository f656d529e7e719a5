"""Plan a table's computed columns once: what SQL computes, what Python computes, how.

``plan_table(schema)`` decides, per computed column:
- ``sql``: an expression the database computes exactly like Python would (arithmetic,
  comparisons, boolean logic and null tests over stored String/Int/Float/Bool columns) is
  written by one ``UPDATE`` per batch, no row ever reaching Python;
- otherwise ``value``: the expression compiled once into a closure (plain synchronous
  functions called inline), after ``precompute``: the calls that run on their own (async,
  pooled, paid or batched functions), innermost first;
- ``is_async``: whether the column (or one it reads) waits on such calls.
It also lists the physical columns to fetch, and ``plain``: columns of the form
``fn(stored columns or literals)`` that are computed straight from fetched tuples.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.sql.elements import ColumnElement

from reverie import types as ts
from reverie.exec.caller import NullRule, function_of, inline_call, is_inline
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter, compile_args, compile_expr
from reverie.exprs.to_sql import to_sql
from reverie.functions.paid import PaidFunction
from reverie.store.db import ColumnSql

# Types whose SQL arithmetic and comparisons give exactly Python's results.
_SQL_EXACT = (ts.StringType, ts.IntType, ts.FloatType, ts.BoolType)
# Operators whose SQL result equals Python's (no division: Python raises, SQL gives NULL).
_SQL_EXACT_OPS = frozenset({'+', '-', '*', '==', '!=', '<', '<=', '>', '>='})


class InputColumn(NamedTuple):
    """A column whose stored value some computed column reads."""

    column: ColumnSchema
    ref: n.ColumnRef
    sql: ColumnSql
    props: tuple[tuple[n.CellProp, str], ...]  # cell properties read, with their SQL column


@dataclass(frozen=True)
class ColumnPlan:
    """How one computed column is computed."""

    column: ColumnSchema
    ref: n.ColumnRef
    deps: tuple[int, ...]  # ids of computed columns this one reads
    precompute: tuple[tuple[n.FunctionCall, Getter], ...]  # calls run on their own, with
    # their (args, kwargs) reader, innermost first
    value: Getter  # the column's value from a row's env (after ``precompute``)
    is_async: bool
    external: bool  # calls an external service (a resource pool or a paid function)
    fallible: tuple[n.ColumnRef, ...]  # inputs that can hold an input error (computed, images)
    sql: ColumnElement[Any] | None  # the value computed by the database, or None


@dataclass(frozen=True)
class PlainCall:
    """A column computed as ``fn(stored columns or literals)`` into a plain type."""

    plan: ColumnPlan
    py_fn: Callable[..., Any]
    args: tuple[tuple[str | None, Any], ...]  # (SQL column, or None and a literal)
    required: tuple[int, ...]  # positions where None means "no call, the result is None"
    plain: type


@dataclass(frozen=True)
class TablePlan:
    """Everything ``compute_pending`` needs to know about a table's computed columns."""

    columns: tuple[ColumnPlan, ...]
    inputs: tuple[InputColumn, ...]
    fetch: tuple[str, ...]  # physical columns to read for the Python columns
    plain: tuple[PlainCall, ...] | None  # every Python column is a plain call, else None
    has_images: bool

    @property
    def in_sql(self) -> tuple[ColumnPlan, ...]:
        return tuple(p for p in self.columns if p.sql is not None)

    @property
    def in_python(self) -> tuple[ColumnPlan, ...]:
        return tuple(p for p in self.columns if p.sql is None)


def plan_table(schema: TableSchema) -> TablePlan:
    """The plan for every computed column of ``schema``."""
    computed_ids = {c.id for c in schema.computed()}
    canonical = _canonical_refs(schema)
    plans: list[ColumnPlan] = []
    async_ids: set[int] = set()
    for col in schema.computed():
        plans.append(_plan_column(schema, col, canonical, computed_ids, async_ids))
    python = [p for p in plans if p.sql is None]
    inputs = _inputs(schema, python, canonical)
    plain = [_plain_call(p) for p in python]
    fetch = sorted(
        {i.sql.value for i in inputs}
        | {key for i in inputs for _, key in i.props}
        | {
            name
            for i in inputs
            if i.column.is_computed
            for name in (i.sql.state, i.sql.errortype, i.sql.errormsg)
        }
    )
    has_images = any(
        isinstance(c.col_type, ts.ImageType)
        for c in [*(i.column for i in inputs), *(p.column for p in python)]
    )
    return TablePlan(
        tuple(plans),
        tuple(inputs),
        tuple(fetch),
        None if None in plain else tuple(c for c in plain if c is not None),
        has_images,
    )


def _plan_column(
    schema: TableSchema,
    col: ColumnSchema,
    canonical: dict[int, n.ColumnRef],
    computed_ids: set[int],
    async_ids: set[int],
) -> ColumnPlan:
    expr = col.expr
    ref = canonical[col.id]
    if expr is None:  # its function could not be loaded: every cell is an error
        return ColumnPlan(col, ref, (), (), _none, False, False, (), None)
    calls = n.function_calls(expr)
    deps = tuple(sorted({r.column_id for r in n.column_refs(expr)} & computed_ids))
    key = functools.partial(_canonical_key, canonical=canonical)
    precompute = tuple(
        (c, compile_args(c, key=key, calls=inline_call)) for c in calls if not is_inline(c)
    )
    is_async = any(_is_async_call(c) for c in calls) or any(d in async_ids for d in deps)
    if is_async:
        async_ids.add(col.id)
    inputs = tuple(canonical[r.column_id] for r in n.column_refs(expr))
    fallible = tuple(r for r in inputs if r.is_computed or isinstance(r.col_type, ts.ImageType))
    value = compile_expr(expr, key=key, calls=inline_call)
    sql = None if col.load_error else sql_computable(schema, col)
    external = any(_is_external(c) for c in calls)
    return ColumnPlan(col, ref, deps, precompute, value, is_async, external, fallible, sql)


def _none(env: Any) -> None:
    return None


def _canonical_key(leaf: n.Node, canonical: dict[int, n.ColumnRef]) -> n.Node:
    if isinstance(leaf, n.ColumnRef):
        return canonical.get(leaf.column_id, leaf)
    return leaf


def sql_computable(schema: TableSchema, col: ColumnSchema) -> ColumnElement[Any] | None:
    """The SQL computing ``col`` exactly as Python would, or None."""
    expr = col.expr
    if expr is None or not isinstance(col.col_type, _SQL_EXACT):
        return None
    for node in expr.walk():
        if isinstance(node, n.ColumnRef):
            if node.is_computed or not isinstance(node.col_type, _SQL_EXACT):
                return None
        elif isinstance(node, n.BinaryOp):
            if node.op not in _SQL_EXACT_OPS:
                return None
        elif isinstance(node, n.Literal):
            if node.value is not None and type(node.value) not in (str, int, float, bool):
                return None
        elif not isinstance(node, n.BoolOp | n.Not | n.IsNull | n.IsIn):
            return None
    table = schema.sa_table

    def resolve(node: n.ColumnRef | n.CellProp) -> Any:
        if isinstance(node, n.CellProp):
            return None
        return table.c[schema.by_id(node.column_id).sql.value]

    return to_sql(expr, resolve)


def _is_external(call: n.FunctionCall) -> bool:
    """Whether a call reaches an external service (a paid function, or one with a pool).

    A paid function's pool settings come from the open catalog when it runs; looking at
    them here would read another home's settings.
    """
    return isinstance(call.fn, PaidFunction) or call.fn.resource_pool is not None


def _is_async_call(call: n.FunctionCall) -> bool:
    return call.fn.is_async or call.fn.resource_pool is not None


def _canonical_refs(schema: TableSchema) -> dict[int, n.ColumnRef]:
    """One ColumnRef object per column: the one the expressions hold.

    Row values are keyed by these, so a lookup finds the very same key object instead of
    comparing equal nodes field by field.
    """
    refs: dict[int, n.ColumnRef] = {}
    for col in schema.computed():
        if col.expr is not None:
            for ref in n.column_refs(col.expr):
                refs.setdefault(ref.column_id, ref)
    for col in schema.columns:
        refs.setdefault(col.id, col.ref(schema.id))
    return refs


def _inputs(
    schema: TableSchema, plans: list[ColumnPlan], canonical: dict[int, n.ColumnRef]
) -> list[InputColumn]:
    ids: set[int] = set()
    props: set[n.CellProp] = set()
    for p in plans:
        ids.add(p.column.id)
        if p.column.expr is not None:
            ids |= {r.column_id for r in n.column_refs(p.column.expr)}
            props |= {x for x in p.column.expr.walk() if isinstance(x, n.CellProp)}
    inputs = []
    for c in schema.columns:
        if c.id not in ids:
            continue
        used = tuple(
            (prop, getattr(c.sql, prop.prop)) for prop in props if prop.column.column_id == c.id
        )
        inputs.append(InputColumn(c, canonical[c.id], c.sql, used))
    return inputs


def _plain_call(plan: ColumnPlan) -> PlainCall | None:
    expr, col = plan.column.expr, plan.column
    plain = ts.PLAIN_PYTHON_TYPES.get(type(col.col_type))
    if not isinstance(expr, n.FunctionCall) or expr.kwargs or plain is None or col.load_error:
        return None
    if not is_inline(expr):
        return None
    args: list[tuple[str | None, Any]] = []
    for arg in expr.args:
        if isinstance(arg, n.Literal):
            args.append((None, arg.value))
        elif (
            isinstance(arg, n.ColumnRef)
            and not arg.is_computed
            and type(arg.col_type) in ts.PLAIN_PYTHON_TYPES
        ):
            args.append((ColumnSql(arg.column_id, computed=False).value, None))
        else:
            return None
    fn = function_of(expr)
    return PlainCall(plan, fn.py_fn, tuple(args), NullRule.of(expr).required, plain)
