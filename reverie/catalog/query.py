"""Queries: ``t.select(...).where(...).order_by(...).limit(n).collect()``.

Everything SQL can compute exactly (column values, comparisons, ``&``/``|``/``~``,
``isin``, null tests, arithmetic) runs in the database; the rest (image properties, JSON
paths, function calls) is evaluated in Python on the rows SQL returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import PIL.Image
import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog import pending
from reverie.display.resultset import ResultSet
from reverie.display.values import ImagePath
from reverie.errors import InvalidValueError, TypeMismatchError
from reverie.exec.loop import run_sync
from reverie.exec.schema import TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.evaluate import EvaluationError, evaluate
from reverie.exprs.expr import Expr, as_node
from reverie.exprs.to_sql import split_conjuncts, to_sql
from reverie.functions.udf import CellValue
from reverie.store.db import ROWID
from reverie.store.media import MediaStore

if TYPE_CHECKING:
    from reverie.catalog.table import Table


@dataclass(frozen=True)
class Query:
    """An immutable query over one table; each method returns a new query."""

    table: Table
    items: tuple[tuple[str, n.Node], ...] | None = None
    predicate: n.Node | None = None
    order: tuple[tuple[n.Node, bool], ...] = ()
    max_rows: int | None = None
    keys: tuple[n.Node, ...] | None = None

    def __repr__(self) -> str:
        return repr(self.collect())

    def _repr_html_(self) -> str:
        return self.collect()._repr_html_()

    def select(self, *exprs: Any, **named: Any) -> Query:
        """Columns or expressions to return; ``name=expr`` names a result column."""
        items: list[tuple[str, n.Node]] = []
        taken: set[str] = set()
        for i, e in enumerate(exprs):
            node = self._own(as_node(e))
            items.append((_unique(_default_name(node, i), taken), node))
        for name, e in named.items():
            if name in taken:
                raise InvalidValueError(f'Result column name {name!r} is used twice.')
            taken.add(name)
            items.append((name, self._own(as_node(e))))
        return replace(self, items=tuple(items))

    def where(self, predicate: Expr) -> Query:
        """Keep rows where ``predicate`` is true (combined with earlier ``where`` by ``&``)."""
        node = self._own(as_node(predicate))
        if node.col_type is not None and not isinstance(node.col_type, ts.BoolType | ts.JsonType):
            raise TypeMismatchError(
                f'where() needs a Bool expression, got {Expr(node)!r} ({node.col_type}).'
            )
        if self.predicate is not None:
            node = n.BoolOp(
                'and', (*split_conjuncts(self.predicate), *split_conjuncts(node)), ts.Bool
            )
        return replace(self, predicate=node)

    def order_by(self, *exprs: Any, asc: bool = True) -> Query:
        """Sort by expressions (``asc=False`` for descending)."""
        keys = tuple((self._own(as_node(e)), asc) for e in exprs)
        return replace(self, order=self.order + keys)

    def limit(self, n_rows: int) -> Query:
        """Return at most ``n_rows`` rows."""
        if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 0:
            raise InvalidValueError(f'limit() takes a non-negative int, got {n_rows!r}.')
        return replace(self, max_rows=n_rows)

    def group_by(self, *exprs: Any) -> Query:
        """Group rows by expressions; select the keys and aggregates such as ``count(t.x)``."""
        if not exprs:
            raise InvalidValueError(
                'group_by() needs at least one expression, e.g. t.group_by(t.kind).'
            )
        return replace(self, keys=tuple(self._own(as_node(e)) for e in exprs))

    def collect(self) -> ResultSet:
        """Run the query."""
        return _execute(self)

    def head(self, n_rows: int = 10) -> ResultSet:
        """First rows in insertion order."""
        return replace(
            self, order=self.order or ((_rowid_node(), True),), max_rows=n_rows
        ).collect()

    def tail(self, n_rows: int = 10) -> ResultSet:
        """Last rows in insertion order."""
        rs = replace(self, order=((_rowid_node(), False),), max_rows=n_rows).collect()
        cols = [list(reversed(rs[name])) for name in rs.column_names]
        return ResultSet(rs.column_names, list(rs.schema.values()), cols)

    def show(self, n_rows: int = 20) -> ResultSet:
        """The first rows, for display."""
        return self.head(n_rows)

    def count(self) -> int:
        """Number of rows the query matches."""
        return len(replace(self, items=(('_', _rowid_node()),), order=()).collect())

    def to_pandas(self) -> Any:
        """``collect().to_pandas()``."""
        return self.collect().to_pandas()

    def _own(self, node: n.Node) -> n.Node:
        table_id = self.table._id
        for ref in n.column_refs(node):
            if ref.table_id != table_id:
                raise InvalidValueError(
                    f'{Expr(node)!r} uses column {ref.name!r} of another table; a query reads '
                    'one table.'
                )
        return node


_ROWID_REF = n.ColumnRef(-1, -1, ROWID, ts.Int)


def _rowid_node() -> n.Node:
    return _ROWID_REF


def _default_name(node: n.Node, i: int) -> str:
    if isinstance(node, n.ColumnRef):
        return node.name
    if isinstance(node, n.ImageProp):
        return node.prop
    if isinstance(node, n.CellProp):
        return f'{node.column.name}_{node.prop}'
    if isinstance(node, n.FunctionCall):
        return node.fn.name
    if isinstance(node, n.Aggregate):
        return node.kind
    return f'col_{i}'


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate = f'{name}_{k}'
        k += 1
    taken.add(candidate)
    return candidate


def _execute(q: Query) -> ResultSet:
    schema = q.table._schema()
    catalog = q.table._catalog
    items = list(q.items) if q.items is not None else _all_columns(schema)
    resolver = sql_resolver(schema)

    if q.keys is not None or any(
        isinstance(x, n.Aggregate) for _, node in items for x in node.walk()
    ):
        return _execute_grouped(q, schema, items)

    sql_where: list[Any] = []
    py_where: list[n.Node] = []
    if q.predicate is not None:
        for part in split_conjuncts(q.predicate):
            clause = to_sql(part, resolver)
            if clause is None:
                py_where.append(part)
            else:
                sql_where.append(clause)
    sql_order = [to_sql(node, resolver) for node, _ in q.order]
    order_in_sql = all(o is not None for o in sql_order)

    states = pending.state_nodes(items)  # display hook: which result cells are pending
    needed: dict[n.Node, sa.ColumnElement[Any]] = {}
    for node in [
        *(node for _, node in items),
        *py_where,
        *(k for k, _ in q.order),
        *(s for s in states if s is not None),
    ]:
        for leaf in node.walk():
            if isinstance(leaf, n.ColumnRef | n.CellProp) and leaf not in needed:
                needed[leaf] = resolver(leaf)
    leaves = list(needed)
    query = (
        sa.select(*(needed[leaf] for leaf in leaves))
        if leaves
        else sa.select(schema.sa_table.c[ROWID])
    )
    query = query.select_from(schema.sa_table)
    if sql_where:
        query = query.where(*sql_where)
    if order_in_sql:
        for clause, (_, asc) in zip(sql_order, q.order, strict=True):
            assert clause is not None
            # Nulls last either way, as the Python path sorts them (SQLite and PostgreSQL differ).
            query = query.order_by((clause.asc() if asc else clause.desc()).nulls_last())
        query = query.order_by(schema.sa_table.c[ROWID])
    else:
        query = query.order_by(schema.sa_table.c[ROWID])
    if q.max_rows is not None and not py_where and order_in_sql:
        query = query.limit(q.max_rows)

    with catalog.store.read() as conn:
        raw = conn.execute(query).all()

    media = catalog.media
    converters = [_converter(leaf, media) for leaf in leaves]
    simple = (
        not py_where
        and order_in_sql
        and all(isinstance(node, n.ColumnRef | n.CellProp) for _, node in items)
    )
    if simple:
        columns: list[list[Any]] = []
        for _, node in items:
            idx = leaves.index(node)
            conv = converters[idx]
            columns.append([r[idx] for r in raw] if conv is None else [conv(r[idx]) for r in raw])
        return ResultSet(
            [name for name, _ in items],
            [node.col_type for _, node in items],
            columns,
            pending.column_flags(states, leaves, raw),
        )

    rows: list[tuple[list[Any], list[Any], list[bool]]] = []
    for r in raw:
        env = _env(leaves, converters, r, open_images=True)
        if py_where and not all(_safe_eval(p, env) is True for p in py_where):
            _close(env)
            continue
        values = [_value_for_result(_eval_with_calls(node, env)) for _, node in items]
        keys = [] if order_in_sql else [_eval_with_calls(k, env) for k, _ in q.order]
        _close(env)
        rows.append((values, keys, pending.row_flags(states, env.__getitem__)))
    if not order_in_sql:
        for idx in reversed(range(len(q.order))):
            asc = q.order[idx][1]
            present = [row for row in rows if row[1][idx] is not None]
            present.sort(key=lambda row: row[1][idx], reverse=not asc)
            rows = present + [row for row in rows if row[1][idx] is None]  # nulls last
    if q.max_rows is not None:
        rows = rows[: q.max_rows]
    columns = [[row[0][j] for row in rows] for j in range(len(items))]
    return ResultSet(
        [name for name, _ in items],
        [node.col_type for _, node in items],
        columns,
        pending.by_column(states, [row[2] for row in rows]),
    )


def _execute_grouped(q: Query, schema: TableSchema, items: list[tuple[str, n.Node]]) -> ResultSet:
    """Aggregates (optionally per group) computed by the database."""
    resolver = sql_resolver(schema)
    keys = q.keys or ()

    def sql(node: n.Node, what: str) -> Any:
        clause = to_sql(node, resolver)
        if clause is None:
            raise InvalidValueError(
                f'{what} {Expr(node)!r} cannot be computed by the database; group_by works with '
                'stored scalar columns, arithmetic and count/sum/min/max/mean.'
            )
        return clause

    key_clauses = [sql(k, 'group_by key') for k in keys]
    columns: list[Any] = []
    for name, node in items:
        if node not in keys and not any(isinstance(x, n.Aggregate) for x in node.walk()):
            raise InvalidValueError(
                f'Result column {name!r} ({Expr(node)!r}) is neither a group_by key nor an '
                'aggregate; wrap it in count/sum/min/max/mean or add it to group_by().'
            )
        columns.append(sql(node, 'Result column').label(f'c{len(columns)}'))
    query = sa.select(*columns).select_from(schema.sa_table)
    if q.predicate is not None:
        query = query.where(sql(q.predicate, 'where() condition'))
    if key_clauses:
        query = query.group_by(*key_clauses)
    for node, asc in q.order:
        clause = sql(node, 'order_by key')
        query = query.order_by(clause.asc().nulls_last() if asc else clause.desc().nulls_last())
    if not q.order and key_clauses:
        query = query.order_by(*key_clauses)
    if q.max_rows is not None:
        query = query.limit(q.max_rows)
    with q.table._catalog.store.read() as conn:
        raw = conn.execute(query).all()
    out: list[list[Any]] = []
    for j, (_, node) in enumerate(items):
        t = node.col_type
        convert = t.from_db if t is not None and not isinstance(t, ts.IntType) else None
        values = [r[j] for r in raw]
        if isinstance(t, ts.IntType):
            values = [None if v is None else int(v) for v in values]
        elif convert is not None:
            values = [convert(v) for v in values]
        out.append(values)
    return ResultSet([name for name, _ in items], [node.col_type for _, node in items], out)


def _all_columns(schema: TableSchema) -> list[tuple[str, n.Node]]:
    return [(c.name, c.ref(schema.id)) for c in schema.columns]


def sql_resolver(schema: TableSchema) -> Callable[[n.ColumnRef | n.CellProp], Any]:
    """Maps column and cell-property nodes to the data table's SQL columns."""
    t = schema.sa_table

    def resolve(node: n.ColumnRef | n.CellProp) -> Any:
        if node is _ROWID_REF:
            return t.c[ROWID]
        if isinstance(node, n.CellProp):
            col = schema.by_id(node.column.column_id)
            return t.c[getattr(col.sql, node.prop)]
        col = schema.by_id(node.column_id)
        return t.c[col.sql.value]

    return resolve


