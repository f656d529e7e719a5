"""Run a query: the database does what SQL can, the rest is compiled once and run per row.

The query driver. What the database computes and what Python computes is the planner's
decision (``exec/planner.py``, the one used by computed columns too): every ``where``
conjunct, ordering and limit SQL can compute exactly goes into the ``SELECT``; what is left
for Python (most function calls, image properties, JSON paths) is compiled into closures
over the fetched tuples. Functions go through the same caller as
computed columns (one null rule, pools, the paid-call layer): plain synchronous functions
inline, async / pooled / batched ones for all rows at once, concurrently up to their pools'
limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import PIL.Image
import sqlalchemy as sa

from reverie import types as ts
from reverie.errors import ExecutionError, InvalidValueError
from reverie.exec import grouped
from reverie.exec.caller import Caller, unwrap
from reverie.exec.context import ExecContext
from reverie.exec.loop import run_sync
from reverie.exec.memory import gc_paused
from reverie.exec.paid import PaidRun
from reverie.exec.planner import ROWID_REF as ROWID_REF
from reverie.exec.planner import CallSlot, ColumnFilter, QueryPlan, plan_query, split_where
from reverie.exec.planner import sql_resolver as sql_resolver
from reverie.exec.schema import TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter
from reverie.exprs.render import render
from reverie.exprs.to_sql import to_sql
from reverie.exprs.values import EvaluationError
from reverie.functions.udf import CellValue
from reverie.store.db import PENDING, ROWID
from reverie.store.ledger_tables import CallSite

ASYNC_ROWS_AT_ONCE = 1024  # rows whose async calls are started together
FETCH_ROWS = 20_000  # rows read from the database at a time


@dataclass(frozen=True)
class QuerySpec:
    """What a query asks for: plain data, never run by looking at it."""

    items: tuple[tuple[str, n.Node], ...] | None = None  # None: every column
    predicate: n.Node | None = None
    order: tuple[tuple[n.Node, bool], ...] = ()
    max_rows: int | None = None
    offset: int = 0
    keys: tuple[n.Node, ...] | None = None


@dataclass(frozen=True)
class QueryResult:
    """Result columns, ready for a ResultSet.

    ``pending``: per column, which cells are pending (not computed yet, read as None like a
    null), or None for columns that cannot be pending.
    """

    names: list[str]
    types: list[ts.ColumnType | None]
    columns: list[list[Any]]
    pending: list[list[bool] | None] | None = None


def all_columns(schema: TableSchema, *, unstored: bool = True) -> tuple[tuple[str, n.Node], ...]:
    """``(name, ref)`` of every column of the table, in order.

    ``stored=False`` columns (last) give their expression, unless ``unstored`` is False.
    """
    refs = tuple((c.name, c.ref(schema.id)) for c in schema.columns)
    extra = tuple((c.name, c.expr) for c in schema.unstored if unstored and c.expr is not None)
    return refs + extra


def is_grouped(spec: QuerySpec, items: Sequence[tuple[str, n.Node]]) -> bool:
    """Whether the query aggregates (``group_by`` or an aggregate among the items)."""
    return spec.keys is not None or any(
        isinstance(x, n.Aggregate) for _, node in items for x in node.walk()
    )


def run_query(
    ctx: ExecContext, schema: TableSchema, spec: QuerySpec, image_value: Callable[[str], Any]
) -> QueryResult:
    """Run ``spec``; stored images come back as ``image_value(media reference)``."""
    items = list(spec.items if spec.items is not None else all_columns(schema))
    if is_grouped(spec, items):
        return _run_grouped(ctx, schema, spec, items)
    plan = plan_query(
        schema, items, spec.predicate, spec.order, ctx.media.open, image_value, ctx.media.file
    )
    return _QueryRun(ctx, schema, spec, items, plan).run()


def count_rows(ctx: ExecContext, schema: TableSchema, spec: QuerySpec) -> int:
    """Rows the query returns, counted by the database when it can filter alone."""
    items = list(spec.items if spec.items is not None else all_columns(schema))
    where, in_python = split_where(spec.predicate, sql_resolver(schema))
    if is_grouped(spec, items) or in_python or spec.offset or spec.max_rows:
        result = run_query(ctx, schema, spec, lambda ref: ref)
        return len(result.columns[0]) if result.columns else 0
    query = sa.select(sa.func.count()).select_from(schema.reads).where(*where)
    with ctx.store.read() as conn:
        return int(conn.execute(query).scalar_one())


class _QueryRun:
    """One run of a planned query: fetch, filter, sort, call and collect."""

    def __init__(
        self,
        ctx: ExecContext,
        schema: TableSchema,
        spec: QuerySpec,
        items: list[tuple[str, n.Node]],
        plan: QueryPlan,
    ) -> None:
        self.ctx, self.schema, self.spec, self.items, self.plan = ctx, schema, spec, items, plan

    def run(self) -> QueryResult:
        items = self.items
        columns: list[list[Any]] = [[] for _ in items]
        pending: list[list[bool] | None] = [
            None if slot is None else [] for slot in self.plan.state_slots
        ]
        # The collector is paused while rows are read and filtered (many new objects that all
        # live on), not while calls that may take long (async, paid) run.
        with contextlib.closing(self._partitions()) as parts:
            if self.plan.where_calls or self.plan.item_calls or self.plan.sql_order is None:
                with gc_paused():
                    rows = [row for part in parts for row in self._prepare(part)]
                try:
                    self._run_all(rows, columns, pending)
                finally:
                    if self.plan.opens_images:
                        _close_images(rows)
            else:
                with gc_paused():
                    self._run_streaming(parts, columns, pending)
        return QueryResult(
            [name for name, _ in items],
            [n.result_type(node) for _, node in items],
            columns,
            pending,
        )

    def _emit(
        self, rows: Sequence[Any], columns: list[list[Any]], pending: list[list[bool] | None]
    ) -> None:
        """Append the result values (and pending marks) of ``rows``."""
        for j, column in enumerate(columns):
            column.extend(self._column(j, rows))
            slot, marks = self.plan.state_slots[j], pending[j]
            if slot is not None and marks is not None:
                marks.extend(r[slot] == PENDING for r in rows)

    def _run_streaming(
        self,
        parts: Iterator[Sequence[Any]],
        columns: list[list[Any]],
        pending: list[list[bool] | None],
    ) -> None:
        """Row by row as they come from the database: memory holds one partition at a time."""
        spec = self.spec
        skip, left = (0, None) if self.plan.limit_in_sql else (spec.offset, spec.max_rows)
        for part in parts:
            prepared = self._prepare(part)
            try:
                rows = self._filter(prepared)
                if skip:
                    dropped = min(skip, len(rows))
                    rows, skip = rows[dropped:], skip - dropped
                if left is not None:
                    rows = rows[:left]
                    left -= len(rows)
                self._emit(rows, columns, pending)
            finally:
                if self.plan.opens_images:
                    _close_images(prepared)
            if left == 0:
                break

    def _run_all(
        self, rows: list[Any], columns: list[list[Any]], pending: list[list[bool] | None]
    ) -> None:
        """With every row at hand: calls that run for all rows at once, sorting in Python."""
        spec = self.spec
        if self.plan.where_calls:
            self._precompute(self.plan.where_calls, rows)
        rows = self._filter(rows)
        if self.plan.sql_order is None:
            rows = self._sort(rows)
        if not self.plan.limit_in_sql:
            stop = None if spec.max_rows is None else spec.offset + spec.max_rows
            rows = rows[spec.offset : stop]
        if self.plan.item_calls:
            self._precompute(self.plan.item_calls, rows)
        self._emit(rows, columns, pending)

    def _prepare(self, part: Sequence[Any]) -> Sequence[Any]:
        """Fetched tuples as lists: decoded column by column, with a slot per call."""
        if not self.plan.needs_rows or not part:
            return part
        columns: list[Sequence[Any]] = list(zip(*part, strict=True))
        for i, dec in self.plan.decoders:
            columns[i] = [None if v is None else dec(v) for v in columns[i]]
        columns.extend([[None] * len(part)] * (len(self.plan.slots) - len(columns)))
        return list(map(list, zip(*columns, strict=True)))

    def _filter(self, rows: Sequence[Any]) -> list[Any]:
        """The rows that pass the Python ``where`` conjuncts.

        Plain calls over columns run over the whole partition at once; any exception sends
        the partition row by row, which drops a row whose call fails in evaluation and names
        the row of any other failure.
        """
        if not self.plan.where:
            return rows if isinstance(rows, list) else list(rows)
        filters = self.plan.column_filters
        if filters is not None and rows:
            with contextlib.suppress(Exception), gc_paused():
                mask: Any = None
                columns = list(zip(*rows, strict=True))
                for f in filters:
                    mask = _column_mask(f, columns, len(rows), mask)
                return list(itertools.compress(rows, mask))
        return [r for r in rows if self._passes(r)]

    def _partitions(self) -> Generator[Sequence[Any], None, None]:
        t = self.schema.reads
        query = sa.select(*self.plan.columns).select_from(t)
        if self.plan.sql_where:
            query = query.where(*self.plan.sql_where)
        if self.plan.sql_order is not None:
            for clause, (_, asc) in zip(self.plan.sql_order, self.spec.order, strict=True):
                # Nulls last either way, as the Python path sorts them (the databases differ).
                query = query.order_by((clause.asc() if asc else clause.desc()).nulls_last())
        query = query.order_by(t.c[ROWID])
        if self.plan.limit_in_sql:
            if self.spec.max_rows is not None:
                query = query.limit(self.spec.max_rows)
            if self.spec.offset:
                query = query.offset(self.spec.offset)
        with self.ctx.store.read() as conn:
            yield from conn.execute(query).partitions(FETCH_ROWS)

    def _passes(self, row: Any) -> bool:
        for where in self.plan.where:
            try:
                if where(row) is not True:
                    return False
            except EvaluationError:
                return False  # e.g. a division by zero: the row does not match
            except Exception as e:
                raise self._failure('where()', e, row) from None
        return True

    def _sort(self, rows: list[Any]) -> list[Any]:
        keyed = []
        for row in rows:
            try:
                keyed.append(([k(row) for k in self.plan.keys], row))
            except Exception as e:
                raise self._failure('order_by()', e, row) from None
        for idx in reversed(range(len(self.plan.keys))):
            asc = self.spec.order[idx][1]
            present = [r for r in keyed if r[0][idx] is not None]
            present.sort(key=lambda r: r[0][idx], reverse=not asc)
            keyed = present + [r for r in keyed if r[0][idx] is None]  # nulls last
        return [row for _, row in keyed]

    def _column(self, j: int, rows: Sequence[Any]) -> list[Any]:
        get = self.plan.values[j]
        node = self.items[j][1]
        if isinstance(node, n.ColumnRef | n.CellProp):
            return [get(r) for r in rows]
        out = []
        for row in rows:
            try:
                out.append(_result_value(get(row)))
            except Exception as e:
                raise self._failure(f'{self.items[j][0]!r}', e, row) from None
        return out

    def _precompute(self, calls: Sequence[CallSlot], rows: list[Any]) -> None:
        ctx = self.ctx
        paid = None
        if ctx.ledger is not None:  # paid calls in a query are in the ledger (and cached) too
            paid = PaidRun(
                ctx.settings(), ctx.ledger, ctx.media, ctx.pools, table_id=self.schema.id
            )
        caller = Caller(ctx, paid)

        async def one(call: n.FunctionCall, slot: int, read: Getter, row: list[Any]) -> None:
            try:
                args, kwargs = read(row)
                site = CallSite(self.schema.id, None, row[0])
                row[slot] = unwrap(await caller.acall(call, args, kwargs, site))[0]
            except Exception as e:
                raise self._failure(render(call), e, row) from None

        async def run_all() -> None:
            for call, slot, read in calls:
                for start in range(0, len(rows), ASYNC_ROWS_AT_ONCE):
                    chunk = rows[start : start + ASYNC_ROWS_AT_ONCE]
                    await asyncio.gather(*(one(call, slot, read, row) for row in chunk))

        run_sync(run_all())

    def _failure(self, what: str, error: BaseException, row: Any) -> ExecutionError:
        if isinstance(error, ExecutionError):
            return error
        return ExecutionError(
            f'Computing {what} failed for row {row[0]} of table {self.schema.path!r}: '
            f'{type(error).__name__}: {error}'
        )


def _result_value(value: Any) -> Any:
    value = unwrap(value)[0]
    if isinstance(value, PIL.Image.Image):
        if getattr(value, 'fp', None) is not None:
            return value.copy()  # a stored image the row opened: closed after the query
        value.load()  # computed: keep its pixels once the sources are closed
    return value


def _column_mask(
    f: ColumnFilter, columns: list[tuple[Any, ...]], size: int, mask: list[bool] | None
) -> list[bool]:
    """Which rows ``f`` passes (``is True``), and ``mask`` if given: one loop, no closure."""
    fn, required = f.fn, f.required
    args = [
        columns[slot] if slot is not None else itertools.repeat(value, size)
        for slot, value in f.args
    ]
    keep = itertools.repeat(True, size) if mask is None else mask
    out = []
    if len(args) == 1:
        skip_none = bool(required)
        for k, x in zip(keep, args[0], strict=False):
            if not k or (skip_none and x is None):
                out.append(False)
                continue
            r = fn(x)
            out.append((r.value if type(r) is CellValue else r) is True)
        return out
    for k, a in zip(keep, zip(*args, strict=True), strict=False):
        if not k or any(a[i] is None for i in required):
            out.append(False)
            continue
        r = fn(*a)
        out.append((r.value if type(r) is CellValue else r) is True)
    return out


def _close_images(rows: Sequence[Any]) -> None:
    for row in rows:
        for value in row:
            if isinstance(value, PIL.Image.Image) and getattr(value, 'fp', None) is not None:
                value.close()


def _run_grouped_in_python(
    ctx: ExecContext, schema: TableSchema, spec: QuerySpec, items: list[tuple[str, n.Node]]
) -> QueryResult:
    """Aggregates the database cannot compute: fetch keys and operands, group in Python."""
    keys = list(spec.keys or ())
    for name, node in items:
        grouped.check_item(name, node, keys)
    names = [name for name, _ in items]
    order: list[tuple[int, bool]] = []
    for node, asc in spec.order:
        if node not in [x for _, x in items]:
            raise InvalidValueError(
                f'order_by key {render(node)!r}: where a key or an aggregate runs in Python, '
                'order by one of the selected columns.'
            )
        order.append(([x for _, x in items].index(node), asc))
    fetched = grouped.leaves(keys, [node for _, node in items])
    rows_spec = QuerySpec(
        items=tuple((f'v{i}', node) for i, node in enumerate(fetched)), predicate=spec.predicate
    )
    found = run_query(ctx, schema, rows_spec, lambda ref: ref)
    rows = grouped.aggregate(keys, [node for _, node in items], fetched, found.columns)
    for idx, asc in reversed(order):  # nulls last either way, as the SQL path
        present = [r for r in rows if r[idx] is not None]
        present.sort(key=lambda r: r[idx], reverse=not asc)
        rows = present + [r for r in rows if r[idx] is None]
    end = None if spec.max_rows is None else spec.offset + spec.max_rows
    rows = rows[spec.offset : end]
    columns = [[r[j] for r in rows] for j in range(len(items))]
    return QueryResult(names, [n.result_type(node) for _, node in items], columns)


def _run_grouped(
    ctx: ExecContext, schema: TableSchema, spec: QuerySpec, items: list[tuple[str, n.Node]]
) -> QueryResult:
    """Aggregates (optionally per group) computed by the database."""
    resolve = sql_resolver(schema)
    keys = spec.keys or ()

    def sql(node: n.Node, what: str) -> Any:
        for x in node.walk():
            if isinstance(x, n.Aggregate) and any(
                isinstance(y, n.Aggregate) for y in x.operand.walk()
            ):
                raise InvalidValueError(
                    f'{what} {render(node)!r} nests an aggregate inside another; aggregate '
                    'stored values only.'
                )
        clause = to_sql(node, resolve)
        if clause is None:
            raise InvalidValueError(
                f'{what} {render(node)!r} cannot be computed by the database; group_by works '
                'with stored scalar columns, arithmetic and count/sum/min/max/mean.'
            )
        return clause

    for k in keys:
        if any(isinstance(x, n.Aggregate) for x in k.walk()):
            raise InvalidValueError(
                f'group_by key {render(k)!r} is an aggregate; group by stored values and '
                'aggregate in select().'
            )
    everything = [*keys, *(node for _, node in items), *(node for node, _ in spec.order)]
    if spec.predicate is not None:
        everything.append(spec.predicate)
    if any(to_sql(x, resolve) is None for x in everything):
        return _run_grouped_in_python(ctx, schema, spec, items)
    key_clauses = [sql(k, 'group_by key') for k in keys]
    columns: list[Any] = []
    for name, node in items:
        if (
            node not in keys
            and n.column_refs(node)  # a constant is the same in every group
            and not any(isinstance(x, n.Aggregate) for x in node.walk())
        ):
            raise InvalidValueError(
                f'Result column {name!r} ({render(node)!r}) is neither a group_by key nor an '
                'aggregate; wrap it in count/sum/min/max/mean or add it to group_by().'
            )
        columns.append(sql(node, 'Result column').label(f'c{len(columns)}'))
    query = sa.select(*columns).select_from(schema.reads)
    if spec.predicate is not None:
        query = query.where(sql(spec.predicate, 'where() condition'))
    if key_clauses:
        query = query.group_by(*key_clauses)
    for node, asc in spec.order:
        clause = sql(node, 'order_by key')
        query = query.order_by(clause.asc().nulls_last() if asc else clause.desc().nulls_last())
    if not spec.order and key_clauses:
        query = query.order_by(*key_clauses)
    if spec.max_rows is not None:
        query = query.limit(spec.max_rows)
    if spec.offset:
        query = query.offset(spec.offset)
    with ctx.store.read() as conn:
        raw = conn.execute(query).all()
    out: list[list[Any]] = []
    for j, (_, node) in enumerate(items):
        t = node.col_type
        values = [r[j] for r in raw]
        if t is not None and t.python_type is int:
            values = [None if v is None else int(v) for v in values]
        elif t is not None:
            values = [t.from_db(v) for v in values]
        out.append(values)
    return QueryResult([name for name, _ in items], [n.result_type(node) for _, node in items], out)
