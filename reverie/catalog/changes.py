"""Changes to existing rows: conditions, updates of stored columns, cells to recompute.

Every condition here must be computable by the database (comparisons of stored columns),
since it selects the rows an UPDATE or DELETE touches.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.rows import convert_value, prepare_rows, required_hint
from reverie.errors import InvalidValueError, TypeMismatchError
from reverie.exec.queries import sql_resolver
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs.expr import Expr
from reverie.exprs.to_sql import to_sql
from reverie.store.db import ERROR, PENDING, ROWID, VERSION, Store
from reverie.store.media import MediaStore
from reverie.store.versions import add_counts, archive_rows, begin_version

T = TypeVar('T')


def sql_condition(schema: TableSchema, where: Expr | None, what: str) -> Any:
    """SQL for a ``where=`` argument (None when absent); refuses what SQL cannot compute."""
    if where is None:
        return None
    if not isinstance(where, Expr):
        raise InvalidValueError(
            f"{what} takes an expression over the table's columns such as t.n > 1, got "
            f'{where!r} ({type(where).__name__}).'
        )
    clause = to_sql(where.node, sql_resolver(schema))
    if clause is None:
        raise InvalidValueError(
            f'{what} needs a condition the database can evaluate (comparisons of stored '
            f'columns); {where!r} is not one.'
        )
    return clause


def pending_values(col: ColumnSchema) -> dict[str, Any]:
    """Assignments that make a computed cell pending again."""
    sql = col.sql
    return {
        sql.state: PENDING,
        sql.value: None,
        sql.errortype: None,
        sql.errormsg: None,
        sql.cellmeta: None,
    }


def reset_cells(
    store: Store,
    schema: TableSchema,
    targets: list[ColumnSchema],
    cond: Any,
    *,
    errors_only: bool,
    cascade: bool,
) -> tuple[int, int]:
    """Make the chosen cells of ``targets`` (and of their dependents) pending: a new version.

    The rows as they were go to the history first, so ``revert()`` brings the old values
    back. Returns the version and the number of rows reset.
    """
    t = schema.sa_table
    assert schema.history is not None
    with store.begin() as conn:
        version = begin_version(conn, store, schema.id, 'recompute')
        plans: list[tuple[list[ColumnSchema], list[int] | None]] = []
        for col in targets:
            col_conds = [] if cond is None else [cond]
            if errors_only:
                col_conds.append(t.c[col.sql.state] == ERROR)
            rowids: list[int] | None = None
            if col_conds:
                # The rows first: resetting the column changes which of its cells are errors,
                # and its dependents must be reset in the same rows.
                rowids = list(conn.execute(sa.select(t.c[ROWID]).where(*col_conds)).scalars())
                if not rowids:
                    continue
            plans.append(([col, *(schema.dependents(col.id) if cascade else [])], rowids))
        if not plans:
            return version, 0
        if any(rowids is None for _, rowids in plans):
            touched = archive_rows(conn, t, schema.history, None, version)
        else:
            every = sorted({r for _, rowids in plans for r in rowids or ()})
            touched = sum(
                archive_rows(conn, t, schema.history, t.c[ROWID].in_(chunk), version)
                for chunk in chunks(every)
            )
        for columns, rowids in plans:
            values: dict[str, Any] = {VERSION: version}
            for c in columns:
                values.update(pending_values(c))
            if rowids is None:
                conn.execute(sa.update(t).values(values))
                continue
            for chunk in chunks(rowids):
                conn.execute(sa.update(t).values(values).where(t.c[ROWID].in_(chunk)))
        add_counts(conn, schema.id, version, updated=touched)
    return version, touched


def change_rows(
    store: Store, schema: TableSchema, cond: Any, assignments: dict[str, Any] | None
) -> tuple[int, int]:
    """Update (``assignments``) or delete (None) the rows matching ``cond``, as a new version.

    Their images go to the history first. Returns (version, rows changed).
    """
    t = schema.sa_table
    assert schema.history is not None
    kind = 'delete' if assignments is None else 'update'
    with store.begin() as conn:
        version = begin_version(conn, store, schema.id, kind)
        archive_rows(conn, t, schema.history, cond, version)
        if assignments is None:
            stmt: Any = sa.delete(t)
        else:
            stmt = sa.update(t).values({**assignments, VERSION: version})
        if cond is not None:
            stmt = stmt.where(cond)
        count = int(conn.execute(stmt).rowcount)
        add_counts(conn, schema.id, version, **{f'{kind}d': count})
    return version, count


def chunks(items: list[T], size: int = 500) -> list[list[T]]:
    """``items`` (row ids, media references) in pieces small enough for an ``IN (...)`` list."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def update_assignments(
    schema: TableSchema, values: dict[str, Any], media: MediaStore
) -> dict[str, Any]:
    """Checked SQL assignments for ``Table.update``: literals, or expressions SQL computes."""
    if not isinstance(values, dict) or not values:
        raise InvalidValueError(
            "update() takes a dict of column name to value, e.g. {'n': t.n + 1}."
        )
    resolver = sql_resolver(schema)
    assignments: dict[str, Any] = {}
    for name, value in values.items():
        col = schema.require(name)
        if col.is_computed:
            raise InvalidValueError(
                f'Column {name!r} is computed; use t.recompute_columns({name!r}) instead of '
                'update().'
            )
        if isinstance(value, Expr):
            if value.col_type is not None and not col.col_type.accepts(value.col_type):
                raise TypeMismatchError(
                    f'Column {name!r} is {col.col_type}; {value!r} has type {value.col_type}.'
                )
            clause = to_sql(value.node, resolver)
            if clause is None or isinstance(col.col_type, ts.ImageType):
                raise InvalidValueError(
                    f'update() of {name!r} needs a literal or an expression SQL can compute '
                    f'(arithmetic on stored columns); {value!r} is not one.'
                )
            assignments[col.sql.value] = clause
        elif isinstance(col.col_type, ts.ImageType):
            prepared = prepare_rows(schema, [{name: value}], media, skip_bad=False, partial=True)
            assignments[col.sql.value] = prepared.rows[0][col.sql.value]
        elif value is None:
            if not col.col_type.nullable:
                raise InvalidValueError(
                    f'Column {name!r} cannot be None: {required_hint(col.col_type)}'
                )
            assignments[col.sql.value] = None
        else:
            assignments[col.sql.value] = convert_value(col.col_type, value, schema.name, name, 0)
    return assignments
