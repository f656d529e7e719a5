"""``Table``: a thin handle over the catalog, the store and the evaluator.

``t.prompt`` is a column expression; ``t.insert``, ``t.add_computed_column``,
``t.select(...).collect()`` and friends do the work. A handle notices schema changes made
by other handles or processes (the table's version) and reloads.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import random
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.catalog import Catalog
from reverie.catalog.changes import (
    change_rows,
    pending_values,
    reset_cells,
    sql_condition,
    update_assignments,
)
from reverie.catalog.options import IF_EXISTS, IF_NOT_EXISTS, check_option
from reverie.catalog.paths import check_column_name, name_of
from reverie.catalog.query import Query
from reverie.catalog.revert import revert_latest
from reverie.catalog.rows import prepare_rows
from reverie.catalog.status import UpdateStatus
from reverie.catalog.views import derivation, sync_rows
from reverie.display.html import schema_html
from reverie.display.resultset import ResultSet
from reverie.display.show import show
from reverie.display.text import text_table
from reverie.errors import (
    AlreadyExistsError,
    ExecutionError,
    InvalidValueError,
    NotFoundError,
    RunStoppedError,
    TypeMismatchError,
)
from reverie.exec.estimate import Estimate, estimate_cells
from reverie.exec.evaluator import ComputeStats, OnError, compute_pending
from reverie.exec.inserts import SchemaChanged, insert_rows
from reverie.exec.loop import run_sync
from reverie.exec.paid import PaidOptions, PaidRun
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, as_node
from reverie.exprs.render import render
from reverie.io.sources import RowSource, conform, is_source, load_source
from reverie.store.db import ERROR as ERROR_STATE
from reverie.store.db import (
    ROWID,
    VALUE,
    derived_table,
)
from reverie.store.vector_tables import has_indexes
from reverie.store.versions import (
    VersionRow,
    add_counts,
    current_version,
    version_log,
    version_rows,
)

if TYPE_CHECKING:
    from reverie.catalog.indexes import EmbeddingFn

SCHEMA_RETRIES = 5


class Table:
    """A table of the catalog; columns are attributes: ``t.prompt``."""

    def __init__(self, catalog: Catalog, table_id: int, version: int | None = None) -> None:
        self._catalog = catalog
        self._id = table_id
        self._version = version  # time travel: the table as it was at this version

    # -- identity and schema -------------------------------------------------------
    def _schema(self) -> TableSchema:
        if self._version is not None:
            return self._catalog.schema_at(self._id, self._version)
        return self._catalog.schema(self._id)

    def _writable(self, what: str, *, rows: bool = False) -> TableSchema:
        """The schema, when ``what`` may change this table; a clear error otherwise.

        ``rows``: the change writes rows, which views take from their base only.
        """
        if self._version is not None:
            raise InvalidValueError(
                f'{self._path}:{self._version} is the table as it was at version '
                f'{self._version}, read-only; {what} the table itself (rv.get_table('
                f'{self._path!r})), or t.revert() to go back to an earlier version.'
            )
        schema = self._schema()
        if schema.kind == 'snapshot':
            raise InvalidValueError(f'Snapshot {schema.path!r} is read-only; cannot {what} it.')
        if rows and schema.kind == 'view':
            raise InvalidValueError(
                f'Cannot {what} view {schema.path!r}: its rows come from its base table; '
                'change the base table instead.'
            )
        return schema

    # Private, as in Pixeltable: a column may be called ``name`` or ``path``.
    @property
    def _path(self) -> str:
        """``dir/sub/name``; public through ``get_metadata()['path']``."""
        return self._schema().path

    @property
    def _name(self) -> str:
        """The table's name (last part of its path); ``get_metadata()['name']``."""
        return name_of(self._path)

    def columns(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self._schema().columns]

    def get_metadata(self) -> dict[str, Any]:
        """What Pixeltable's ``get_metadata()`` tells: name, path, version and each column.

        Examples:
            >>> t.get_metadata()['columns']['prompt']['type_']  # doctest: +SKIP
            'String'
        """
        schema = self._schema()
        base = None if schema.base_id is None else self._catalog.schema(schema.base_id).path
        return {
            'name': schema.name,
            'path': schema.path,
            'kind': schema.kind,
            'base': base,
            'is_view': schema.kind == 'view',
            'is_snapshot': schema.kind == 'snapshot',
            'is_replica': False,
            'comment': '',
            'version': self._current_version() if self._version is None else self._version,
            'schema_version': schema.version,
            'columns': {
                c.name: {
                    'name': c.name,
                    'type_': str(c.col_type),
                    'computed_with': render(c.expr) if c.expr is not None else None,
                    'is_stored': True,
                    'is_primary_key': False,
                    'defined_in': schema.name,
                }
                for c in schema.columns
            },
        }

    def __getattr__(self, name: str) -> Expr:
        if name.startswith('_'):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Expr:
        try:
            col = self._schema().require(name)
        except NotFoundError as e:
            raise AttributeError(str(e)) from None  # so hasattr() and getattr() work
        return Expr(col.ref(self._id))

    def __repr__(self) -> str:
        caption, names, rows = self._schema_rows()
        return f'{caption}\n\n' + text_table(
            names, [list(col) for col in zip(*rows, strict=True)], len(rows)
        )

    def _repr_html_(self) -> str:
        return schema_html(*self._schema_rows())

    def describe(self) -> None:
        """Show the schema: column name, type, and the expression computing it.

        In a notebook it displays the HTML table once; elsewhere it prints the text table.
        """
        show(self)

    def _schema_rows(self) -> tuple[str, list[str], list[list[str]]]:
        schema = self._schema()
        rows = [
            [
                c.name,
                str(c.col_type),
                render(c.expr) if c.expr is not None else (c.load_error or ''),
            ]
            for c in schema.columns
        ]
        if schema.base_id is not None:
            base = self._catalog.schema(schema.base_id)
            for row, c in zip(rows, schema.columns, strict=True):
                if c.mirror_of is not None:
                    row[2] = f'{base.path}.{_mirrored_name(base, c.mirror_of)}'

        return self._caption(schema), ['Column Name', 'Type', 'Computed With'], rows

    def _caption(self, schema: TableSchema) -> str:
        """'Table 'dir/t'', 'View 'dir/v' (of 'dir/t' where ...)', with a version if pinned."""
        if self._version is not None:
            kind = schema.kind.capitalize()  # Table, View or Snapshot
            return f"{kind} '{schema.path}' at version {self._version} (read-only)"
        if schema.base_id is None:
            return f"Table '{schema.path}'"
        d = derivation(self._catalog, schema)
        where = '' if d.predicate is None else f' where {render(d.predicate)}'
        of = f"'{d.base.path}'{where}"
        if schema.kind == 'snapshot':
            return f"Snapshot '{schema.path}' of {of} at version {d.base_version}"
        return f"View '{schema.path}' of {of}"

    # -- queries -----------------------------------------------------------------------
    def _query(self) -> Query:
        return Query(self._catalog, self._id, version=self._version)

    def select(self, *exprs: Any, **named: Any) -> Query:
        """``t.select(t.a, t.b.width, total=t.x + t.y)``."""
        return self._query().select(*exprs, **named)

    def where(self, predicate: Expr) -> Query:
        """``t.where(t.n > 1)``."""
        return self._query().where(predicate)

    def order_by(self, *exprs: Any, asc: bool = True) -> Query:
        """``t.order_by(t.n, asc=False)``."""
        return self._query().order_by(*exprs, asc=asc)

    def limit(self, n_rows: int) -> Query:
        """``t.limit(5)``."""
        return self._query().limit(n_rows)

    def group_by(self, *exprs: Any) -> Query:
        """Not supported yet."""
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

    def sample(self, n: int, *, seed: int | None = None) -> ResultSet:
        """``n`` rows chosen at random (all rows if there are fewer), in insertion order.

        The same ``seed`` over the same rows chooses the same sample. Unlike Pixeltable's
        ``sample`` this returns the rows themselves, not a query.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidValueError(f'sample() takes a non-negative int n, got {n!r}.')
        rs = self._query().head(self.count())
        rows = rs.raw_rows()
        keep = sorted(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))
        columns = [[rows[i][j] for i in keep] for j in range(len(rs.column_names))]
        return ResultSet(rs.column_names, list(rs.schema.values()), columns)

    def count(self) -> int:
        """Number of rows."""
        schema = self._schema()
        with self._catalog.store.read() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(schema.reads)).scalar_one()
            )

    # -- writes ------------------------------------------------------------------------
    def insert(
        self,
        rows: RowSource | None = None,
        /,
        *,
        on_error: OnError = 'abort',
        print_stats: bool = True,
        budget: float | None = None,
        dry_run: bool = False,
        **values: Any,
    ) -> Any:
        """Insert rows: a list of dicts, keyword values, a DataFrame or a CSV/Parquet/JSON file.

        Every value is checked first; with ``on_error='abort'`` one bad row refuses the whole
        insert and nothing is written, with ``'ignore'`` the good rows go in and the status
        counts the rejected ones. Computed columns are then filled in for the new rows.
        Relative image paths in a file are read relative to the file's folder.
        ``budget`` caps the credits its paid calls may spend (default: REVERIE_BUDGET_CREDITS).
        ``dry_run=True`` inserts nothing, sends nothing and returns an ``Estimate``.
        """
        _check_on_error(on_error)
        current: TableSchema | None = self._writable('insert into', rows=True)
        start = time.perf_counter()
        rows = self._rows_of(rows, values)
        if dry_run:
            schema = self._schema()
            prepared = prepare_rows(
                schema, rows, self._catalog.media, skip_bad=on_error == 'ignore'
            )
            targets = {c.id for c in schema.computed()}
            return self._estimate(schema, prepared.rows, targets, self._paid_options(budget))
        for _ in range(SCHEMA_RETRIES):
            schema, current = current or self._schema(), None
            prepared = prepare_rows(
                schema, rows, self._catalog.media, skip_bad=on_error == 'ignore'
            )
            try:
                inserted = insert_rows(self._catalog.store, schema, prepared.rows)
                break
            except SchemaChanged:
                continue  # another process changed the columns meanwhile: prepare again
        else:
            raise ExecutionError(
                f'The columns of table {schema.path!r} kept changing during the insert '
                f'({SCHEMA_RETRIES} tries); nothing was inserted. Try again.'
            )
        status = UpdateStatus(
            num_rows=len(prepared.rows),
            updated_cols=[c.name for c in schema.columns],
            rejected_rows=len(prepared.rejected),
            num_excs=len(prepared.rejected),
            errors=[str(e) for _, e in prepared.rejected],
            verb='inserted',
        )
        try:
            if schema.computed() and inserted.rowids:
                stats = self._compute(
                    schema,
                    rowids=inserted.rowids,
                    on_error=on_error,
                    desc='Computing cells',
                    paid=self._paid_options(budget),
                    version=inserted.version,
                )
                _merge(status, stats)
        finally:  # the rows are in, computed or not: views take them now
            if inserted.version is not None:
                self._propagate(inserted.version, schema, inserted.rowids)
        if print_stats:
            print(_summary('Inserted', status.num_rows, 'row', status.num_excs, start, status))
        return status

    def _rows_of(self, rows: RowSource | None, values: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of an insert, whatever form they came in."""
        if rows is None:
            return [values]
        if values:
            raise InvalidValueError('insert() takes a list of rows or keyword values, not both.')
        if isinstance(rows, dict):
            return [rows]
        if is_source(rows):
            types = {c.name: c.col_type for c in self._schema().columns}
            return conform(load_source(rows), types)
        if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
            raise InvalidValueError(
                f'insert() takes a list of dicts, a DataFrame or a file path, got '
                f'{type(rows).__name__}.'
            )
        return list(rows)

    def _compute(
        self,
        schema: TableSchema,
        *,
        rowids: Sequence[int] | None,
        on_error: OnError,
        desc: str,
        paid: PaidOptions | None = None,
        version: int | None = None,
    ) -> ComputeStats:
        """Compute pending cells; their counts go to ``version`` (default: the latest)."""
        runs: list[Any] = []
        coro = compute_pending(
            self._catalog.exec,
            schema,
            rowids=rowids,
            on_error=on_error,
            desc=desc,
            paid=dataclasses.replace(paid or self._paid_options(None), table_version=version),
            on_start=runs.append,
        )
        try:
            stats = run_sync(coro, on_interrupt=lambda: _stop_gently(runs))
            self._count_cells(stats, version)
        except KeyboardInterrupt:
            print(
                f'Interrupted: finished cells are kept. Resume with '
                f'`reverie resume {schema.path}` or t.recompute_columns().'
            )
            raise
        if stats.busy_elsewhere:
            print(f'{stats.busy_elsewhere} rows are being computed by another process right now.')
        if on_error == 'abort' and stats.first_error is not None:
            first = stats.first_error
            row = self._row_number(first.rowid, rowids)
            reason = (first.errormsg or '').rstrip('.')  # the message's own period ends it
            raise ExecutionError(
                f'Computing column {first.column.name!r} of table {schema.path!r} failed for '
                f'{row}: {first.errortype}: {reason}. Finished cells are kept; '
                f"see t.select(t.{first.column.name}.errormsg) and use on_error='ignore' to go on "
                'past errors, or fix the cause and run t.recompute_columns(errors_only=True).'
            )
        return stats

    def _row_number(self, rowid: int, rowids: Sequence[int] | None) -> str:
        """A row as insert errors name it: its 0-based position in the insert, else in the table."""
        if rowids is not None and rowid in rowids:
            return f'row {list(rowids).index(rowid)}'
        t = self._schema().sa_table
        with self._catalog.store.read() as conn:
            before = conn.execute(
                sa.select(sa.func.count()).select_from(t).where(t.c[ROWID] < rowid)
            ).scalar_one()
        return f'row {before}'

    def add_column(
        self,
        *,
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
        **columns: Any,
    ) -> UpdateStatus:
        """Add stored (non-computed) columns: ``t.add_column(caption=rv.String)``.

        ``if_exists``: 'error', 'ignore' (keep the column), 'replace' (drop it and add it
        again, empty; refused while computed columns use it) or 'replace_force' (also drop
        the computed columns that use it).
        """
        if not columns:
            raise InvalidValueError(
                'add_column() needs name=type, e.g. t.add_column(caption=rv.String).'
            )
        return self.add_columns(columns, if_exists=if_exists)

    def add_columns(
        self,
        schema: dict[str, Any],
        *,
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
    ) -> UpdateStatus:
        """Add several stored columns: ``t.add_columns({'a': rv.Int, 'b': rv.String})``."""
        if_exists = check_option('if_exists', if_exists, IF_EXISTS)
        current: TableSchema | None = self._writable('add columns to')
        if not isinstance(schema, dict) or not schema:
            raise InvalidValueError(
                "add_columns() needs a non-empty dict of name to type, e.g. {'a': rv.Int}."
            )
        checked = [(check_column_name(k), ts.to_column_type(v)) for k, v in schema.items()]
        added = []
        for name, col_type in checked:
            if not col_type.nullable:
                raise InvalidValueError(
                    f'Column {name!r} cannot be Required when added to an existing table '
                    '(existing rows have no value for it).'
                )
            room = self._make_room(name, if_exists, 'to drop it and add it again', current)
            current = None  # read it again for the next column
            if room is None:
                continue
            self._catalog.add_column(room, name, col_type, None)
            added.append(name)
        if added:
            names = ', '.join(map(repr, added))
            print(f'Added column{"s" if len(added) > 1 else ""} {names} to table {self._name!r}.')
        return UpdateStatus(updated_cols=added)

    def add_computed_column(
        self,
        *,
        on_error: OnError = 'abort',
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
        print_stats: bool = True,
        budget: float | None = None,
        dry_run: bool = False,
        **columns: Any,
    ) -> Any:
        """Add a column computed from others; existing rows are filled in now.

        Examples:
            >>> t.add_computed_column(loud=shout(t.prompt))  # doctest: +SKIP
            Added 2 column values with 0 errors in 0.01 s (180.00 rows/s)
        """
        _check_on_error(on_error)
        if_exists = check_option('if_exists', if_exists, IF_EXISTS)
        current = self._writable('add a computed column to')
        name, value = _one_computed_column(columns)
        check_column_name(name)
        room = current if dry_run else self._make_room(name, if_exists, 'to redefine it', current)
        if room is None:
            return UpdateStatus()
        schema = room
        node = as_node(value)
        if any(isinstance(x, n.Aggregate) for x in node.walk()):
            raise InvalidValueError(
                f'Computed column {name!r} cannot use an aggregate ({render(node)}); aggregates '
                'belong in group_by() queries.'
            )
        for ref in n.column_refs(node):
            if ref.table_id != self._id:
                raise InvalidValueError(
                    f'Computed column {name!r} uses column {ref.name!r} of another table.'
                )
        col_type = node.col_type
        if col_type is None:
            raise TypeMismatchError(
                f'Cannot tell the type of {render(node)!r}; a computed column needs one.'
            )
        if dry_run:  # the column as it would be, on every row; nothing is written
            new = ColumnSchema(-1, name, col_type.copy(nullable=True), node, is_computed=True)
            others = tuple(c for c in schema.columns if c.name != name)
            hypothetical = dataclasses.replace(schema, columns=(*others, new))
            rows = self._stored_rows(schema, None)
            return self._estimate(hypothetical, rows, {-1}, self._paid_options(budget))
        start = time.perf_counter()
        version = self._catalog.add_column(schema, name, col_type.copy(nullable=True), node)
        schema = self._schema()
        try:
            stats = self._compute(
                schema,
                rowids=None,
                on_error=on_error,
                desc=f'Computing {name}',
                paid=self._paid_options(budget),
                version=version,
            )
        except ExecutionError as e:
            resumable = isinstance(e, RunStoppedError) and e.reason in ('storage', 'budget')
            if resumable or self._has_values(schema, name):
                raise  # computed (maybe paid) cells are kept, or pending ones resume
            # The column was never there; if another version came since, drop it instead.
            if revert_latest(self._catalog, self._id, only=version) is None:
                self._remove_column(schema, name)
            raise ExecutionError(
                f'Column {name!r} was not added to table {schema.path!r}: no cell could be '
                f'computed. {e}'.replace(' Finished cells are kept; see', ' See')
            ) from None
        status = UpdateStatus(updated_cols=[name])
        _merge(status, stats)
        if print_stats:
            print(
                _summary(
                    'Added',
                    status.num_computed_values,
                    'column value',
                    status.num_excs,
                    start,
                    status,
                )
            )
        return status

    def _make_room(
        self, name: str, if_exists: str, replacing: str, schema: TableSchema | None = None
    ) -> TableSchema | None:
        """Apply ``if_exists`` to a column about to be added: the schema to add it to.

        None means leave the existing column ('ignore'); 'replace' drops the existing column,
        'replace_force' its dependents too. ``schema``: the current one, if just read.
        """
        schema = schema or self._schema()
        existing = schema.column(name)
        if existing is None:
            return schema
        if if_exists == 'ignore':
            return None
        if if_exists == 'error':
            raise AlreadyExistsError(
                f'Table {schema.path!r} already has a column {name!r}; pass '
                f'if_exists="replace" {replacing}.'
            )
        if if_exists == 'replace_force':
            for d in reversed(schema.dependents(existing.id)):
                self.drop_column(d.name)
        self.drop_column(name)
        return self._schema()

    def _has_values(self, schema: TableSchema, name: str) -> bool:
        """Whether any cell of computed column ``name`` holds a value."""
        col = schema.require(name)
        t = schema.sa_table
        query = sa.select(t.c[ROWID]).where(t.c[col.sql.state] == VALUE).limit(1)
        with self._catalog.store.read() as conn:
            return conn.execute(query).first() is not None

    def _remove_column(self, schema: TableSchema, name: str) -> None:
        self._catalog.remove_column(schema, schema.require(name))

    def drop_column(
        self, column: str | Expr, *, if_not_exists: Literal['error', 'ignore'] = 'error'
    ) -> None:
        """Drop a column (by name or ``t.col``); refused while computed columns use it."""
        if_not_exists = check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
        schema = self._writable('drop a column of')
        name = _column_name(column, schema, 'drop_column')
        if schema.column(name) is None and if_not_exists == 'ignore':
            return
        col = schema.require(name)
        if len(schema.columns) == 1:
            raise InvalidValueError(
                f'Cannot drop {name!r}, the last column of table {schema.path!r}: a table needs '
                f'at least one column. Add another column first, or rv.drop_table({schema.path!r}).'
            )
        dependents = schema.dependents(col.id)
        if dependents:
            names = ', '.join(repr(d.name) for d in dependents)
            raise InvalidValueError(
                f'Cannot drop column {name!r}: computed column(s) {names} use it. Drop those first.'
            )
        if col.mirror_of is not None:
            raise InvalidValueError(
                f'Cannot drop column {name!r} of view {schema.path!r}: it comes from the base '
                'table. Make a view with select() to leave base columns out.'
            )
        users = self._views_using(col.id)
        if users:
            raise InvalidValueError(
                f'Cannot drop column {name!r}: view {users[0]!r} uses it. Drop the view first.'
            )
        self._remove_column(schema, name)
        print(f"Dropped column '{name}' from table '{self._name}'.")

    def add_index(
        self, column: str | Expr, *, if_exists: Literal['error', 'ignore'] = 'error'
    ) -> None:
        """Index a stored scalar column, for fast ``where(t.col == v)`` lookups and ordering.

        Examples:
            >>> t.add_index(t.n)  # doctest: +SKIP
            Added index on column 'n' of table 'scenes'.
        """
        check_option('if_exists', if_exists, ('error', 'ignore'))
        schema = self._writable('add an index to')
        col = self._index_column(schema, column)
        with self._catalog.store.begin() as conn:
            created = self._catalog.store.create_index(conn, schema.sa_table.name, col.sql.value)
        if not created and if_exists == 'error':
            raise AlreadyExistsError(
                f'Column {col.name!r} of table {schema.path!r} already has an index; pass '
                "if_exists='ignore' to accept that."
            )
        if created:
            print(f'Added index on column {col.name!r} of table {self._name!r}.')

    def drop_index(
        self, column: str | Expr, *, if_not_exists: Literal['error', 'ignore'] = 'error'
    ) -> None:
        """Drop the index ``add_index`` put on a column."""
        check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
        schema = self._writable('drop an index of')
        col = self._index_column(schema, column)
        with self._catalog.store.begin() as conn:
            dropped = self._catalog.store.drop_index(conn, schema.sa_table.name, col.sql.value)
        if not dropped and if_not_exists == 'error':
            raise NotFoundError(
                f'Column {col.name!r} of table {schema.path!r} has no index; see t.add_index().'
            )
        if dropped:
            print(f'Dropped index on column {col.name!r} of table {self._name!r}.')

    def _index_column(self, schema: TableSchema, column: str | Expr) -> ColumnSchema:
        if isinstance(column, Expr):
            if not isinstance(column.node, n.ColumnRef) or column.node.table_id != self._id:
                raise InvalidValueError(
                    f'add_index() takes a column of this table, e.g. t.n, got {column!r}.'
                )
            column = column.node.name
        col = schema.require(column)
        if not isinstance(col.col_type, _INDEXABLE):
            raise InvalidValueError(
                f'Column {col.name!r} is {col.col_type}; only String, Int, Float, Bool, '
                'Timestamp and Date columns can be indexed.'
            )
        return col

    def rename_column(self, old: str, new: str) -> None:
        """Rename a column; expressions that use it keep working."""
        schema = self._writable('rename a column of')
        col = schema.require(old)
        check_column_name(new)
        if schema.column(new) is not None:
            raise AlreadyExistsError(f'Table {schema.path!r} already has a column {new!r}.')
        self._catalog.rename_column(schema, col, new)
        print(f"Renamed column '{old}' to '{new}' in table '{self._name}'.")

    def recompute_columns(
        self,
        *columns: str | Expr,
        where: Expr | None = None,
        errors_only: bool = False,
        cascade: bool = True,
        on_error: OnError = 'ignore',
        print_stats: bool = True,
        budget: float | None = None,
        use_cache: bool = False,
        dry_run: bool = False,
    ) -> Any:
        """Compute cells again: all, those matching ``where``, or only error cells.

        With no columns named, finishes pending cells of every computed column (what
        ``reverie resume`` does). Columns that depend on a recomputed column are recomputed
        too (``cascade``). Paid calls are made again (a fresh sample) unless
        ``use_cache=True``; answers already paid for and never written into their cells are
        always taken from the journal. ``budget`` caps the credits spent.
        """
        _check_on_error(on_error)
        schema = self._writable('recompute')
        targets: list[ColumnSchema] = []
        for c in columns:
            col_name = c.node.name if isinstance(c, Expr) and isinstance(c.node, n.ColumnRef) else c
            col = schema.require(str(col_name))
            if not col.is_computed:
                raise InvalidValueError(
                    f'Column {col.name!r} is not computed; nothing to recompute.'
                )
            targets.append(col)
        start = time.perf_counter()
        if dry_run:
            return self._estimate_recompute(
                schema, targets, where, errors_only, cascade, budget, use_cache or not targets
            )
        version = None
        if targets:
            cond = sql_condition(schema, where, 'recompute_columns(where=...)')
            version = reset_cells(
                self._catalog.store, schema, targets, cond, errors_only=errors_only, cascade=cascade
            )
        stats = ComputeStats()
        try:
            stats = self._compute(
                schema,
                rowids=None,
                on_error=on_error,
                desc='Recomputing cells',
                paid=self._paid_options(budget, use_cache=use_cache or not targets),
                version=version,
            )
        finally:
            if version is not None or stats.cells:
                self._propagate(version)
        status = UpdateStatus(updated_cols=[c.name for c in targets])
        _merge(status, stats)
        if print_stats:
            print(
                _summary(
                    'Computed', status.num_computed_values, 'cell', status.num_excs, start, status
                )
            )
        return status

    def update(
        self,
        values: dict[str, Any],
        *,
        where: Expr | None = None,
        cascade: bool = True,
        budget: float | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Set stored columns (to literals or expressions) where ``where`` holds.

        Computed columns that read an updated column are recomputed for those rows.
        """
        schema = self._writable('update', rows=True)
        assignments = update_assignments(schema, values, self._catalog.media)
        cond = sql_condition(schema, where, 'update(where=...)')
        dependents = {
            d.id: d for name in values for d in schema.dependents(schema.require(name).id)
        }
        if dry_run:
            if not cascade:
                return Estimate(0, 0, 0, 0, 0)
            rows = self._stored_rows(schema, cond)
            for row in rows:  # literal new values; expressions keep the old ones
                row.update(
                    {k: v for k, v in assignments.items() if not isinstance(v, sa.ClauseElement)}
                )
            return self._estimate(schema, rows, set(dependents), self._paid_options(budget))
        if cascade:  # without it, computed cells keep their values (as in Pixeltable)
            for d in dependents.values():
                assignments.update(pending_values(d))
        version, count = change_rows(self._catalog.store, schema, cond, assignments)
        status = UpdateStatus(
            num_rows=count,
            updated_cols=[*values, *(d.name for d in dependents.values() if cascade)],
            verb='updated',
        )
        try:
            if dependents and cascade:
                stats = self._compute(
                    schema,
                    rowids=None,
                    on_error='ignore',
                    desc='Recomputing',
                    paid=self._paid_options(budget),
                    version=version,
                )
                _merge(status, stats)
        finally:
            self._propagate(version)
        print(f'Updated {count} row{"" if count == 1 else "s"}{_paid_suffix(status)}.')
        return status

    def delete(self, where: Expr | None = None) -> UpdateStatus:
        """Delete rows where ``where`` holds (all rows without it)."""
        schema = self._writable('delete from', rows=True)
        cond = sql_condition(schema, where, 'delete(where=...)')
        version, count = change_rows(self._catalog.store, schema, cond, None)
        self._propagate(version, schema)
        print(f'Deleted {count} row{"" if count == 1 else "s"} from table {self._name!r}.')
        return UpdateStatus(num_rows=count, verb='deleted')

    def credits_used(self) -> float:
        """Credits every paid call for this table cost, from the ledger of paid calls.

        Counts answered calls and calls that may have been charged (no answer came back);
        it never goes down: deleting rows or recomputing cells does not erase spend.
        """
        ledger = self._catalog.exec.ledger
        if ledger is None:
            return 0
        spent = ledger.spent(self._id)
        return int(spent) if spent.is_integer() else spent

    # -- versions, views -----------------------------------------------------------------
    def history(self, n: int | None = None) -> ResultSet:
        """Every version, newest first, with what it did.

        Columns: version, created_at, kind, rows inserted / updated / deleted, cells
        computed, errors, and paid calls made while it was the latest version.

        Examples:
            >>> t.history()  # doctest: +SKIP
        """
        versions = self.get_versions(n)
        names = [
            'version',
            'created_at',
            'kind',
            'inserted',
            'updated',
            'deleted',
            'computed',
            'errors',
            'paid_calls',
        ]
        types: list[ts.ColumnType | None] = [ts.Int, ts.Timestamp, ts.String, *[ts.Int] * 6]
        return ResultSet(names, types, [[v[k] for v in versions] for k in names])

    def get_versions(self, n: int | None = None) -> list[dict[str, Any]]:
        """``history()`` as dicts (the ``n`` newest, or all), with ``columns`` when it changed."""
        with self._catalog.store.read() as conn:
            log = version_log(conn, self._id)
        if self._version is not None:
            log = [v for v in log if v.version <= self._version]
        log = log[:n] if n is not None else log
        paid = self._paid_calls_per_version(log)
        return [
            {
                'version': v.version,
                'created_at': datetime.datetime.fromtimestamp(v.created_at),
                'kind': v.kind,
                'inserted': v.inserted,
                'updated': v.updated,
                'deleted': v.deleted,
                'computed': v.computed,
                'errors': v.errors,
                'paid_calls': paid.get(v.version, 0),
                'columns': None if v.columns is None else [c['name'] for c in v.columns],
            }
            for v in log
        ]

    def _paid_calls_per_version(self, log: list[VersionRow]) -> dict[int, int]:
        """Paid calls (charged or maybe charged, never cache hits) of each version.

        A call made for a version's cells counts for it (unless that version was reverted and
        its number taken again since); a call made to finish pending cells counts for the
        version that was the latest when it started.
        """
        ledger = self._catalog.exec.ledger
        if ledger is None or not log:
            return {}
        starts = sorted((v.created_at, v.version) for v in log)
        times = [t for t, _ in starts]
        created = dict((v, t) for t, v in starts)
        counts: dict[int, int] = {}
        for when, version in ledger.paid_calls(self._id):
            if version is None:
                i = bisect.bisect_right(times, when) - 1
                version = starts[i][1] if i >= 0 else None
            elif version not in created or when < created[version]:
                version = None  # made for a version that was reverted
            if version is not None:
                counts[version] = counts.get(version, 0) + 1
        return counts

    def revert(self) -> None:
        """Undo the latest version: its rows, its columns and the media files it made.

        Call again to go further back. Refused at version 0 and for a version a snapshot
        pins. Answers of paid calls stay in the journal: computing the same cells again is
        free.
        """
        self._writable('revert')
        reverted = revert_latest(self._catalog, self._id)
        assert reverted is not None
        undone, files = reverted
        self._propagate(None)
        gone = f'; {files} media file{"" if files == 1 else "s"} removed' if files else ''
        print(
            f'Reverted version {undone.version} ({undone.kind}) of {self._kind()} '
            f'{self._name!r}; it is now at version {undone.version - 1}{gone}.'
        )

    def list_views(self) -> list[str]:
        """Paths of the views and snapshots based on this table (directly or not)."""
        with self._catalog.store.read() as conn:
            return [path for _, path, _ in self._catalog.dependents(conn, self._id)]

    def _kind(self) -> str:
        return self._schema().kind

    def _current_version(self) -> int:
        with self._catalog.store.read() as conn:
            return current_version(conn, self._id)

    def _count_cells(self, stats: ComputeStats, version: int | None) -> None:
        """Add a computation's cells and errors to the version it belongs to."""
        if not (stats.cells or stats.errors):
            return
        with self._catalog.store.begin() as conn:
            target = current_version(conn, self._id) if version is None else version
            add_counts(conn, self._id, target, computed=stats.cells, errors=stats.errors)

    def _propagate(
        self,
        version: int | None,
        schema: TableSchema | None = None,
        rows: list[int] | None = None,
    ) -> None:
        """Bring this table's views in line with the rows ``version`` wrote (None: every row).

        ``schema``: the one the write used, if at hand (its ``views`` are current);
        ``rows``: the rows ``version`` wrote, when known (else they are looked up).
        """
        schema = schema or self._schema()
        self._sync_indexes(version, schema, rows)  # embedding indexes (issue 23)
        views = list(schema.views)
        if not views:
            return
        if rows is None and version is not None:
            assert schema.history is not None
            with self._catalog.store.read() as conn:
                rows = version_rows(conn, schema.sa_table, schema.history, version)
        self._sync_views(views, rows)

    def _sync_views(self, views: list[int], rows: list[int] | None) -> None:
        """Sync each view's rows (``rows``, or all), then compute and pass the changes on.

        A view computes its own cells for the rows that changed; views of the view follow.
        """
        for view_id in views:
            view = Table(self._catalog, view_id)
            view_schema = view._schema()
            touched = sync_rows(self._catalog, view_schema, rows)
            if not touched and rows is not None:
                continue
            if view_schema.computed():  # the rows the sync touched (all, after a full sync)
                view._compute(
                    view_schema,
                    rowids=touched if rows is not None else None,
                    on_error='ignore',
                    desc=f'Computing view {view_schema.name}',
                    paid=view._paid_options(None),
                )
            view._sync_indexes(None, view_schema, touched if rows is not None else None)
            children = list(view._schema().views)
            if children:
                view._sync_views(children, touched if rows is not None else None)

    def _views_using(self, column_id: int) -> list[str]:
        """Paths of the views and snapshots whose columns or filter use a column of this table."""
        with self._catalog.store.read() as conn:
            ids = (
                conn.execute(
                    sa.select(derived_table.c.table_id).where(derived_table.c.base_id == self._id)
                )
                .scalars()
                .all()
            )
        found = []
        for view_id in ids:
            view = self._catalog.schema(int(view_id))
            d = derivation(self._catalog, view)
            used = {c.mirror_of for c in view.columns}
            if d.predicate is not None:
                used |= {r.column_id for r in n.column_refs(d.predicate)}
            if column_id in used:
                found.append(view.path)
        return found

    # -- paid-call layer ------------------------------------------------------------------
    def _estimate(
        self,
        schema: TableSchema,
        rows: Sequence[dict[str, Any]],
        targets: set[int] | None,
        options: PaidOptions,
    ) -> Estimate:
        """A dry run: what computing ``targets`` of ``rows`` would cost (prints one line)."""
        ctx = self._catalog.exec
        assert ctx.config is not None and ctx.ledger is not None
        config = ctx.settings()
        options.dry_run = True
        paid = PaidRun(config, ctx.ledger, ctx.media, ctx.pools, options, self._id)
        estimate = run_sync(
            estimate_cells(paid, schema, rows, targets, concurrency=config.reve.max_concurrency)
        )
        print(estimate)
        return estimate

    def _stored_rows(self, schema: TableSchema, cond: Any) -> list[dict[str, Any]]:
        t = schema.sa_table
        query = sa.select(t)
        if cond is not None:
            query = query.where(cond)
        with self._catalog.store.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _estimate_recompute(
        self,
        schema: TableSchema,
        targets: list[ColumnSchema],
        where: Expr | None,
        errors_only: bool,
        cascade: bool,
        budget: float | None,
        use_cache: bool,
    ) -> Estimate:
        options = self._paid_options(budget, use_cache=use_cache)
        if not targets:  # the pending cells (`reverie estimate TABLE`)
            return self._estimate(schema, self._stored_rows(schema, None), None, options)
        ids = {c.id for c in targets}
        if cascade:
            ids |= {d.id for c in targets for d in schema.dependents(c.id)}
        cond = sql_condition(schema, where, 'recompute_columns(where=...)')
        if errors_only:
            errors = sa.or_(*(schema.sql_col(c.sql.state) == ERROR_STATE for c in targets))
            cond = errors if cond is None else sa.and_(cond, errors)
        return self._estimate(schema, self._stored_rows(schema, cond), ids, options)

    def _paid_options(self, budget: float | None, *, use_cache: bool = True) -> PaidOptions:
        if budget is not None and not budget >= 0:
            raise InvalidValueError(f'budget must be a number of credits >= 0, got {budget!r}.')
        default = self._catalog.exec.settings().budget_credits
        return PaidOptions(budget=budget if budget is not None else default, use_cache=use_cache)

    # -- embedding indexes (issue 23): thin delegates to catalog/indexes.py ---------------
    # Its modules are imported where used: numpy and the vector code load only for tables
    # with an index.
    def add_embedding_index(
        self,
        column: str | Expr,
        *,
        idx_name: str | None = None,
        embedding: EmbeddingFn | None = None,
        string_embed: EmbeddingFn | None = None,
        image_embed: EmbeddingFn | None = None,
        metric: Literal['cosine', 'ip', 'l2'] = 'cosine',
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
    ) -> None:
        """Add an embedding index on ``column``, for ``t.col.similarity(...)`` in queries.

        ``embedding`` embeds the column's values (and query items of the same kind);
        ``string_embed`` / ``image_embed`` name one per kind (CLIP: text and images).
        ``metric``: 'cosine' and 'ip' give a similarity (sort with ``asc=False``), 'l2' a
        distance. The index follows inserts, updates, deletes, reverts and versions.

        Examples:
            >>> t.add_embedding_index('img', string_embed=clip.embed_text,
            ...     image_embed=clip.embed_image)  # doctest: +SKIP
            >>> sim = t.img.similarity('a red fox')  # doctest: +SKIP
            >>> t.order_by(sim, asc=False).limit(5).select(t.img, sim).collect()  # doctest: +SKIP
        """
        from reverie.catalog import indexes

        schema = self._writable('add an index to')
        indexes.add_embedding_index(
            self._catalog,
            schema,
            column,
            idx_name=idx_name,
            embedding=embedding,
            string_embed=string_embed,
            image_embed=image_embed,
            metric=metric,
            if_exists=if_exists,
        )

    def drop_embedding_index(
        self,
        *,
        column: str | Expr | None = None,
        idx_name: str | None = None,
        if_not_exists: Literal['error', 'ignore'] = 'error',
    ) -> None:
        """Drop the embedding index on ``column`` (its only one) or the one named ``idx_name``."""
        from reverie.catalog import indexes

        indexes.drop_embedding_index(
            self._catalog,
            self._writable('drop an index of'),
            column=column,
            idx_name=idx_name,
            if_not_exists=if_not_exists,
        )

    def near_duplicates(
        self,
        column: str | Expr,
        *,
        threshold: float = 0.95,
        idx: str | None = None,
        select: Sequence[Any] | None = None,
    ) -> ResultSet:
        """Rows whose ``column`` is nearly the same as another's, grouped into clusters.

        Uses the column's embedding index: rows with similarity >= ``threshold`` (cosine,
        ip) or distance <= ``threshold`` (l2) are linked, and linked rows form a cluster.
        Returns ``cluster`` (0 = the largest) and the ``select`` expressions (default: every
        column), one row per member, in insertion order within a cluster. See docs/search.md.
        """
        from reverie.catalog.similarity import near_duplicates

        return near_duplicates(
            self._catalog, self._schema(), column, threshold=threshold, idx=idx, select=select
        )

    def _sync_indexes(
        self, version: int | None, schema: TableSchema, rows: Sequence[int] | None
    ) -> None:
        """The hook after each write: embedding indexes embed what the write changed."""
        with self._catalog.store.read() as conn:
            if not has_indexes(conn, schema.id):
                return
        from reverie.catalog import indexes

        if not rows and version is not None and schema.history is not None:
            with self._catalog.store.read() as conn:
                rows = version_rows(conn, schema.sa_table, schema.history, version)
        indexes.after_write(self._catalog, schema.id, rows)


