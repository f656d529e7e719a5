"""Changing a table's columns: add (stored or computed), drop and rename.

``if_exists`` is applied here (``make_room``), and a computed column is checked (no
aggregate, no column of another table, a known type) before anything is written. A new
computed column is filled in at once; when no cell of it could be computed, it is taken
away again, so a failed ``add_computed_column`` leaves the table as it was.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog import definitions
from reverie.catalog.catalog import Catalog
from reverie.catalog.estimates import estimate, stored_rows
from reverie.catalog.options import check_if_exists, keep_existing
from reverie.catalog.paths import check_column_name, name_of
from reverie.catalog.propagate import views_using
from reverie.catalog.revert import revert_latest
from reverie.catalog.runs import Operation, check_on_error, compute, finish
from reverie.catalog.status import UpdateStatus
from reverie.errors import (
    AlreadyExistsError,
    ExecutionError,
    InvalidValueError,
    RunStoppedError,
    TypeMismatchError,
)
from reverie.exec.evaluator import OnError
from reverie.exec.planner import is_external
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, as_node
from reverie.exprs.render import render
from reverie.store.db import ROWID, VALUE
from reverie.store.vector_tables import drop_ann_files

# Pixeltable options of add_computed_column that reverie does not have (yet).
_UNSUPPORTED_OPTIONS = {
    'destination': 'media always go to the media store; destination= is not supported',
}


def add_columns(
    catalog: Catalog, schema: TableSchema, columns: dict[str, Any], if_exists: str
) -> UpdateStatus:
    """Add stored columns (name to type) to the table of ``schema``."""
    if not isinstance(columns, dict) or not columns:
        raise InvalidValueError(
            "add_columns() needs a non-empty dict of name to type, e.g. {'a': rv.Int}."
        )
    checked = [(check_column_name(k), ts.to_column_type(v)) for k, v in columns.items()]
    current: TableSchema | None = schema
    added = []
    for name, col_type in checked:
        if not col_type.nullable and _has_rows(catalog, schema):  # empty: fine, as in Pixeltable
            raise InvalidValueError(
                f'Cannot add non-nullable column {name!r} ({col_type}) to table '
                f'{name_of(schema.path)!r} with existing rows: they have no value for it. '
                f'Declare it nullable instead: {name}=rv.{col_type.copy(nullable=True)}.'
            )
        room = make_room(
            catalog, schema.id, name, if_exists, 'to drop it and add it again', current
        )
        current = None  # read it again for the next column
        if room is None:
            continue
        definitions.add_column(catalog.store, room, name, col_type, None)
        added.append(name)
    if added:
        names = ', '.join(map(repr, added))
        print(
            f'Added column{"s" if len(added) > 1 else ""} {names} to table '
            f'{name_of(schema.path)!r}.'
        )
    return UpdateStatus(updated_cols=added)


def one_computed_column(columns: dict[str, Any]) -> tuple[str, Any]:
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
    return check_column_name(name), value


def computed_column(schema: TableSchema, name: str, value: Any) -> tuple[n.Node, ts.ColumnType]:
    """The expression of a new computed column and its type, checked."""
    node = as_node(value)
    if any(isinstance(x, n.Aggregate) for x in node.walk()):
        raise InvalidValueError(
            f'Computed column {name!r} cannot use an aggregate ({render(node)}); aggregates '
            'belong in group_by() queries.'
        )
    for ref in n.column_refs(node):
        if ref.table_id != schema.id:
            raise InvalidValueError(
                f'Computed column {name!r} uses column {ref.name!r} of another table.'
            )
    col_type = node.col_type
    if col_type is None:
        raise TypeMismatchError(
            f'Cannot tell the type of {render(node)!r}; a computed column needs one.'
        )
    return node, computed_type(node)


def computed_type(node: n.Node) -> ts.ColumnType:
    """A computed column's type: the expression's, nullable where it can give None."""
    col_type = n.result_type(node)
    assert col_type is not None
    return col_type


def add_unstored_column(
    catalog: Catalog, schema: TableSchema, name: str, node: n.Node
) -> UpdateStatus:
    """Add a ``stored=False`` column: its expression is computed whenever it is read.

    Calls of external services (paid functions, pooled UDFs) are refused: they would be
    sent, and paid for, again on every read.
    """
    external = [c for c in node.walk() if isinstance(c, n.FunctionCall) and is_external(c)]
    if external:
        raise InvalidValueError(
            f'Column {name!r} cannot be stored=False: it calls {external[0].fn.name}(), an '
            'external (paid or rate-limited) service, which would be called and paid for '
            'again on every read. Add it stored (the default): each cell is paid once.'
        )
    definitions.add_column(catalog.store, schema, name, computed_type(node), node, stored=False)
    print(f'Added unstored column {name!r} to table {name_of(schema.path)!r} (computed when read).')
    return UpdateStatus(updated_cols=[name])


def estimate_computed_column(
    catalog: Catalog, schema: TableSchema, name: str, node: n.Node, op: Operation
) -> Any:
    """The dry run of adding a computed column: the column as it would be, on every row."""
    new = ColumnSchema(-1, name, computed_type(node), node, is_computed=True)
    others = tuple(c for c in schema.columns if c.name != name)
    hypothetical = dataclasses.replace(schema, columns=(*others, new))
    return estimate(catalog, hypothetical, stored_rows(catalog, schema, None), {-1}, op)


@dataclasses.dataclass(frozen=True)
class ComputedRequest:
    """How ``add_computed_column`` was asked to add its column."""

    if_exists: str
    op: Operation
    on_error: OnError
    print_stats: bool
    stored: bool = True

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        object.__setattr__(self, 'if_exists', check_if_exists(self.if_exists))
        if not isinstance(self.stored, bool):
            raise InvalidValueError(
                f'stored must be True or False, got {self.stored!r} (stored is '
                "add_computed_column's own keyword, as in Pixeltable: name the column otherwise)."
            )


def estimate_new_column(
    catalog: Catalog,
    current: TableSchema,
    name: str,
    value: Any,
    request: ComputedRequest,
) -> Any:
    """The ``Estimate`` of adding the column (``dry_run=True``): nothing added or sent."""
    if not request.stored:
        raise InvalidValueError(
            'add_computed_column(stored=False, dry_run=True): nothing to price; an '
            'unstored column computes nothing now and calls no paid function.'
        )
    node, _ = computed_column(current, name, value)
    return estimate_computed_column(catalog, current, name, node, request.op)


def add_computed(
    catalog: Catalog,
    current: TableSchema,
    name: str,
    value: Any,
    request: ComputedRequest,
) -> UpdateStatus:
    """Add the column (replacing one of that name if asked) and fill it, unless unstored."""
    room = make_room(catalog, current.id, name, request.if_exists, 'to redefine it', current)
    if room is None:
        return UpdateStatus()
    node, _ = computed_column(room, name, value)
    if not request.stored:
        return add_unstored_column(catalog, room, name, node)
    return fill_computed_column(
        catalog,
        room,
        name,
        node,
        request.op,
        on_error=request.on_error,
        print_stats=request.print_stats,
    )


def fill_computed_column(
    catalog: Catalog,
    schema: TableSchema,
    name: str,
    node: n.Node,
    op: Operation,
    *,
    on_error: OnError,
    print_stats: bool,
) -> UpdateStatus:
    """Add the computed column ``name`` and compute it for every row (or take it away)."""
    start = time.perf_counter()
    version = definitions.add_column(catalog.store, schema, name, computed_type(node), node)
    schema = catalog.schema(schema.id)
    try:
        stats = compute(
            catalog, schema, op, on_error=on_error, desc=f'Computing {name}', version=version
        )
    except ExecutionError as e:
        resumable = isinstance(e, RunStoppedError) and e.reason in ('storage', 'budget')
        if resumable or _has_values(catalog, schema, name):
            raise  # computed (maybe paid) cells are kept, or pending ones resume
        # The column was never there; if another version came since, drop it instead.
        if revert_latest(catalog, schema.id, only=version) is None:
            definitions.remove_column(catalog.store, schema, schema.require(name))
        raise ExecutionError(
            f'Column {name!r} was not added to table {schema.path!r}: no cell could be '
            f'computed. {_cause(str(e))} Fix the cause and add the column again, or add it '
            "with on_error='ignore' to keep the errors in its cells."
        ) from None
    status = UpdateStatus(updated_cols=[name])
    return finish(status, stats, 'Added', 'column value', start, print_stats)


_ADVICE = (
    ' Finished cells are kept',
    ' The run stopped;',
    ' Resume with',
    ' nothing more was sent.',
)


def _cause(message: str) -> str:
    """A run's error without its advice: the column it speaks of (errormsg, resume) is gone."""
    cut = min((i for a in _ADVICE if (i := message.find(a)) >= 0), default=len(message))
    return message[:cut].rstrip().rstrip('.') + '.'


