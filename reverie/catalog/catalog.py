"""The catalog: the tables of one database, with its media store and resource pools.

A ``Catalog`` owns the store, the media store and the resource pools of one process and
is passed down to everything below; only the public functions of ``reverie/api.py``
(exported by ``reverie/__init__.py``) read the process-wide default that ``rv.init()``
opens. Directories live in ``dirs.py``, column definitions in ``definitions.py``.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.definitions import bump_version
from reverie.catalog.dirs import dir_exists, is_under, missing_dir_message, table_id_at
from reverie.catalog.options import (
    IfExists,
    IfNotExists,
    check_if_exists,
    check_if_not_exists,
    keep_existing,
)
from reverie.catalog.paths import check_column_name, normalize_path, parent_of
from reverie.catalog.schemas import build_schema, derived_row
from reverie.catalog.views import predicate_json, sync_rows
from reverie.config import Config
from reverie.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from reverie.exec.context import ExecContext
from reverie.exec.pools import PoolRegistry
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exec.shared_limits import cluster_limits
from reverie.exprs import nodes as n
from reverie.store.db import (
    Store,
    column_specs,
    columns_json,
    columns_table,
    derived_table,
    drop_row_tables,
    row_tables,
    tables_table,
    versions_table,
)
from reverie.store.ledger import Ledger
from reverie.store.locations import open_media_store
from reverie.store.vector_tables import drop_indexes_of
from reverie.store.versions import (
    begin_version,
    columns_at,
    current_version,
    rows_at,
)


class Catalog:
    """Dirs and tables of one database, with its media store and resource pools."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.db_url)
        self.media = open_media_store(
            config.media_location,
            allow_private_urls=config.allow_private_urls,
            cache_dir=config.media_cache_dir,
            cache_size=config.media_cache_size,
        )
        self.pools = PoolRegistry()
        # On PostgreSQL, providers' limits hold for every process (workers and this one).
        self.limits = cluster_limits(self.store, self.pools)
        self.exec = ExecContext(
            self.store, self.media, self.pools, config, config.progress, Ledger(self.store)
        )
        self._schemas: dict[int, TableSchema] = {}
        self._read_at: dict[int, int] = {}  # store.writes when each schema was last read

    def __repr__(self) -> str:
        return f'<Catalog {self.store!r} media={self.media.location!r}>'

    def close(self) -> None:
        """Give back shared limit slots; release database connections."""
        if self.limits is not None:
            self.limits.close()
        self.store.dispose()

    # -- tables ------------------------------------------------------------------
    def create_table(
        self, path: str, schema: dict[str, Any], *, if_exists: IfExists = 'error'
    ) -> int | None:
        """Create a table; returns its id, or None when it existed and was kept.

        ``if_exists``: 'error', 'ignore' (keep the table), 'replace' (drop it and start over;
        refused while views depend on it) or 'replace_force' (drop its views too).
        """
        if_exists = check_if_exists(if_exists)
        path = normalize_path(path, what='table path')
        if not isinstance(schema, dict) or not schema:
            raise InvalidValueError(
                f'create_table({path!r}, schema): schema must be a non-empty dict of '
                "column name to type, e.g. {'prompt': rv.String}."
            )
        columns = [(check_column_name(name), _column_type(name, t)) for name, t in schema.items()]
        with self.store.begin() as conn:
            if not self._make_way(conn, path, if_exists):
                return None
            self._check_new_table_path(conn, path)
            table_id = self._insert_table(conn, path, [(name, t, None) for name, t in columns])
        return int(table_id)

    def _insert_table(
        self,
        conn: sa.Connection,
        path: str,
        columns: Sequence[tuple[str, ts.ColumnType, ColumnSchema | None]],
    ) -> int:
        """Catalog rows, data table, history table and version 0 of a new table.

        Each column is (name, type, the base column it mirrors or None).
        """
        table_id = self.store.next_id(conn, tables_table)
        conn.execute(
            sa.insert(tables_table).values(
                id=table_id, path=path, version=1, created_at=time.time()
            )
        )
        for position, (name, col_type, mirror) in enumerate(columns):
            conn.execute(
                sa.insert(columns_table).values(
                    id=self.store.next_id(conn, columns_table),
                    table_id=table_id,
                    name=name,
                    position=position,
                    col_type=col_type.to_json(),
                    computed={'mirror': True}
                    if mirror is not None and mirror.is_computed
                    else None,
                    mirror_of=None if mirror is None else mirror.id,
                )
            )
        cols = columns_json(conn, table_id)
        specs = column_specs(cols)
        for table in row_tables(table_id, specs):
            table.create(conn)
        begin_version(conn, self.store, table_id, 'create', columns=cols)
        return int(table_id)

    def create_derived(
        self,
        path: str,
        kind: str,
        base: TableSchema,
        items: Sequence[tuple[str, ColumnSchema]],
        predicate: n.Node | None,
        *,
        if_exists: IfExists = 'error',
    ) -> int | None:
        """Create a view or snapshot of ``base`` and fill it; returns its id (None: kept).

        ``items`` are its columns (name, the base column mirrored); ``predicate`` chooses the
        base rows it holds.
        """
        if_exists = check_if_exists(if_exists)
        path = normalize_path(path, what=f'{kind} path')
        with self.store.begin() as conn:
            if not self._make_way(conn, path, if_exists, keep=base.id, kind=kind):
                return None
            self._check_new_table_path(conn, path)
            table_id = self._insert_table(
                conn, path, [(name, col.col_type, col) for name, col in items]
            )
            bump_version(conn, base.id)  # the base's handles learn of the new view
            conn.execute(
                sa.insert(derived_table).values(
                    table_id=table_id,
                    kind=kind,
                    base_id=base.id,
                    base_version=current_version(conn, base.id),
                    predicate=predicate_json(predicate),
                )
            )
        sync_rows(self, self.schema(table_id), None, version=0)
        return table_id

    def _make_way(
        self,
        conn: sa.Connection,
        path: str,
        if_exists: str,
        *,
        keep: int | None = None,
        kind: str = 'table',
    ) -> bool:
        """Apply ``if_exists`` to a table about to be made at ``path``; False: keep the one there.

        'replace' drops it (refused while views depend on it), 'replace_force' with its
        views. ``keep``: a table that must not be dropped (the base of the view being made).
        """
        existing = table_id_at(conn, path)
        if existing is None:
            return True
        taken = (
            f'Table {path!r} already exists; pass if_exists="ignore" to use it or '
            'if_exists="replace" to start over.'
        )
        if keep_existing(if_exists, taken):
            return False
        if existing == keep:
            raise InvalidValueError(f'A {kind} cannot replace its own base {path!r}.')
        self.drop_with_dependents(
            conn,
            existing,
            path,
            force=if_exists == 'replace_force',
            option="if_exists='replace_force'",
        )
        return True

    def _check_new_table_path(self, conn: sa.Connection, path: str) -> None:
        if dir_exists(conn, path):
            raise AlreadyExistsError(f'{path!r} is a directory, not a table.')
        parent = parent_of(path)
        if parent and not dir_exists(conn, parent):
            raise NotFoundError(
                f'Directory {parent!r} does not exist; create it first with '
                f'rv.create_dir({parent!r}).'
            )

    def kinds(self) -> dict[str, str]:
        """Every table's path and kind ('table', 'view' or 'snapshot')."""
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(tables_table.c.path, derived_table.c.kind).outerjoin(
                    derived_table, derived_table.c.table_id == tables_table.c.id
                )
            ).all()
        return {str(p): str(k or 'table') for p, k in rows}

    def table_id(self, path: str) -> int:
        """Id of the table at ``path``; NotFoundError with the closest name otherwise."""
        path = normalize_path(path, what='table path')
        with self.store.read() as conn:
            table_id = table_id_at(conn, path)
            if table_id is None:
                raise NotFoundError(self._missing_table_message(conn, path))
            return table_id

    def list_tables(self, path: str = '', *, recursive: bool = True) -> list[str]:
        """Tables under directory ``path``."""
        path = normalize_path(path, what='directory path', allow_root=True)
        with self.store.read() as conn:
            if path and not dir_exists(conn, path):
                raise NotFoundError(missing_dir_message(conn, path))
            paths = conn.execute(
                sa.select(tables_table.c.path).order_by(tables_table.c.path)
            ).scalars()
            return [p for p in paths if is_under(p, path, recursive)]

    def drop_table(
        self, path: str, *, force: bool = False, if_not_exists: IfNotExists = 'error'
    ) -> bool:
        """Drop a table and its data (its media files are left for ``gc``).

        Refused while views or snapshots are based on it, unless ``force``, which drops them
        too (and those based on them); with ``force`` a missing table is no error.
        """
        if_not_exists = check_if_not_exists(if_not_exists)
        path = normalize_path(path, what='table path')
        with self.store.begin() as conn:
            table_id = table_id_at(conn, path)
            if table_id is None:
                if if_not_exists == 'ignore' or force:  # as in Pixeltable
                    return False
                raise NotFoundError(self._missing_table_message(conn, path))
            self.drop_with_dependents(conn, table_id, path, force=force)
        return True

    def dependents(self, conn: sa.Connection, table_id: int) -> list[tuple[int, str, str]]:
        """Views and snapshots based on the table, directly or not: (id, path, kind)."""
        found: list[tuple[int, str, str]] = []
        frontier = [table_id]
        while frontier:
            rows = conn.execute(
                sa.select(derived_table.c.table_id, tables_table.c.path, derived_table.c.kind)
                .join(tables_table, tables_table.c.id == derived_table.c.table_id)
                .where(derived_table.c.base_id.in_(frontier))
                .order_by(tables_table.c.path)
            ).all()
            found += [(int(i), str(p), str(k)) for i, p, k in rows]
            frontier = [int(i) for i, _, _ in rows]
        return found

    def drop_with_dependents(
        self,
        conn: sa.Connection,
        table_id: int,
        path: str,
        *,
        force: bool,
        option: str = 'force=True',
    ) -> None:
        """Drop a table; its views and snapshots too with ``force`` (``option`` says how)."""
        dependents = self.dependents(conn, table_id)
        if dependents and not force:
            names = ', '.join(f'{k} {p!r}' for _, p, k in dependents[:5])
            more = '...' if len(dependents) > 5 else ''
            them = 'it' if len(dependents) == 1 else 'them'
            raise InvalidValueError(
                f'Table {path!r} cannot be dropped: {names}{more} depend'
                f'{"s" if len(dependents) == 1 else ""} on it. Drop {them} first, or pass '
                f'{option} to drop {them} too.'
            )
        for dep_id, _, _ in reversed(dependents):
            self._drop_table_rows(conn, dep_id)
        self._drop_table_rows(conn, table_id)
        if dependents:  # never silently: say what went with it
            names = ', '.join(f'{k} {p!r}' for _, p, k in dependents)
            print(f'Dropped {names} with {path!r} ({option}).')

    # -- schemas -----------------------------------------------------------------
    def schema(self, table_id: int) -> TableSchema:
        """The table's current schema (cached until its version changes)."""
        writes = self.store.writes  # before the read: a write during it leaves it stale
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(tables_table.c.path, tables_table.c.version).where(
                    tables_table.c.id == table_id
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError(
                    f'Table #{table_id} no longer exists (dropped, possibly by another process).'
                )
            cached = self._schemas.get(table_id)
            if cached is not None and cached.version == row.version and cached.path == row.path:
                self._read_at[table_id] = writes
                return cached
            cols = columns_json(conn, table_id)
            derived = derived_row(conn, table_id)
            views = conn.execute(
                sa.select(derived_table.c.table_id)
                .where(derived_table.c.base_id == table_id, derived_table.c.kind == 'view')
                .order_by(derived_table.c.table_id)
            ).scalars()
            schema = build_schema(table_id, row.path, row.version, cols, derived)
            schema = dataclasses.replace(schema, views=tuple(int(v) for v in views))
        self._schemas[table_id], self._read_at[table_id] = schema, writes
        return schema

    def schema_having(self, table_id: int, name: str) -> TableSchema:
        """The schema last read if it has ``name`` and nothing was written since; else current.

        The first needs no database read ("written": by this process). For building
        expressions: what runs them reads the current schema and refuses a column that
        another process dropped since.
        """
        known = self._schemas.get(table_id)
        fresh = self._read_at.get(table_id) == self.store.writes
        if known is not None and fresh and (known.column(name) or known.unstored_column(name)):
            return known
        return self.schema(table_id)

    def schema_at(self, table_id: int, version: int) -> TableSchema:
        """The table as it was at ``version``: read-only, its rows read from the history."""
        current = self.schema(table_id)
        with self.store.read() as conn:
            cols = columns_at(conn, table_id, version)
            latest = current_version(conn, table_id)
            derived = derived_row(conn, table_id)
        if cols is None:
            raise NotFoundError(
                f'Table {current.path!r} has no version {version}; its versions are 0 to '
                f'{latest} (see t.history()).'
            )
        old = build_schema(table_id, current.path, current.version, cols, derived)
        names = [c.name for col in old.columns for c in col.sql.sa_columns(col.col_type.sql_type())]
        assert old.history is not None
        source = rows_at(current.sa_table, old.history, names, version)
        return dataclasses.replace(old, source=source, at_version=version)

    def _drop_table_rows(self, conn: sa.Connection, table_id: int) -> None:
        base_id = conn.execute(
            sa.select(derived_table.c.base_id).where(derived_table.c.table_id == table_id)
        ).scalar()
        if base_id is not None:
            bump_version(conn, int(base_id))  # its handles stop syncing this view
        drop_row_tables(conn, table_id)
        drop_indexes_of(conn, table_id, self.config.home)
        conn.execute(sa.delete(versions_table).where(versions_table.c.table_id == table_id))
        conn.execute(sa.delete(derived_table).where(derived_table.c.table_id == table_id))
        conn.execute(sa.delete(columns_table).where(columns_table.c.table_id == table_id))
        conn.execute(sa.delete(tables_table).where(tables_table.c.id == table_id))
        self._schemas.pop(table_id, None)

    def _missing_table_message(self, conn: sa.Connection, path: str) -> str:
        tables = list(conn.execute(sa.select(tables_table.c.path)).scalars())
        close = difflib.get_close_matches(path, tables, n=1)
        hint = f' Did you mean {close[0]!r}?' if close else ''
        parent = parent_of(path)
        where = f'rv.list_tables({parent!r})' if parent else 'rv.list_tables()'
        return f'Table {path!r} does not exist.{hint} See {where}.'


def _column_type(name: str, spec: Any) -> ts.ColumnType:
    try:
        return ts.to_column_type(spec)
    except InvalidValueError as e:
        raise InvalidValueError(f'Column {name!r}: {e}') from None
