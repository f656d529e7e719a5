"""Writes of rows: insert, update, delete and recompute, each with its views and dry run.

Each write goes in as one version of the table, computes the cells it made pending, then
brings the table's views in line (``propagate``) under the same ``Operation``, so one
budget covers the table and its views. With ``dry_run`` it writes nothing and returns the
``Estimate`` of the cells it would compute, in the table and in its views.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from reverie.catalog.catalog import Catalog
from reverie.catalog.changes import (
    change_rows,
    pending_values,
    reset_cells,
    update_assignments,
)
from reverie.catalog.estimates import estimate, stored_rows
from reverie.catalog.paths import name_of
from reverie.catalog.propagate import propagate
from reverie.catalog.rows import prepare_rows
from reverie.catalog.runs import Operation, compute, finish, merge, paid_suffix, summary
from reverie.catalog.status import UpdateStatus
from reverie.errors import ExecutionError, InvalidValueError
from reverie.exec.estimate import Estimate
from reverie.exec.evaluator import ComputeStats, OnError
from reverie.exec.inserts import SchemaChanged, insert_rows
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.io.sources import RowSource, conform, is_source, load_source
from reverie.store.db import ERROR as ERROR_STATE

SCHEMA_RETRIES = 5


def writable(
    catalog: Catalog, table_id: int, version: int | None, what: str, *, rows: bool = False
) -> TableSchema:
    """The table's schema, when ``what`` may change it; a clear error otherwise.

    ``version``: the version a handle is pinned to (read-only); ``rows``: the change writes
    rows, which views take from their base only.
    """
    if version is not None:
        path = catalog.schema(table_id).path
        raise InvalidValueError(
            f'{path}:{version} is the table as it was at version {version}, read-only; '
            f'{what} the table itself (rv.get_table({path!r})), or t.revert() to go back to '
            'an earlier version.'
        )
    schema = catalog.schema(table_id)
    if schema.kind == 'snapshot':
        raise InvalidValueError(f'Snapshot {schema.path!r} is read-only; cannot {what} it.')
    if rows and schema.kind == 'view':
        raise InvalidValueError(
            f'Cannot {what} view {schema.path!r}: its rows come from its base table; '
            'change the base table instead.'
        )
    return schema


def rows_of(
    schema: TableSchema, rows: RowSource | None, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """The rows of an insert, whatever form they came in."""
    if rows is None:
        return [values]
    if values:
        raise InvalidValueError('insert() takes a list of rows or keyword values, not both.')
    if isinstance(rows, dict):
        return [rows]
    if is_source(rows):
        types = {c.name: c.col_type for c in schema.columns}
        return conform(load_source(rows), types)
    if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
        raise InvalidValueError(
            f'insert() takes a list of dicts, a DataFrame or a file path, got '
            f'{type(rows).__name__}.'
        )
    return list(rows)


def insert(
    catalog: Catalog,
    schema: TableSchema,
    rows: list[dict[str, Any]],
    op: Operation,
    *,
    on_error: OnError,
    print_stats: bool,
    dry_run: bool,
) -> UpdateStatus | Estimate:
    """Insert ``rows`` (checked first), compute their cells, then the views' cells."""
    start = time.perf_counter()
    skip_bad = on_error == 'ignore'
    if dry_run:
        prepared = prepare_rows(schema, rows, catalog.media, skip_bad=skip_bad)
        targets = {c.id for c in schema.computed()}
        return estimate(catalog, schema, prepared.rows, targets, op, changed=None)
    current: TableSchema | None = schema
    for _ in range(SCHEMA_RETRIES):
        schema, current = current or catalog.schema(schema.id), None
        prepared = prepare_rows(schema, rows, catalog.media, skip_bad=skip_bad)
        try:
            inserted = insert_rows(catalog.store, schema, prepared.checked)
            break
        except SchemaChanged:
            continue  # another process changed the columns meanwhile: prepare again
    else:
        raise ExecutionError(
            f'The columns of table {schema.path!r} kept changing during the insert '
            f'({SCHEMA_RETRIES} tries); nothing was inserted. Try again.'
        )
    status = UpdateStatus(
        num_rows=len(prepared.checked),
        updated_cols=[c.name for c in schema.columns],
        rejected_rows=len(prepared.rejected),
        num_excs=len(prepared.rejected),
        errors=[str(e) for _, e in prepared.rejected],
        verb='inserted',
    )
    try:
        if schema.computed() and inserted.rowids:
            stats = compute(
                catalog,
                schema,
                op,
                rowids=inserted.rowids,
                on_error=on_error,
                desc='Computing cells',
                version=inserted.version,
                inserted=True,
            )
            merge(status, stats)
    finally:  # the rows are in, computed or not: views take them now
        if inserted.version is not None:
            propagate(catalog, schema, op, inserted.version, inserted.rowids)
    if print_stats:
        print(summary('Inserted', status.num_rows, 'row', status.num_excs, start, status))
    return status


