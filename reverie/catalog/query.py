"""Queries: ``t.select(...).where(...).order_by(...).limit(n).collect()``.

A ``Query`` is a handle: the catalog, a table id and a ``QuerySpec`` (plain data). Building
one checks the expressions; only ``collect()`` (and what calls it) runs it, through the
engine's query driver (``exec/queries.py``). Its ``repr`` describes it and never runs it:
looking at a query must never spend money.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from reverie import types as ts
from reverie.catalog import writes
from reverie.catalog.changes import sql_condition
from reverie.catalog.runs import Operation
from reverie.catalog.status import UpdateStatus
from reverie.display.resultset import ResultSet
from reverie.display.show import show
from reverie.display.values import ImagePath
from reverie.errors import InvalidValueError, TypeMismatchError
from reverie.exec.queries import ROWID_REF, QuerySpec, all_columns, count_rows, run_query
from reverie.exec.schema import TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, NamedExpr, as_node
from reverie.exprs.render import render
from reverie.exprs.similarity import Similarity, has_similarity
from reverie.exprs.to_sql import split_conjuncts

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog


@dataclass(frozen=True)
class Query:
    """An immutable query over one table; each method returns a new query."""

    catalog: Catalog
    table_id: int
    spec: QuerySpec = field(default_factory=QuerySpec)
    version: int | None = None  # time travel: the table as it was at this version
    sampling: tuple[int, int | None] | None = None  # sample(n, seed): applied last

    def __repr__(self) -> str:
        return self._description()

    def _repr_html_(self) -> str:
        return f'<pre>{html.escape(self._description())}</pre>'

    def describe(self) -> None:
        """Show what the query asks for, without running it (Pixeltable's ``describe()``).

        In a notebook it displays once; elsewhere it prints the text.
        """
        show(self)

    def _description(self) -> str:
        """What the query asks for, as text."""
        spec = self.spec
        at = '' if self.version is None else f' at version {self.version}'
        lines = [f'Query on table {self._path()!r}{at}']
        if spec.items is not None:
            names = ', '.join(
                name
                if isinstance(node, n.ColumnRef) and node.name == name
                else f'{name}={render(node)}'
                for name, node in spec.items
            )
            lines.append(f'  select:   {names}')
        if spec.predicate is not None:
            lines.append(f'  where:    {render(spec.predicate)}')
        if spec.keys is not None:
            lines.append(f'  group_by: {", ".join(render(k) for k in spec.keys)}')
        if spec.order:
            keys = ', '.join(f'{render(k)}{"" if asc else " desc"}' for k, asc in spec.order)
            lines.append(f'  order_by: {keys}')
        if spec.max_rows is not None:
            lines.append(f'  limit:    {spec.max_rows}')
        if spec.offset:
            lines.append(f'  offset:   {spec.offset}')
        if self.sampling is not None:
            seed = '' if self.sampling[1] is None else f', seed={self.sampling[1]}'
            lines.append(f'  sample:   n={self.sampling[0]}{seed}')
        lines.append('Run it with .collect() (or .show(), .head()).')
        return '\n'.join(lines)

    def select(self, *exprs: Any, **named: Any) -> Query:
        """Columns or expressions to return; ``name=expr`` names a result column.

        With no arguments, every column.
        """
        if self.spec.items is not None:  # as in Pixeltable
            raise InvalidValueError(
                'Select list already specified: pass every result column to one select().'
            )
        for name in named:
            if not _RESULT_NAME.match(name):
                raise InvalidValueError(
                    f'Invalid name: {name!r}. A result column name starts with a letter and '
                    'holds only letters, digits and _.'
                )
        if not exprs and not named:
            return self._with(items=None)
        items: list[tuple[str, n.Node]] = []
        taken: set[str] = set()
        for i, e in enumerate(exprs):
            node = self._own(as_node(e))  # a str is a literal, as in Pixeltable
            name = e.result_name if isinstance(e, NamedExpr) else _default_name(node, i)
            items.append((_unique(name, taken), node))
        for name, e in named.items():
            if name in taken:
                raise InvalidValueError(f'Result column name {name!r} is used twice.')
            taken.add(name)
            items.append((name, self._own(as_node(e))))
        return self._with(items=tuple(items))

    def where(self, predicate: Expr) -> Query:
        """Keep rows where ``predicate`` is true (one ``where`` per query, as in Pixeltable)."""
        if not isinstance(predicate, Expr):
            raise InvalidValueError(
                f'where() takes an expression such as t.n > 1, got {type(predicate).__name__} '
                f'{predicate!r}.'
            )
        if self.spec.predicate is not None:  # as in Pixeltable
            raise InvalidValueError(
                'where() clause already specified: combine the conditions with & in one where().'
            )
        node = self._own(as_node(predicate))
        if any(isinstance(x, n.Aggregate) for x in node.walk()):
            raise InvalidValueError(
                f'where() cannot hold an aggregate ({Expr(node)!r}): it filters rows before '
                'they are grouped. Select the aggregate and filter the result instead.'
            )
        if node.col_type is not None and not isinstance(node.col_type, ts.BoolType | ts.JsonType):
            raise TypeMismatchError(
                f'where() needs a Bool expression, got {Expr(node)!r} ({node.col_type}).'
            )
        if self.spec.predicate is not None:
            node = n.BoolOp(
                'and', (*split_conjuncts(self.spec.predicate), *split_conjuncts(node)), ts.Bool
            )
        return self._with(predicate=node)

    def order_by(self, *exprs: Any, asc: bool = True) -> Query:
        """Sort by expressions (``asc=False`` for descending)."""
        keys = tuple((self._own(self._node(e)), asc) for e in exprs)
        for node, _ in keys:
            if not n.column_refs(node):  # as in Pixeltable: 'Invalid expression in order_by()'
                raise InvalidValueError(
                    f'Invalid expression in order_by(): {Expr(node)!r} is a constant; order by '
                    'a column or an expression over columns, e.g. t.order_by(t.n).'
                )
        return self._with(order=self.spec.order + keys)

    def limit(self, n_rows: int, offset: int = 0) -> Query:
        """Return at most ``n_rows`` rows, after skipping ``offset`` rows."""
        for name, value in (('limit', n_rows), ('offset', offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidValueError(f'{name} must be a non-negative int, got {value!r}.')
        return self._with(max_rows=n_rows, offset=offset)

    def group_by(self, *exprs: Any) -> Query:
        """Group rows by expressions; select the keys and aggregates such as ``count(t.x)``."""
        if not exprs:
            raise InvalidValueError(
                'group_by() needs at least one expression, e.g. t.group_by(t.kind).'
            )
        return self._with(keys=tuple(self._own(self._node(e)) for e in exprs))

    def distinct(self) -> Query:
        """Keep one row of each distinct combination of the selected values.

        Examples:
            >>> t.select(t.kind).distinct().collect()  # doctest: +SKIP
        """
        if self.spec.keys is not None:
            raise InvalidValueError('distinct() does not combine with group_by().')
        items = self.spec.items if self.spec.items is not None else all_columns(self._schema())
        return self._with(items=tuple(items), keys=tuple(node for _, node in items))

    def sample(self, n: int, *, seed: int | None = None) -> Query:
        """``n`` of the query's rows chosen at random (all if there are fewer), in order.

        The same ``seed`` over the same rows chooses the same sample.

        Examples:
            >>> t.sample(n=5, seed=7).collect()  # doctest: +SKIP
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidValueError(f'sample() takes a non-negative int n, got {n!r}.')
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidValueError(f'sample() takes an int seed, got {seed!r}.')
        if self.sampling is not None:
            raise InvalidValueError('This query is a sample already; sample() once.')
        return replace(self, sampling=(n, seed))

    def collect(self) -> ResultSet:
        """Run the query."""
        catalog = self.catalog
        media = catalog.media

        def image_value(ref: str) -> ImagePath:  # an object store's image: fetched when read
            cached = media.cached_path(ref)
            if cached is None:
                return ImagePath(media.local_path(ref))
            return ImagePath.lazy(str(cached), lambda: media.local_path(ref))

        schema = self._schema()
        spec = self._answered(schema)
        if self.sampling is not None and not spec.order and spec.keys is None:
            spec = replace(spec, order=((ROWID_REF, True),))  # a seed picks the same rows
        result = run_query(
            catalog.exec,
            schema,
            spec,
            image_value,
        )
        rs = ResultSet(result.names, result.types, result.columns, result.pending)
        return rs if self.sampling is None else _sampled(rs, *self.sampling)

    def update(
        self, value_spec: dict[str, Any], *, cascade: bool = True, dry_run: bool = False
    ) -> Any:
        """``t.where(...).update({...})``: ``t.update({...}, where=...)`` on this query's rows."""
        schema = self._rows_to_change('update')
        cond = sql_condition(schema, self._where(), 'update(where=...)')
        op = Operation.of(self.catalog, None)
        return writes.update(
            self.catalog, schema, value_spec, cond, op, cascade=cascade, dry_run=dry_run
        )

    def delete(self) -> UpdateStatus:
        """``t.where(...).delete()``: delete this query's rows (all rows without a where)."""
        schema = self._rows_to_change('delete from')
        return writes.delete(
            self.catalog, schema, sql_condition(schema, self._where(), 'delete(where=...)')
        )

    def _rows_to_change(self, what: str) -> TableSchema:
        """The schema, when the query is a table and a ``where`` (what update/delete take)."""
        spec = self.spec
        if (
            spec.items is not None
            or spec.order
            or spec.max_rows is not None
            or spec.offset
            or spec.keys is not None
            or self.sampling is not None
        ):
            raise InvalidValueError(
                f'{what.split()[0]}() on a query takes t.where(...) only, without select, '
                'order_by, limit, group_by or sample.'
            )
        return writes.writable(self.catalog, self.table_id, self.version, what, rows=True)

    def _where(self) -> Expr | None:
        return None if self.spec.predicate is None else Expr(self.spec.predicate)

    def head(self, n_rows: int = 10) -> ResultSet:
        """First rows in insertion order."""
        if self.sampling is not None:  # the first rows of the sample, not a sample of them
            rs = self.collect()
            return _pick(rs, range(min(n_rows, len(rs))))
        order = self.spec.order or ((ROWID_REF, True),)
        return self._with(order=order, max_rows=n_rows, offset=0).collect()

    def tail(self, n_rows: int = 10) -> ResultSet:
        """Last rows in insertion order."""
        if self.sampling is not None:
            rs = self.collect()
            return _pick(rs, range(max(0, len(rs) - n_rows), len(rs)))
        rs = self._with(order=((ROWID_REF, False),), max_rows=n_rows, offset=0).collect()
        cols = [list(reversed(rs[name])) for name in rs.column_names]
        pending = [
            [rs.is_pending(i, name) for i in reversed(range(len(rs)))] for name in rs.column_names
        ]
        return ResultSet(rs.column_names, list(rs.schema.values()), cols, pending)

    def show(self, n_rows: int = 20) -> ResultSet:
        """The first rows, for display."""
        return self.head(n_rows)

    def count(self) -> int:
        """Number of rows the query returns."""
        schema = self._schema()
        total = count_rows(self.catalog.exec, schema, self._answered(schema))
        return total if self.sampling is None else min(total, self.sampling[0])

    def to_pandas(self) -> Any:
        """``collect().to_pandas()``."""
        return self.collect().to_pandas()

    def _answered(self, schema: TableSchema) -> QuerySpec:
        """The spec with its ``similarity()`` answered by the embedding indexes (issue 23)."""
        spec = self.spec
        nodes = [node for _, node in spec.items or ()] + [k for k, _ in spec.order]
        if not has_similarity(nodes + ([spec.predicate] if spec.predicate is not None else [])):
            return spec
        # Imported here: numpy and the vector code load only for a query that searches.
        from reverie.catalog.similarity import answer_similarity

        return answer_similarity(self.catalog, schema, spec)

    def _schema(self) -> TableSchema:
        if self.version is not None:
            return self.catalog.schema_at(self.table_id, self.version)
        return self.catalog.schema(self.table_id)

    def _with(self, **changes: Any) -> Query:
        return replace(self, spec=replace(self.spec, **changes))

    def _path(self) -> str:
        return self._schema().path

    def _node(self, value: Any) -> n.Node:
        if isinstance(value, str):
            schema = self._schema()
            return schema.require(value).ref(schema.id)  # a column given by its name
        return as_node(value)

    def _own(self, node: n.Node) -> n.Node:
        for ref in n.column_refs(node):
            if ref.table_id != self.table_id:
                raise InvalidValueError(
                    f'{Expr(node)!r} uses column {ref.name!r} of another table; a query reads '
                    'one table.'
                )
        return node


def _sampled(rs: ResultSet, n_rows: int, seed: int | None) -> ResultSet:
    """``n_rows`` rows of ``rs`` chosen with ``seed``, in their order."""
    return _pick(rs, sorted(random.Random(seed).sample(range(len(rs)), min(n_rows, len(rs)))))


def _pick(rs: ResultSet, keep: Iterable[int]) -> ResultSet:
    """The rows ``keep`` of ``rs`` (pending marks included)."""
    keep = list(keep)
    rows = rs.raw_rows()
    columns = [[rows[i][j] for i in keep] for j in range(len(rs.column_names))]
    pending = [[rs.is_pending(i, name) for i in keep] for name in rs.column_names]
    return ResultSet(rs.column_names, list(rs.schema.values()), columns, pending)


_RESULT_NAME = re.compile(r'\A[A-Za-z][A-Za-z0-9_]*\Z')


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
    if isinstance(node, Similarity):
        return 'similarity'
    return f'col_{i}'


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate = f'{name}_{k}'
        k += 1
    taken.add(candidate)
    return candidate


class TableReads:
    """The reading half of a table handle: each method starts a ``Query`` of all rows."""

    def _query(self) -> Query:
        raise NotImplementedError

    def select(self, *exprs: Any, **named: Any) -> Query:
        """``t.select(t.a, t.b.width, total=t.x + t.y)``."""
        return self._query().select(*exprs, **named)

    def where(self, predicate: Expr) -> Query:
        """``t.where(t.n > 1)``."""
        return self._query().where(predicate)

    def order_by(self, *exprs: Any, asc: bool = True) -> Query:
        """``t.order_by(t.n, asc=False)``."""
        return self._query().order_by(*exprs, asc=asc)

    def limit(self, n_rows: int, offset: int | None = None) -> Query:
        """``t.limit(5)``, ``t.limit(10, offset=20)``."""
        return self._query().limit(n_rows, offset or 0)

    def group_by(self, *exprs: Any) -> Query:
        """``t.group_by(t.kind).select(t.kind, n=count(t.id))``: one row per group."""
        return self._query().group_by(*exprs)

    def collect(self) -> ResultSet:
        """Every row."""
        return self._query().collect()

    def head(self, n_rows: int = 10) -> ResultSet:
        """First rows."""
        return self._query().head(n_rows)

    def tail(self, n_rows: int = 10) -> ResultSet:
        """Last rows."""
        return self._query().tail(n_rows)

    def show(self, n_rows: int = 20) -> ResultSet:
        """First rows, for display."""
        return self._query().show(n_rows)

    def to_pandas(self) -> Any:
        """Every row as a pandas DataFrame."""
        return self._query().to_pandas()

    def sample(self, n: int, *, seed: int | None = None) -> Query:
        """``t.sample(n=5, seed=7).collect()``: ``n`` rows chosen at random, in order."""
        return self._query().sample(n, seed=seed)

    def distinct(self) -> Query:
        """``t.distinct()``: one row of each distinct combination of every column."""
        return self._query().distinct()

    def count(self) -> int:
        """Number of rows."""
        return self._query().count()
