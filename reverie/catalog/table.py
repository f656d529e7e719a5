"""``Table``: the handle users hold on a table, a view or a snapshot.

``t.prompt`` is a column expression; ``t.insert``, ``t.add_computed_column``,
``t.select(...).collect()`` and friends check their arguments here and ask the modules
that do the work: ``columns`` (schema changes), ``runs`` (computing cells), ``propagate``
(views), ``estimates`` (dry runs), ``history`` (versions, revert), ``indexes``. A handle
keeps only the catalog, the table's id and a pinned version; it reads the schema afresh
each time, so it notices changes made by other handles or processes.
"""

from __future__ import annotations

from typing import Any, Literal

from reverie.catalog import columns, describe, history, indexes, writes
from reverie.catalog.catalog import Catalog
from reverie.catalog.changes import (
    sql_condition,
)
from reverie.catalog.options import check_if_exists, check_if_not_exists, check_option
from reverie.catalog.paths import name_of
from reverie.catalog.query import Query, TableReads
from reverie.catalog.runs import Operation, check_on_error
from reverie.catalog.search_methods import SearchMethods
from reverie.catalog.status import UpdateStatus
from reverie.display.html import schema_html
from reverie.display.resultset import ResultSet
from reverie.display.show import show
from reverie.display.text import text_table
from reverie.errors import InvalidValueError, NotFoundError
from reverie.exec.evaluator import OnError
from reverie.exec.schema import TableSchema
from reverie.exec.worker import Done, Job
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, NamedExpr
from reverie.functions.paid import UNITS, Budget
from reverie.io.sources import RowSource

# Pixeltable Table methods reverie lacks, with what to do instead: t.join must not read as
# "no column 'join'". docs/divergences.md lists them too.
NOT_IN_REVERIE = {
    'join': 'A query reads one table; join in pandas (t.to_pandas()) for now.',
    'batch_update': 'Call t.update({...}, where=...) per group of rows, or t.insert(...).',
    'link_external_store': 'There are no external stores (Label Studio, ...).',
    'unlink_external_stores': 'There are no external stores (Label Studio, ...).',
    'external_stores': 'There are no external stores (Label Studio, ...).',
    'sync': 'There are no external stores to sync with.',
    'get_base_table': "get_metadata()['base'] gives the base table's path.",
}