def computed_targets(schema: TableSchema, names: Sequence[str]) -> list[ColumnSchema]:
    """The computed columns named (for ``recompute_columns``)."""
    targets = []
    for name in names:
        col = schema.require(name)
        if not col.is_computed:
            raise InvalidValueError(f'Column {col.name!r} is not computed; nothing to recompute.')
        targets.append(col)
    return targets


def recompute(
    catalog: Catalog,
    schema: TableSchema,
    targets: list[ColumnSchema],
    cond: Any,
    op: Operation,
    *,
    errors_only: bool,
    cascade: bool,
    on_error: OnError,
    print_stats: bool,
    dry_run: bool,
) -> UpdateStatus | Estimate:
    """Compute ``targets`` again where ``cond`` holds (none: finish the pending cells)."""
    start = time.perf_counter()
    if dry_run:
        return _estimate_recompute(catalog, schema, targets, cond, errors_only, cascade, op)
    version, rows = None, 0
    if targets:
        version, rows = reset_cells(
            catalog.store, schema, targets, cond, errors_only=errors_only, cascade=cascade
        )
    stats = ComputeStats()
    try:
        stats = compute(
            catalog, schema, op, on_error=on_error, desc='Recomputing cells', version=version
        )
    finally:
        if version is not None or stats.cells:
            propagate(catalog, schema, op, version)
    status = UpdateStatus(num_rows=rows, updated_cols=[c.name for c in targets])
    return finish(status, stats, 'Computed', 'cell', start, print_stats)


def _estimate_recompute(
    catalog: Catalog,
    schema: TableSchema,
    targets: list[ColumnSchema],
    cond: Any,
    errors_only: bool,
    cascade: bool,
    op: Operation,
) -> Estimate:
    """The dry run of ``recompute``: its targets (or the pending cells) and the views'."""
    if not targets:  # the pending cells (`reverie estimate TABLE`)
        return estimate(catalog, schema, stored_rows(catalog, schema, None), None, op)
    ids = {c.id for c in targets}
    if cascade:
        ids |= {d.id for c in targets for d in schema.dependents(c.id)}
    if errors_only:
        errors = sa.or_(*(schema.sql_col(c.sql.state) == ERROR_STATE for c in targets))
        cond = errors if cond is None else sa.and_(cond, errors)
    rows = stored_rows(catalog, schema, cond)
    return estimate(catalog, schema, rows, ids, op, changed=ids)


def update(
    catalog: Catalog,
    schema: TableSchema,
    values: dict[str, Any],
    cond: Any,
    op: Operation,
    *,
    cascade: bool,
    dry_run: bool,
) -> UpdateStatus | Estimate:
    """Set ``values`` where ``cond`` holds; recompute what reads them (with ``cascade``)."""
    assignments = update_assignments(schema, values, catalog.media)
    # without cascade, computed cells keep their values (as in Pixeltable)
    readers = [d for name in values for d in schema.dependents(schema.require(name).id)]
    dependents = {d.id: d for d in readers} if cascade else {}
    if dry_run:
        rows = stored_rows(catalog, schema, cond)
        for row in rows:  # literal new values; expressions keep the old ones
            row.update(
                {k: v for k, v in assignments.items() if not isinstance(v, sa.ClauseElement)}
            )
        changed = {schema.require(name).id for name in values} | set(dependents)
        return estimate(catalog, schema, rows, set(dependents), op, changed=changed)
    for d in dependents.values():
        assignments.update(pending_values(d))
    version, count = change_rows(catalog.store, schema, cond, assignments)
    status = UpdateStatus(
        num_rows=count,
        updated_cols=[*values, *(d.name for d in dependents.values())],
        verb='updated',
    )
    try:
        if dependents:
            stats = compute(
                catalog, schema, op, on_error='ignore', desc='Recomputing', version=version
            )
            merge(status, stats)
    finally:
        propagate(catalog, schema, op, version)
    print(f'Updated {count} row{"" if count == 1 else "s"}{paid_suffix(status)}.')
    return status


def delete(catalog: Catalog, schema: TableSchema, cond: Any) -> UpdateStatus:
    """Delete the rows where ``cond`` holds (all without it); the views follow."""
    version, count = change_rows(catalog.store, schema, cond, None)
    propagate(catalog, schema, Operation.of(catalog, None), version)
    print(f'Deleted {count} row{"" if count == 1 else "s"} from table {name_of(schema.path)!r}.')
    return UpdateStatus(num_rows=count, verb='deleted')
