"""Undo a table's latest version, and find which media files rows still refer to.

``revert_latest`` puts back the rows (from the history table) and the columns (from the
column list kept with each version) as they were before the latest version, then deletes
the media files that version made and nothing else refers to. Answers of paid calls stay
in the journal, so computing the same cells again takes them from there, free.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.changes import chunks
from reverie.catalog.definitions import bump_version
from reverie.errors import InvalidValueError
from reverie.exec.schema import TableSchema
from reverie.exprs import nodes as n
from reverie.exprs import serialize
from reverie.store.db import (
    VERSION,
    ColumnSql,
    column_specs,
    columns_json,
    columns_table,
    data_table_name,
    derived_table,
    history_table_name,
    is_unstored,
    row_tables,
    tables_table,
    versions_table,
)
from reverie.store.versions import VersionRow, columns_at, lock_table, undo_rows, version_log

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog


def revert_latest(
    catalog: Catalog, table_id: int, *, only: int | None = None
) -> tuple[VersionRow, int] | None:
    """Undo the table's latest version; returns it and how many media files went with it.

    ``only``: undo it only if it is this version (None, and nothing done, otherwise).
    """
    store = catalog.store
    started = time.time()
    schema = catalog.schema(table_id)
    path = schema.path
    if schema.kind == 'snapshot':
        raise InvalidValueError(f'Snapshot {path!r} is read-only; it cannot be reverted.')
    with store.begin() as conn:
        lock_table(conn, store, table_id)
        latest = version_log(conn, table_id)[0]
        v = latest.version
        if only is not None and v != only:
            return None
        if v == 0:
            raise InvalidValueError(
                f'Table {path!r} is at version 0 (its creation); there is nothing to revert.'
            )
        if latest.kind == 'sync':
            raise InvalidValueError(
                f'Version {v} of view {path!r} came from its base table (rows added or changed '
                'there); revert the base table instead.'
            )
        _check_pins(conn, table_id, path, v)
        current = columns_json(conn, table_id)
        before = current if latest.columns is None else columns_at(conn, table_id, v - 1)
        assert before is not None
        added = [c for c in current if c['id'] not in {b['id'] for b in before}]
        removed = [c for c in before if c['id'] not in {a['id'] for a in current}]
        _check_views(conn, schema, {int(c['id']) for c in added}, v)
        candidates = _refs_written(conn, table_id, current, added, v)
        live_name = data_table_name(table_id)
        for sql, sql_type in column_specs(removed):  # a dropped column comes back first
            store.add_sql_columns(conn, live_name, sql.sa_columns(sql_type))
        both = column_specs([*current, *removed])
        undo_rows(conn, *row_tables(table_id, both), v)
        if latest.columns is not None:
            for sql, sql_type in column_specs(added):
                store.drop_index(conn, live_name, sql.value)
                store.drop_sql_columns(conn, live_name, [c.name for c in sql.sa_columns(sql_type)])
            conn.execute(sa.delete(columns_table).where(columns_table.c.table_id == table_id))
            if before:
                conn.execute(
                    sa.insert(columns_table),
                    [{**c, 'table_id': table_id} for c in before],
                )
            bump_version(conn, table_id)
        conn.execute(
            sa.delete(versions_table).where(
                versions_table.c.table_id == table_id, versions_table.c.version == v
            )
        )
    forgotten = candidates - referenced_media(catalog, candidates) if candidates else set()
    removed_files, _ = catalog.media.remove(sorted(forgotten), unused_since=started)
    return latest, removed_files


def _check_pins(conn: sa.Connection, table_id: int, path: str, version: int) -> None:
    """Refuse to undo a version a snapshot was taken at (or after)."""
    pins = conn.execute(
        sa.select(tables_table.c.path, derived_table.c.base_version)
        .join(tables_table, tables_table.c.id == derived_table.c.table_id)
        .where(
            derived_table.c.base_id == table_id,
            derived_table.c.kind == 'snapshot',
            derived_table.c.base_version >= version,
        )
    ).first()
    if pins is not None:
        raise InvalidValueError(
            f'Cannot revert version {version} of {path!r}: snapshot {pins.path!r} was taken at '
            f'version {pins.base_version} and pins it. Drop the snapshot first.'
        )


def _check_views(conn: sa.Connection, schema: TableSchema, added: set[int], version: int) -> None:
    """Refuse to undo a version that added a column a view mirrors or filters on."""
    if not added:
        return
    views = conn.execute(
        sa.select(tables_table.c.path, derived_table.c.table_id, derived_table.c.predicate)
        .join(tables_table, tables_table.c.id == derived_table.c.table_id)
        .where(derived_table.c.base_id == schema.id)
        .order_by(tables_table.c.path)
    ).all()
    for path, view_id, predicate in views:
        used = set(
            conn.execute(
                sa.select(columns_table.c.mirror_of).where(columns_table.c.table_id == view_id)
            ).scalars()
        )
        if predicate is not None:
            node = serialize.from_json(predicate, lambda cid: schema.by_id(cid).ref(schema.id))
            used |= {r.column_id for r in n.column_refs(node)}
        names = [c.name for c in schema.columns if c.id in added & used]
        if names:
            raise InvalidValueError(
                f'Cannot revert version {version} of {schema.path!r}: it added column '
                f'{names[0]!r}, which view {path!r} uses. Drop the view first.'
            )


def _image_names(cols: list[dict[str, Any]]) -> list[str]:
    return [
        ColumnSql(c['id'], computed=False).value  # the value column's name, whatever the layout
        for c in cols
        if isinstance(ts.ColumnType.from_json(c['col_type']), ts.ImageType) and not is_unstored(c)
    ]


def _refs_written(
    conn: sa.Connection,
    table_id: int,
    current: list[dict[str, Any]],
    added: list[dict[str, Any]],
    version: int,
) -> set[str]:
    """Media the version wrote: its rows' images, and every image of a column it added."""
    t = sa.table(
        data_table_name(table_id),
        sa.column(VERSION),
        *(sa.column(name) for name in _image_names(current)),
    )
    refs: set[str] = set()
    new_columns = set(_image_names(added))
    for name in _image_names(current):
        query = sa.select(t.c[name]).where(t.c[name].is_not(None))
        if name not in new_columns:
            query = query.where(t.c[VERSION] == version)
        refs.update(conn.execute(query).scalars())
    return refs