_INDEXABLE = (
    ts.StringType,
    ts.IntType,
    ts.FloatType,
    ts.BoolType,
    ts.TimestampType,
    ts.DateType,
)


def _summary(
    verb: str, count: int, noun: str, errors: int, start: float, status: UpdateStatus | None = None
) -> str:
    """Pixeltable's wording: 'Inserted 3 rows with 0 errors in 0.02 s (150.00 rows/s)'.

    When the operation made paid calls: '...; 20 paid calls, 480 credits'.
    """
    elapsed = time.perf_counter() - start
    return (
        f'{verb} {count} {noun}{"" if count == 1 else "s"} with {errors} '
        f'error{"" if errors == 1 else "s"} in {elapsed:.2f} s '
        f'({count / max(elapsed, 1e-9):.2f} rows/s){_paid_suffix(status)}'
    )


# Pixeltable options of add_computed_column that reverie does not have (yet).
_UNSUPPORTED_OPTIONS = {
    'stored': 'every computed column is stored; stored=False is not supported yet',
    'destination': 'media always go to the media store; destination= is not supported',
}


def _one_computed_column(columns: dict[str, Any]) -> tuple[str, Any]:
    """The one ``name=expression`` of add_computed_column, or an error saying what is wrong."""
    for option, why in _UNSUPPORTED_OPTIONS.items():
        if option in columns and not isinstance(columns[option], Expr):
            raise InvalidValueError(f'add_computed_column({option}=...): {why}.')
    if not columns:
        raise InvalidValueError(
            'add_computed_column() needs a name=expression, e.g. '
            't.add_computed_column(loud=shout(t.prompt)).'
        )
    if len(columns) > 1:
        names = ', '.join(map(repr, columns))
        raise InvalidValueError(
            f'add_computed_column() adds one column at a time; got {len(columns)}: {names}. '
            'Call it once per column.'
        )
    ((name, value),) = columns.items()
    return name, value