_IDENTITY_TYPES = (ts.StringType, ts.IntType, ts.BoolType, ts.JsonType, ts.ArrayType, ts.DateType)


def _converter(leaf: n.Node, media: MediaStore) -> Callable[[Any], Any] | None:
    col_type = leaf.col_type
    if isinstance(leaf, n.CellProp) or col_type is None or isinstance(col_type, _IDENTITY_TYPES):
        return None
    if isinstance(col_type, ts.ImageType):
        return lambda ref: None if ref is None else ImagePath(media.path(ref))
    return col_type.from_db


def _env(
    leaves: Sequence[n.Node],
    converters: Sequence[Callable[[Any], Any] | None],
    row: Any,
    *,
    open_images: bool,
) -> dict[n.Node, Any]:
    env: dict[n.Node, Any] = {}
    for leaf, conv, value in zip(leaves, converters, row, strict=True):
        value = value if conv is None else conv(value)
        if open_images and isinstance(value, ImagePath):
            value = PIL.Image.open(value)
        env[leaf] = value
    return env


def _close(env: dict[n.Node, Any]) -> None:
    for value in env.values():
        if isinstance(value, PIL.Image.Image):
            value.close()


def _safe_eval(node: n.Node, env: dict[n.Node, Any]) -> Any:
    try:
        return _eval_with_calls(node, env)
    except EvaluationError:
        return None


def _eval_with_calls(node: n.Node, env: dict[n.Node, Any]) -> Any:
    for call in n.function_calls(node):
        if call in env:
            continue
        args = [evaluate(a, env) for a in call.args]
        kwargs = {k: evaluate(v, env) for k, v in call.kwargs}
        fn: Any = call.fn
        if any(a is None for a in args):
            env[call] = None
            continue
        result = (
            run_sync(fn.py_fn(*args, **kwargs)) if call.fn.is_async else fn.py_fn(*args, **kwargs)
        )
        env[call] = result.value if isinstance(result, CellValue) else result
    return evaluate(node, env)


def _value_for_result(value: Any) -> Any:
    if isinstance(value, PIL.Image.Image):
        filename = getattr(value, 'filename', None)
        if filename:
            return ImagePath(filename)
        value.load()
    return value
