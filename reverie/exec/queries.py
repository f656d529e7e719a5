"""Run a query: the database does what SQL can, the rest is compiled once and run per row.

``run_query`` pushes every ``where`` conjunct, ordering and limit SQL can compute exactly into
the ``SELECT``; what is left for Python (function calls, image properties, JSON paths) is
compiled into closures over the fetched tuples. Functions go through the same caller as
computed columns (one null rule, pools, the paid-call layer): plain synchronous functions
inline, async / pooled / batched ones for all rows at once, concurrently up to their pools'
limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import PIL.Image
import sqlalchemy as sa

from reverie import types as ts
from reverie.errors import ExecutionError, InvalidValueError, NotFoundError
from reverie.exec.caller import Caller, inline_call, is_inline, unwrap
from reverie.exec.codec import decoder, image_decoder
from reverie.exec.context import ExecContext
from reverie.exec.loop import run_sync
from reverie.exec.paid import PaidRun
from reverie.exec.schema import TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter, compile_args, compile_expr
from reverie.exprs.render import render
from reverie.exprs.to_sql import split_conjuncts, to_sql
from reverie.exprs.values import EvaluationError
from reverie.store.db import PENDING, ROWID
from reverie.store.ledger import CallSite

ROWID_REF = n.ColumnRef(-1, -1, ROWID, ts.Int)
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


def all_columns(schema: TableSchema) -> tuple[tuple[str, n.Node], ...]:
    """``(name, ref)`` of every column of the table, in order."""
    return tuple((c.name, c.ref(schema.id)) for c in schema.columns)


def sql_resolver(schema: TableSchema) -> Callable[[n.ColumnRef | n.CellProp], Any]:
    """Maps column and cell-property nodes to the SQL columns of the rows read."""
    t = schema.reads

    def resolve(node: n.ColumnRef | n.CellProp) -> Any:
        if node is ROWID_REF:
            return t.c[ROWID]
        ref = node.column if isinstance(node, n.CellProp) else node
        try:
            col = schema.by_id(ref.column_id)
        except KeyError:
            raise NotFoundError(
                f'Column {ref.name!r} of table {schema.path!r} no longer exists (it was dropped); '
                'build the query again.'
            ) from None
        if isinstance(node, n.CellProp):
            return t.c[getattr(col.sql, node.prop)]
        return t.c[col.sql.value]

    return resolve


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
    return _Plan(ctx, schema, spec, items, image_value).run()


def count_rows(ctx: ExecContext, schema: TableSchema, spec: QuerySpec) -> int:
    """Rows the query returns, counted by the database when it can filter alone."""
    items = list(spec.items if spec.items is not None else all_columns(schema))
    resolve = sql_resolver(schema)
    where = [to_sql(p, resolve) for p in _conjuncts(spec)]
    if is_grouped(spec, items) or any(w is None for w in where) or spec.offset or spec.max_rows:
        result = run_query(ctx, schema, spec, lambda ref: ref)
        return len(result.columns[0]) if result.columns else 0
    query = sa.select(sa.func.count()).select_from(schema.reads)
    for clause in where:
        query = query.where(clause)  # type: ignore[arg-type]  # None was ruled out above
    with ctx.store.read() as conn:
        return int(conn.execute(query).scalar_one())


def _conjuncts(spec: QuerySpec) -> list[n.Node]:
    return split_conjuncts(spec.predicate) if spec.predicate is not None else []


class _Plan:
    """One query, split between SQL and compiled Python closures."""

    def __init__(
        self,
        ctx: ExecContext,
        schema: TableSchema,
        spec: QuerySpec,
        items: list[tuple[str, n.Node]],
        image_value: Callable[[str], Any],
    ) -> None:
        self.ctx, self.schema, self.spec, self.items = ctx, schema, spec, items
        resolve = sql_resolver(schema)
        self.sql_where: list[Any] = []
        self.py_where: list[n.Node] = []
        for part in _conjuncts(spec):
            clause = to_sql(part, resolve)
            if clause is None:
                self.py_where.append(part)
            else:
                self.sql_where.append(clause)
        sql_order = [to_sql(node, resolve) for node, _ in spec.order]
        self.order_in_sql = all(o is not None for o in sql_order)
        self.sql_order = sql_order
        # Leaves read from the database: the row id first, then every column Python needs.
        in_python = [node for _, node in items] + self.py_where
        if not self.order_in_sql:
            in_python += [k for k, _ in spec.order]
        leaves: dict[object, int] = {ROWID_REF: 0}
        for node in in_python:
            for leaf in node.walk():
                if isinstance(leaf, n.ColumnRef | n.CellProp) and leaf not in leaves:
                    leaves[leaf] = len(leaves)
        # Computed columns returned as they are: their state too, so pending shows as pending.
        self.state_slots: list[int | None] = []
        for _, node in items:
            if isinstance(node, n.ColumnRef) and node.is_computed:
                state = n.CellProp(node, 'state', ts.Int)
                self.state_slots.append(leaves.setdefault(state, len(leaves)))
            else:
                self.state_slots.append(None)
        self.leaves = leaves
        self.columns = [resolve(leaf) for leaf in leaves]  # type: ignore[arg-type]
        # Images read by Python expressions are opened; those only shown stay references.
        opened = {
            leaf
            for node in in_python
            if not isinstance(node, n.ColumnRef)
            for leaf in node.walk()
            if isinstance(leaf, n.ColumnRef) and isinstance(leaf.col_type, ts.ImageType)
        }
        media = ctx.media

        def open_image(ref: str) -> Any:
            return PIL.Image.open(media.path(ref))

        self.decoders = [
            (i, dec)
            for leaf, i in leaves.items()
            if isinstance(leaf, n.ColumnRef)
            and (dec := decoder(leaf.col_type, open_image if leaf in opened else image_value))
            is not None
        ]
        # An image both shown and read by Python is fetched twice: shown as a reference.
        self.shown: dict[n.Node, int] = {}
        for _, node in items:
            if node in opened and node not in self.shown:
                self.shown[node] = len(leaves) + len(self.shown)
                assert isinstance(node, n.ColumnRef)
                self.columns.append(resolve(node))
                self.decoders.append((self.shown[node], image_decoder(image_value)))
        leaves.update({('shown', node): i for node, i in self.shown.items()})
        # Calls that cannot run inline get a slot each, filled for all rows before evaluation.
        self.slots = dict(leaves)
        self.where_calls = self._slot_calls(self.py_where)
        rest = [node for _, node in items]
        if not self.order_in_sql:
            rest += [k for k, _ in spec.order]
        self.item_calls = self._slot_calls(rest)
        key = self.slots.__getitem__
        self.where = [compile_expr(p, key=key, calls=inline_call) for p in self.py_where]
        self.values = [
            operator.itemgetter(self.shown[node])
            if node in self.shown
            else compile_expr(node, key=key, calls=inline_call)
            for _, node in items
        ]
        self.keys = (
            []
            if self.order_in_sql
            else [compile_expr(k, key=key, calls=inline_call) for k, _ in spec.order]
        )

    def _slot_calls(self, nodes: list[n.Node]) -> list[tuple[n.FunctionCall, int, Getter]]:
        calls = []
        for node in nodes:
            for call in n.function_calls(node):
                if is_inline(call) or call in self.slots:
                    continue
                self.slots[call] = len(self.slots)
                read = compile_args(call, key=self.slots.__getitem__, calls=inline_call)
                calls.append((call, self.slots[call], read))
        return calls

    def run(self) -> QueryResult:
        items = self.items
        columns: list[list[Any]] = [[] for _ in items]
        pending: list[list[bool] | None] = [
            None if slot is None else [] for slot in self.state_slots
        ]
        with contextlib.closing(self._partitions()) as parts:
            if self.where_calls or self.item_calls or not self.order_in_sql:
                rows = [row for part in parts for row in self._prepare(part)]
                try:
                    self._run_all(rows, columns, pending)
                finally:
                    _close_images(rows)
            else:
                self._run_streaming(parts, columns, pending)
        return QueryResult(
            [name for name, _ in items], [node.col_type for _, node in items], columns, pending
        )

    def _emit(
        self, rows: Sequence[Any], columns: list[list[Any]], pending: list[list[bool] | None]
    ) -> None:
        """Append the result values (and pending marks) of ``rows``."""
        for j, column in enumerate(columns):
            column.extend(self._column(j, rows))
            slot, marks = self.state_slots[j], pending[j]
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
        skip, left = (0, None) if self._limit_in_sql else (spec.offset, spec.max_rows)
        for part in parts:
            prepared = self._prepare(part)
            try:
                rows = [r for r in prepared if self._passes(r)] if self.where else prepared
                if skip:
                    dropped = min(skip, len(rows))
                    rows, skip = rows[dropped:], skip - dropped
                if left is not None:
                    rows = rows[:left]
                    left -= len(rows)
                self._emit(rows, columns, pending)
            finally:
                if self._needs_rows:
                    _close_images(prepared)
            if left == 0:
                break

    def _run_all(
        self, rows: list[Any], columns: list[list[Any]], pending: list[list[bool] | None]
    ) -> None:
        """With every row at hand: calls that run for all rows at once, sorting in Python."""
        spec = self.spec
        if self.where_calls:
            self._precompute(self.where_calls, rows)
        if self.where:
            rows = [r for r in rows if self._passes(r)]
        if not self.order_in_sql:
            rows = self._sort(rows)
        if not self._limit_in_sql:
            stop = None if spec.max_rows is None else spec.offset + spec.max_rows
            rows = rows[spec.offset : stop]
        if self.item_calls:
            self._precompute(self.item_calls, rows)
        self._emit(rows, columns, pending)

    @property
    def _needs_rows(self) -> bool:
        return bool(self.decoders) or len(self.slots) > len(self.leaves)

    def _prepare(self, part: Sequence[Any]) -> Sequence[Any]:
        if not self._needs_rows:
            return part
        width = len(self.slots)
        return [self._row(r, width) for r in part]

    @property
    def _limit_in_sql(self) -> bool:
        return not self.py_where and self.order_in_sql

    def _partitions(self) -> Generator[Sequence[Any], None, None]:
        t = self.schema.reads
        query = sa.select(*self.columns).select_from(t)
        if self.sql_where:
            query = query.where(*self.sql_where)
        if self.order_in_sql:
            for clause, (_, asc) in zip(self.sql_order, self.spec.order, strict=True):
                assert clause is not None
                # Nulls last either way, as the Python path sorts them (the databases differ).
                query = query.order_by((clause.asc() if asc else clause.desc()).nulls_last())
        query = query.order_by(t.c[ROWID])
        if self._limit_in_sql:
            if self.spec.max_rows is not None:
                query = query.limit(self.spec.max_rows)
            if self.spec.offset:
                query = query.offset(self.spec.offset)
        with self.ctx.store.read() as conn:
            yield from conn.execute(query).partitions(FETCH_ROWS)

    def _row(self, raw: Any, width: int) -> list[Any]:
        row = list(raw)
        if width > len(row):
            row.extend([None] * (width - len(row)))
        for i, dec in self.decoders:
            value = row[i]
            if value is not None:
                row[i] = dec(value)
        return row

    def _passes(self, row: Any) -> bool:
        for where in self.where:
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
                keyed.append(([k(row) for k in self.keys], row))
            except Exception as e:
                raise self._failure('order_by()', e, row) from None
        for idx in reversed(range(len(self.keys))):
            asc = self.spec.order[idx][1]
            present = [r for r in keyed if r[0][idx] is not None]
            present.sort(key=lambda r: r[0][idx], reverse=not asc)
            keyed = present + [r for r in keyed if r[0][idx] is None]  # nulls last
        return [row for _, row in keyed]

    def _column(self, j: int, rows: Sequence[Any]) -> list[Any]:
        get = self.values[j]
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

    def _precompute(self, calls: list[tuple[n.FunctionCall, int, Getter]], rows: list[Any]) -> None:
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


def _close_images(rows: Sequence[Any]) -> None:
    for row in rows:
        for value in row:
            if isinstance(value, PIL.Image.Image) and getattr(value, 'fp', None) is not None:
                value.close()


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
    key_clauses = [sql(k, 'group_by key') for k in keys]
    columns: list[Any] = []
    for name, node in items:
        if node not in keys and not any(isinstance(x, n.Aggregate) for x in node.walk()):
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
        if isinstance(t, ts.IntType):
            values = [None if v is None else int(v) for v in values]
        elif t is not None:
            values = [t.from_db(v) for v in values]
        out.append(values)
    return QueryResult([name for name, _ in items], [node.col_type for _, node in items], out)
