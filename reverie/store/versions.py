"""Table versions: which version wrote each row, the row images later versions replaced.

Each data table ``rvt_<id>`` has a column ``_v``: the version that wrote the row as it is now.
Before a version updates or deletes rows, their images are copied into the history table
``rvh_<id>`` together with the version that replaced them (``_v_end``). So the table at
version N is the live rows with ``_v <= N`` plus the history rows with ``_v <= N < _v_end``,
and reverting the latest version V deletes the live rows with ``_v = V`` and moves the
history rows with ``_v_end = V`` back. A version costs the rows it changed, never a copy of
the table. ``rv_versions`` holds one row per version: its kind, counts and, when it changed
the columns, the column list after it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reverie.store.db import (
    CLAIM_OWNER,
    CLAIM_UNTIL,
    ROWID,
    VERSION,
    VERSION_END,
    Store,
    tables_table,
    versions_table,
)


@dataclass(frozen=True)
class VersionRow:
    """One entry of a table's version log."""

    version: int
    created_at: float
    kind: str
    inserted: int
    updated: int
    deleted: int
    computed: int
    errors: int
    columns: list[dict[str, Any]] | None


def lock_table(conn: Connection, store: Store, table_id: int) -> None:
    """Order this transaction after every other one changing the table.

    A row lock on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the database.
    """
    if not store.is_sqlite:
        conn.execute(
            sa.select(tables_table.c.id).where(tables_table.c.id == table_id).with_for_update()
        )


def current_version(conn: Connection, table_id: int) -> int:
    """The table's latest version (-1 for a table that has none: being created)."""
    found = conn.execute(
        sa.select(sa.func.max(versions_table.c.version)).where(
            versions_table.c.table_id == table_id
        )
    ).scalar()
    return -1 if found is None else int(found)


_COUNTS = ('inserted', 'updated', 'deleted', 'computed', 'errors')


def _next_version_statement(*, check_schema: bool) -> sa.Insert:
    """INSERT of the table's next version row, its number computed by the database.

    With ``check_schema`` it inserts nothing unless the table's schema version is still
    ``:schema`` (an insert's rows were prepared for it). Built once: composing SQLAlchemy
    constructs costs more than the statement runs.
    """
    v, tc = versions_table.c, tables_table.c
    number = (
        sa.select(sa.func.coalesce(sa.func.max(v.version), -1) + 1)
        .where(v.table_id == tc.id)
        .scalar_subquery()
    )
    values = [
        sa.bindparam('at', type_=sa.Float),
        sa.bindparam('kind', type_=sa.String),
        *(sa.bindparam(name, type_=sa.BigInteger) for name in _COUNTS),
        sa.bindparam('columns', type_=versions_table.c.columns.type),
    ]
    select = sa.select(tc.id, number, *values).where(tc.id == sa.bindparam('t', type_=sa.Integer))
    if check_schema:
        select = select.where(tc.version == sa.bindparam('schema', type_=sa.Integer))
    names = ['table_id', 'version', 'created_at', 'kind', *_COUNTS, 'columns']
    return sa.insert(versions_table).from_select(names, select).returning(v.version)


_NEXT_VERSION = _next_version_statement(check_schema=False)
_NEXT_VERSION_OF_SCHEMA = _next_version_statement(check_schema=True)


def begin_version(
    conn: Connection,
    store: Store,
    table_id: int,
    kind: str,
    *,
    columns: list[dict[str, Any]] | None = None,
    **counts: int,
) -> int:
    """Start the table's next version inside the caller's write transaction; returns it.

    ``columns``: the column list after this version, when it changes the columns;
    ``counts``: its counts when already known (``inserted=...``).
    """
    lock_table(conn, store, table_id)
    params = _params(table_id, kind, columns, counts)
    return int(conn.execute(_NEXT_VERSION, params).scalar_one())


def begin_insert_version(
    conn: Connection, store: Store, table_id: int, schema_version: int, rows: int
) -> int | None:
    """``begin_version`` of an insert, if the table is still at ``schema_version``.

    None when its columns changed since the rows were prepared (nothing is written).
    """
    lock_table(conn, store, table_id)
    params = _params(table_id, 'insert', None, {'inserted': rows})
    params['schema'] = schema_version
    found = conn.execute(_NEXT_VERSION_OF_SCHEMA, params).scalar_one_or_none()
    return None if found is None else int(found)


def _params(
    table_id: int, kind: str, columns: list[dict[str, Any]] | None, counts: dict[str, int]
) -> dict[str, Any]:
    params: dict[str, Any] = dict.fromkeys(_COUNTS, 0)
    params.update(counts, t=table_id, at=time.time(), kind=kind, columns=columns)
    return params