def make_room(
    catalog: Catalog,
    table_id: int,
    name: str,
    if_exists: str,
    replacing: str,
    schema: TableSchema | None = None,
) -> TableSchema | None:
    """Apply ``if_exists`` to a column about to be added: the schema to add it to.

    None means leave the existing column ('ignore'); 'replace' drops the existing column,
    'replace_force' its dependents too. ``schema``: the current one, if just read.
    """
    schema = schema or catalog.schema(table_id)
    existing = schema.column(name) or schema.unstored_column(name)
    if existing is None:
        return schema
    taken = (
        f'Table {schema.path!r} already has a column {name!r}; pass '
        f'if_exists="replace" {replacing}.'
    )
    if keep_existing(if_exists, taken):
        return None
    dependents = schema.dependents(existing.id)
    if if_exists == 'replace' and dependents:  # Pixeltable: COLUMN_ALREADY_EXISTS
        names = ', '.join(d.name for d in dependents)
        raise AlreadyExistsError(
            f'Column {name!r} already exists in table {schema.path!r} and cannot be replaced '
            f'because the following columns depend on it: {names}. Pass '
            "if_exists='replace_force' to drop them too."
        )
    if if_exists == 'replace_force':
        for d in reversed(dependents):
            drop_column(catalog, catalog.schema(table_id), d.name)
    drop_column(catalog, catalog.schema(table_id), name)
    return catalog.schema(table_id)