def referenced_media(catalog: Catalog, among: set[str] | None = None) -> set[str]:
    """Media references some row (of any table, at any version) or the journal holds.

    With ``among``, only those are looked for (faster than reading every reference).
    """
    found: set[str] = set()
    with catalog.store.read() as conn:
        tables = conn.execute(sa.select(tables_table.c.id)).scalars().all()
        for table_id in tables:
            now = _image_names(columns_json(conn, table_id))
            ever = set(now)
            for (cols,) in conn.execute(
                sa.select(versions_table.c.columns).where(
                    versions_table.c.table_id == table_id, versions_table.c.columns.is_not(None)
                )
            ):
                ever.update(_image_names(list(cols)))
            for table_name, names in (
                (data_table_name(table_id), now),
                (history_table_name(table_id), sorted(ever)),
            ):
                t = sa.table(table_name, *(sa.column(name) for name in names))
                for name in names:
                    found |= _refs_in(conn, t.c[name], among)
    if catalog.exec.ledger is not None:  # paid-call layer: journalled answers stay
        found |= catalog.exec.ledger.report.journal_refs()
    return found if among is None else found & among


def _refs_in(conn: sa.Connection, col: Any, among: set[str] | None) -> set[str]:
    if among is None:
        return {r for r in conn.execute(sa.select(col).where(col.is_not(None))).scalars()}
    found: set[str] = set()
    for chunk in chunks(sorted(among)):
        found.update(conn.execute(sa.select(col).where(col.in_(chunk))).scalars())
    return found