def add_counts(conn: Connection, table_id: int, version: int, **counts: int) -> None:
    """Add to a version's counts (inserted, updated, deleted, computed, errors)."""
    values = {k: versions_table.c[k] + int(v) for k, v in counts.items() if v}
    if values:
        conn.execute(
            sa.update(versions_table)
            .where(versions_table.c.table_id == table_id, versions_table.c.version == version)
            .values(values)
        )


def version_log(conn: Connection, table_id: int) -> list[VersionRow]:
    """Every version of the table, newest first."""
    rows = conn.execute(
        sa.select(versions_table)
        .where(versions_table.c.table_id == table_id)
        .order_by(versions_table.c.version.desc())
    ).mappings()
    return [
        VersionRow(
            version=int(r['version']),
            created_at=float(r['created_at']),
            kind=str(r['kind']),
            inserted=int(r['inserted']),
            updated=int(r['updated']),
            deleted=int(r['deleted']),
            computed=int(r['computed']),
            errors=int(r['errors']),
            columns=r['columns'],
        )
        for r in rows
    ]


def columns_at(conn: Connection, table_id: int, version: int) -> list[dict[str, Any]] | None:
    """The column list in effect at ``version`` (None when the version does not exist)."""
    if version > current_version(conn, table_id) or version < 0:
        return None
    found = conn.execute(
        sa.select(versions_table.c.columns)
        .where(
            versions_table.c.table_id == table_id,
            versions_table.c.version <= version,
            versions_table.c.columns.is_not(None),
        )
        .order_by(versions_table.c.version.desc())
        .limit(1)
    ).scalar()
    return list(found) if found is not None else None


def archive_rows(
    conn: Connection, live: sa.Table, history: sa.Table, condition: Any, version: int
) -> int:
    """Copy the live rows matching ``condition`` (None: all) into history, ended by ``version``.

    Call before changing or deleting them, in the same transaction.
    """
    names = live_columns(live)
    query = sa.select(*(live.c[n] for n in names), sa.literal(version, sa.Integer))
    if condition is not None:
        query = query.where(condition)
    # rowcount of INSERT ... SELECT is kept only when asked for (psycopg reports -1 otherwise).
    found = conn.execute(
        sa.insert(history).from_select([*names, VERSION_END], query),
        execution_options={'preserve_rowcount': True},
    )
    return int(found.rowcount)


def undo_rows(conn: Connection, live: sa.Table, history: sa.Table, version: int) -> None:
    """Put the rows back as they were before ``version`` (the table's latest)."""
    conn.execute(sa.delete(live).where(live.c[VERSION] == version))
    names = live_columns(live)
    restore = sa.select(*(history.c[n] for n in names)).where(history.c[VERSION_END] == version)
    conn.execute(sa.insert(live).from_select(names, restore))
    conn.execute(sa.delete(history).where(history.c[VERSION_END] == version))


def rows_at(live: sa.Table, history: sa.Table, names: Sequence[str], version: int) -> sa.Subquery:
    """The table's rows at ``version``: a subquery with ``_rowid`` and the given SQL columns.

    A column the live table no longer has (dropped later) reads as NULL from it: no live row
    old enough to need it is left.
    """

    def live_col(name: str) -> Any:
        if name in live.c:
            return live.c[name]
        return sa.cast(sa.null(), history.c[name].type).label(name)

    current = sa.select(live.c[ROWID], *(live_col(n) for n in names)).where(
        live.c[VERSION] <= version
    )
    old = sa.select(history.c[ROWID], *(history.c[n] for n in names)).where(
        history.c[VERSION] <= version, history.c[VERSION_END] > version
    )
    return sa.union_all(current, old).subquery(f'{live.name}_at_{int(version)}')


def live_columns(live: sa.Table) -> list[str]:
    """SQL columns a row image keeps: all but the claim (who is computing the row now)."""
    return [c.name for c in live.columns if c.name not in (CLAIM_OWNER, CLAIM_UNTIL)]


def version_rows(conn: Connection, live: sa.Table, history: sa.Table, version: int) -> list[int]:
    """Ids of the rows ``version`` wrote, changed or deleted."""
    written = sa.select(live.c[ROWID]).where(live.c[VERSION] == version)
    replaced = sa.select(history.c[ROWID]).where(history.c[VERSION_END] == version)
    return sorted({int(r) for r in conn.execute(sa.union(written, replaced)).scalars()})