class Table(TableReads, SearchMethods):
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
        """The schema, when ``what`` may change this table; a clear error otherwise."""
        return writes.writable(self._catalog, self._id, self._version, what, rows=rows)

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
        """Column names in order (``stored=False`` columns last)."""
        schema = self._schema()
        return [c.name for c in (*schema.columns, *schema.unstored)]

    def get_metadata(self) -> dict[str, Any]:
        """What Pixeltable's ``get_metadata()`` tells: name, path, version and each column.

        Examples:
            >>> t.get_metadata()['columns']['prompt']['type_']  # doctest: +SKIP
            'String'
        """
        return describe.metadata(self._catalog, self._schema(), self._version)

    def __getattr__(self, name: str) -> Expr:
        if name.startswith('_'):
            raise AttributeError(name)
        if name in NOT_IN_REVERIE and self._schema().column(name) is None:
            raise AttributeError(
                f"Table has no method {name!r}: Pixeltable's Table.{name}() does not exist in "
                f'reverie. {NOT_IN_REVERIE[name]} See docs/divergences.md, "Not in reverie".'
            )
        return self[name]

    def __getitem__(self, name: str) -> Expr:
        at = self._version  # a dropped table: NotFoundError, as in Pixeltable
        schema = self._schema() if at is not None else self._catalog.schema_having(self._id, name)
        unstored = schema.unstored_column(name)
        if unstored is not None and unstored.expr is not None:
            return NamedExpr(unstored.expr, name)  # stored=False: computed when read
        try:
            col = schema.require(name)
        except NotFoundError as e:
            raise AttributeError(str(e)) from None  # so hasattr() and getattr() work
        return ColumnExpr(col.ref(self._id), self)

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
        rows = describe.schema_rows(self._catalog, schema, self._version)
        return describe.caption(self._catalog, schema, self._version), describe.HEADER, rows

    # -- queries (the rest come from ``TableReads``) ---------------------------------
    def _query(self) -> Query:
        return Query(self._catalog, self._id, version=self._version)

    # -- writes ------------------------------------------------------------------------
    def insert(
        self,
        rows: RowSource | None = None,
        /,
        *,
        on_error: OnError = 'abort',
        print_stats: bool = True,
        budget: float | Budget | None = None,
        dry_run: bool = False,
        **values: Any,
    ) -> Any:
        """Insert rows: a list of dicts, keyword values, a DataFrame or a CSV/Parquet/JSON file.

        Every value is checked first; with ``on_error='abort'`` one bad row refuses the whole
        insert and nothing is written, with ``'ignore'`` the good rows go in and the status
        counts the rejected ones. Computed columns are then filled in for the new rows, and
        those of the views that take them. Relative image paths in a file are read relative
        to the file's folder. ``budget`` caps the credits its paid calls may spend, views
        included (default: REVERIE_BUDGET_CREDITS). ``dry_run=True`` inserts nothing, sends
        nothing and returns an ``Estimate``.
        """
        check_on_error(on_error)
        schema = self._writable('insert into', rows=True)
        rows = writes.rows_of(schema, rows, values)
        op = Operation.of(self._catalog, budget)
        return writes.insert(
            self._catalog,
            schema,
            rows,
            op,
            on_error=on_error,
            print_stats=print_stats,
            dry_run=dry_run,
        )

    def add_column(
        self,
        *,
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
        **columns: Any,
    ) -> UpdateStatus:
        """Add stored (non-computed) columns: ``t.add_column(caption=rv.String | None)``.

        ``if_exists``: 'error', 'ignore' (keep the column), 'replace' (drop it and add it
        again, empty; refused while computed columns use it) or 'replace_force' (also drop
        the computed columns that use it).
        """
        if not columns:
            raise InvalidValueError(
                'add_column() needs name=type, e.g. t.add_column(caption=rv.String | None).'
            )
        return self.add_columns(columns, if_exists=if_exists)

    def add_columns(
        self,
        schema: dict[str, Any],
        *,
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
    ) -> UpdateStatus:
        """Add several stored columns: ``t.add_columns({'a': rv.Int, 'b': rv.String})``."""
        if_exists = check_if_exists(if_exists)
        current = self._writable('add columns to')
        return columns.add_columns(self._catalog, current, schema, if_exists)

    def add_computed_column(
        self,
        *,
        stored: bool = True,
        on_error: OnError = 'abort',
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
        print_stats: bool = True,
        budget: float | Budget | None = None,
        dry_run: bool = False,
        **new: Any,
    ) -> Any:
        """Add a column computed from others; existing rows are filled in now.

        ``budget`` caps the credits its paid calls may spend; ``dry_run=True`` adds
        nothing, sends nothing and returns an ``Estimate``. ``stored=False`` (as in
        Pixeltable) stores nothing: the column is computed whenever it is read (not for
        paid or rate-limited functions, which would be paid on every read).

        Examples:
            >>> t.add_computed_column(loud=shout(t.prompt))  # doctest: +SKIP
            Added 2 column values with 0 errors in 0.01 s (180.00 rows/s)
        """
        op = Operation.of(self._catalog, budget)
        request = columns.ComputedRequest(if_exists, op, on_error, print_stats, stored)
        current = self._writable('add a computed column to')
        name, value = columns.one_computed_column(new)
        if dry_run:
            return columns.estimate_new_column(self._catalog, current, name, value, request)
        return columns.add_computed(self._catalog, current, name, value, request)

    def drop_column(
        self, column: str | Expr, *, if_not_exists: Literal['error', 'ignore'] = 'error'
    ) -> None:
        """Drop a column (by name or ``t.col``); refused while computed columns use it."""
        if_not_exists = check_if_not_exists(if_not_exists)
        schema = self._writable('drop a column of')
        node = column.node if isinstance(column, Expr) else None
        if isinstance(node, n.ColumnRef) and node.table_id != schema.id:
            if if_not_exists == 'ignore':
                return
            raise NotFoundError(  # as in Pixeltable: another table's column is unknown here
                f'Unknown column: {node.name} (a column of another table, not of {schema.path!r}).'
            )
        name = _column_name(column, schema, 'drop_column')
        if schema.column(name) is None and if_not_exists == 'ignore':
            return
        columns.drop_column(self._catalog, schema, name)

    def rename_column(self, old: str, new: str) -> None:
        """Rename a column; expressions that use it keep working."""
        columns.rename_column(self._catalog, self._writable('rename a column of'), old, new)

    def add_index(
        self, column: str | Expr, *, if_exists: Literal['error', 'ignore'] = 'error'
    ) -> None:
        """Index a stored scalar column, for fast ``where(t.col == v)`` lookups and ordering.

        Examples:
            >>> t.add_index(t.n)  # doctest: +SKIP
            Added index on column 'n' of table 'scenes'.
        """
        check_option('if_exists', if_exists, ('error', 'ignore'))
        indexes.add_index(self._catalog, self._writable('add an index to'), column, if_exists)

    def drop_index(
        self, column: str | Expr, *, if_not_exists: Literal['error', 'ignore'] = 'error'
    ) -> None:
        """Drop the index ``add_index`` put on a column."""
        check_if_not_exists(if_not_exists)
        schema = self._writable('drop an index of')
        indexes.drop_index(self._catalog, schema, column, if_not_exists)

    def recompute_columns(
        self,
        *columns: str | Expr,
        where: Expr | None = None,
        errors_only: bool = False,
        cascade: bool = True,
        on_error: OnError = 'ignore',
        print_stats: bool = True,
        budget: float | Budget | None = None,
        use_cache: bool = False,
        dry_run: bool = False,
    ) -> Any:
        """Compute cells again: all, those matching ``where``, or only error cells.

        With no columns named, finishes pending cells of every computed column (what
        ``reverie resume`` does). Columns that depend on a recomputed column are recomputed
        too (``cascade``), in this table and in its views. Paid calls are made again (a
        fresh sample) unless ``use_cache=True``; answers already paid for and never written
        into their cells are always taken from the journal. ``budget`` caps the credits
        spent; ``dry_run=True`` changes nothing and returns an ``Estimate``.
        """
        check_on_error(on_error)
        schema = self._writable('recompute')
        names = [_column_name(c, schema, 'recompute_columns') for c in columns]
        if errors_only and len(names) > 1:  # as in Pixeltable
            raise InvalidValueError(
                'Cannot use errors_only=True with multiple columns: recompute one column at a '
                'time, or name none to finish every pending cell.'
            )
        targets = writes.computed_targets(schema, names)
        op = Operation.of(self._catalog, budget, use_cache=use_cache or not targets)
        cond = sql_condition(schema, where, 'recompute_columns(where=...)')
        return writes.recompute(
            self._catalog,
            schema,
            targets,
            cond,
            op,
            errors_only=errors_only,
            cascade=cascade,
            on_error=on_error,
            print_stats=print_stats,
            dry_run=dry_run,
        )

    def update(
        self,
        values: dict[str, Any],
        *,
        where: Expr | None = None,
        cascade: bool = True,
        budget: float | Budget | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Set stored columns (to literals or expressions) where ``where`` holds.

        Computed columns that read an updated column are recomputed for those rows, in this
        table and in its views; ``budget`` caps what their paid calls spend, and
        ``dry_run=True`` changes nothing and returns an ``Estimate``.
        """
        schema = self._writable('update', rows=True)
        cond = sql_condition(schema, where, 'update(where=...)')
        op = Operation.of(self._catalog, budget)
        return writes.update(
            self._catalog, schema, values, cond, op, cascade=cascade, dry_run=dry_run
        )

    def delete(self, where: Expr | None = None) -> UpdateStatus:
        """Delete rows where ``where`` holds (all rows without it)."""
        schema = self._writable('delete from', rows=True)
        return writes.delete(
            self._catalog, schema, sql_condition(schema, where, 'delete(where=...)')
        )

    def credits_used(self) -> float:
        """Credits (Reve's unit, never USD) every paid call for this table cost, from the ledger.

        Counts answered calls and calls that may have been charged (no answer came back);
        it never goes down: deleting rows or recomputing cells does not erase spend.
        """
        return self.spend()['credits']

    def spend(self) -> dict[str, float]:
        """What every paid call for this table cost, per unit: ``{'credits': 54, 'usd': 0.36}``.

        Reve bills credits, OpenAI, Gemini and BFL bill USD; the two are never added.
        """
        ledger = self._catalog.exec.ledger
        spend = ledger.report.spend(self._id) if ledger is not None else dict.fromkeys(UNITS, 0.0)
        return {u: int(v) if v.is_integer() else v for u, v in spend.items()}

    # -- versions, views -----------------------------------------------------------------
    def history(self, n: int | None = None) -> ResultSet:
        """Every version, newest first, with what it did.

        Columns: version, created_at, kind, rows inserted / updated / deleted, cells
        computed, errors, and paid calls made while it was the latest version.

        Examples:
            >>> t.history()  # doctest: +SKIP
        """
        return history.history(self._catalog, self._id, self._version, n)

    def get_versions(self, n: int | None = None) -> list[dict[str, Any]]:
        """``history()`` as dicts (the ``n`` newest, or all), with ``columns`` when it changed."""
        return history.get_versions(self._catalog, self._id, self._version, n)

    def revert(self) -> None:
        """Undo the latest version: its rows, its columns and the media files it made.

        Call again to go further back. Refused at version 0 and for a version a snapshot
        pins. Answers of paid calls stay in the journal: computing the same cells again is
        free.
        """
        self._writable('revert')
        history.revert(self._catalog, self._id)

    def list_views(self) -> list[str]:
        """Paths of the views and snapshots based on this table (directly or not)."""
        with self._catalog.store.read() as conn:
            return [path for _, path, _ in self._catalog.dependents(conn, self._id)]


class ColumnExpr(Expr):
    """``t.col``: a column expression that also knows its table, for ``t.col.recompute()``."""

    __slots__ = ('_table',)

    def __init__(self, node: n.ColumnRef, table: Table) -> None:
        super().__init__(node)
        self._table = table

    def recompute(
        self, *, cascade: bool = True, errors_only: bool = False, print_stats: bool = True
    ) -> Any:
        """Pixeltable's ``t.col.recompute()``: ``t.recompute_columns(t.col, ...)``."""
        return self._table.recompute_columns(
            self, cascade=cascade, errors_only=errors_only, print_stats=print_stats
        )


def _column_name(column: str | Expr, schema: TableSchema, what: str) -> str:
    """The name of a column given by name or as ``t.col`` (of this table)."""
    if isinstance(column, str):
        return column
    if isinstance(column, NamedExpr):
        return column.result_name
    node = column.node if isinstance(column, Expr) else None
    if not isinstance(node, n.ColumnRef) or node.table_id != schema.id:
        raise InvalidValueError(
            f'{what}() takes a column name or a column of table {schema.path!r} such as '
            f't.{schema.columns[0].name}, got {column!r}.'
        )
    current = [c.name for c in schema.columns if c.id == node.column_id]
    return current[0] if current else node.name  # renamed since: the current name


def worker_job(t: Table) -> Job:
    """What ``reverie worker`` does for ``t``: finish its pending cells (and its views')."""

    def finish() -> Done:
        status = t.recompute_columns(print_stats=False)
        return Done(status.num_computed_values, status.num_excs)

    return Job(t._path, t._schema, finish)