def drop_column(catalog: Catalog, schema: TableSchema, name: str) -> None:
    """Drop column ``name``; refused while a computed column or a view uses it."""
    unstored = schema.unstored_column(name)
    if unstored is not None:
        definitions.remove_column(catalog.store, schema, unstored)
        print(f"Dropped column '{name}' from table '{name_of(schema.path)}'.")
        return
    col = schema.require(name)
    if len(schema.columns) == 1:
        raise InvalidValueError(
            f'Cannot drop {name!r}, the last column of table {schema.path!r}: a table needs '
            f'at least one column. Add another column first, or rv.drop_table({schema.path!r}).'
        )
    dependents = schema.dependents(col.id) + [
        u
        for u in schema.unstored
        if u.expr is not None and col.id in {r.column_id for r in n.column_refs(u.expr)}
    ]
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
    users = views_using(catalog, schema.id, col.id)
    if users:
        raise InvalidValueError(
            f'Cannot drop column {name!r}: view {users[0]!r} uses it. Drop the view first.'
        )
    definitions.remove_column(catalog.store, schema, col)
    with catalog.store.read() as conn:
        drop_ann_files(conn, catalog.config.home, schema.id, col.id)
    print(f"Dropped column '{name}' from table '{name_of(schema.path)}'.")


def rename_column(catalog: Catalog, schema: TableSchema, old: str, new: str) -> None:
    """Rename a column; expressions that use it keep working."""
    col = schema.unstored_column(old) or schema.require(old)
    check_column_name(new)
    if schema.column(new) is not None or schema.unstored_column(new) is not None:
        raise AlreadyExistsError(f'Table {schema.path!r} already has a column {new!r}.')
    definitions.rename_column(catalog.store, schema, col, new)
    print(f"Renamed column '{old}' to '{new}' in table '{name_of(schema.path)}'.")


def _has_rows(catalog: Catalog, schema: TableSchema) -> bool:
    """Whether the table holds any row."""
    t = schema.sa_table
    with catalog.store.read() as conn:
        return conn.execute(sa.select(t.c[ROWID]).limit(1)).first() is not None


def _has_values(catalog: Catalog, schema: TableSchema, name: str) -> bool:
    """Whether any cell of computed column ``name`` holds a value."""
    col = schema.require(name)
    t = schema.sa_table
    query = sa.select(t.c[ROWID]).where(t.c[col.sql.state] == VALUE).limit(1)
    with catalog.store.read() as conn:
        return conn.execute(query).first() is not None