def _mirrored_name(base: TableSchema, column_id: int) -> str:
    """The name of the base column a view column mirrors ('?' if it is gone)."""
    found = [c.name for c in base.columns if c.id == column_id]
    return found[0] if found else '?'


def _column_name(column: str | Expr, schema: TableSchema, what: str) -> str:
    """The name of a column given by name or as ``t.col`` (of this table)."""
    if isinstance(column, str):
        return column
    node = column.node if isinstance(column, Expr) else None
    if not isinstance(node, n.ColumnRef) or node.table_id != schema.id:
        raise InvalidValueError(
            f'{what}() takes a column name or a column of table {schema.path!r} such as '
            f't.{schema.columns[0].name}, got {column!r}.'
        )
    current = [c.name for c in schema.columns if c.id == node.column_id]
    return current[0] if current else node.name  # renamed since: the current name


def _paid_suffix(status: UpdateStatus | None) -> str:
    """'; 20 paid calls, 480 credits' when the operation went through the paid-call layer."""
    paid = status.paid if status is not None else None
    if paid is None or not (paid.paid_calls or paid.cache_hits or paid.recovered):
        return ''
    return f'; {paid.summary()}'


def _stop_gently(runs: list[Any]) -> bool:
    """First Ctrl-C (paid-call layer): send nothing new, wait for the calls in flight."""
    paid = runs[0].paid if runs else None
    if paid is None or paid.in_flight == 0:
        return False
    paid.stopping = True
    print(
        f'Stopping: no new paid calls; waiting for {paid.in_flight} in flight (their answers '
        'are saved). Press Ctrl-C again to stop at once.',
        flush=True,
    )
    return True


def _check_on_error(on_error: str) -> None:
    if on_error not in ('abort', 'ignore'):
        raise InvalidValueError(f"on_error must be 'abort' or 'ignore', got {on_error!r}.")


def _merge(status: UpdateStatus, stats: ComputeStats) -> None:
    status.paid = stats.paid
    status.num_computed_values += stats.cells
    status.num_excs += stats.errors
    status.cols_with_excs = sorted(set(status.cols_with_excs) | stats.cols_with_errors)
