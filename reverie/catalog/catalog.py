"""The catalog: directories, tables and their column definitions, in the database.

A ``Catalog`` owns the store, the media store and the resource pools of one process and
is passed down to everything below; only the public functions in ``reverie/__init__.py``
read the process-wide default that ``rv.init()`` opens.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.options import (
    IF_EXISTS,
    IF_NOT_EXISTS,
    IfExists,
    IfNotExists,
    check_option,
)
from reverie.catalog.paths import check_column_name, normalize_path, parent_of
from reverie.catalog.views import predicate_json, sync_rows
from reverie.config import Config
from reverie.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from reverie.exec.context import ExecContext
from reverie.exec.pools import PoolRegistry
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs import serialize
from reverie.store.db import (
    VERSION,
    ColumnSql,
    Store,
    build_data_table,
    build_history_table,
    column_specs,
    columns_json,
    columns_table,
    data_table_name,
    derived_table,
    dirs_table,
    history_table_name,
    tables_table,
    versions_table,
)
from reverie.store.ledger import Ledger
from reverie.store.media import open_media_store
from reverie.store.versions import (
    archive_rows,
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
            config.media_dir, allow_private_urls=config.allow_private_urls
        )
        self.pools = PoolRegistry()
        self.exec = ExecContext(
            self.store, self.media, self.pools, config, config.progress, Ledger(self.store)
        )
        self._schemas: dict[int, TableSchema] = {}

    def __repr__(self) -> str:
        return f'<Catalog {self.store!r} media={self.media.location!r}>'

    def close(self) -> None:
        """Release database connections."""
        self.store.dispose()

    # -- directories -------------------------------------------------------------
    def create_dir(
        self, path: str, *, if_exists: IfExists = 'error', parents: bool = False
    ) -> bool:
        """Create a directory; returns whether it was created.

        ``if_exists``: 'error', 'ignore' (keep it), 'replace' (drop it if empty and create it
        again) or 'replace_force' (drop it with everything in it, then create it again).
        """
        if_exists = check_option('if_exists', if_exists, IF_EXISTS)
        path = normalize_path(path, what='directory path')
        with self.store.begin() as conn:
            if self._table_id(conn, path) is not None:
                raise AlreadyExistsError(f'{path!r} is a table, not a directory.')
            if self._dir_exists(conn, path):
                if if_exists == 'error':
                    raise AlreadyExistsError(
                        f'Directory {path!r} already exists; pass if_exists="ignore" to reuse it.'
                    )
                if if_exists == 'ignore':
                    return False
                self._drop_dir_rows(conn, path, force=if_exists == 'replace_force')
            parent = parent_of(path)
            missing = []
            while parent and not self._dir_exists(conn, parent):
                missing.append(parent)
                parent = parent_of(parent)
            if missing and not parents:
                raise NotFoundError(
                    f'Parent directory {missing[-1]!r} of {path!r} does not exist; create it '
                    'first or pass parents=True.'
                )
            for p in [*reversed(missing), path]:
                conn.execute(sa.insert(dirs_table).values(path=p, created_at=time.time()))
        return True

    def drop_dir(
        self, path: str, *, force: bool = False, if_not_exists: IfNotExists = 'error'
    ) -> bool:
        """Drop a directory (with ``force``, also everything in it)."""
        if_not_exists = check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
        path = normalize_path(path, what='directory path')
        with self.store.begin() as conn:
            if not self._dir_exists(conn, path):
                if if_not_exists == 'ignore':
                    return False
                raise NotFoundError(self._missing_dir_message(conn, path))
            self._drop_dir_rows(conn, path, force=force)
        return True

    def _drop_dir_rows(self, conn: sa.Connection, path: str, *, force: bool) -> None:
        prefix = path + '/'
        tables = conn.execute(
            sa.select(tables_table.c.id, tables_table.c.path).where(
                tables_table.c.path.startswith(prefix, autoescape=True)
            )
        ).all()
        subdirs = (
            conn.execute(
                sa.select(dirs_table.c.path).where(
                    dirs_table.c.path.startswith(prefix, autoescape=True)
                )
            )
            .scalars()
            .all()
        )
        if (tables or subdirs) and not force:
            contents = sorted([p for _, p in tables] + list(subdirs))
            shown = ', '.join(map(repr, contents[:5])) + ('...' if len(contents) > 5 else '')
            raise InvalidValueError(
                f'Directory {path!r} is not empty (it holds {shown}); pass force=True '
                "(or if_exists='replace_force') to drop it with everything in it."
            )
        for table_id, table_path in tables:
            if conn.execute(
                sa.select(tables_table.c.id).where(tables_table.c.id == table_id)
            ).first():
                self._drop_with_dependents(conn, table_id, table_path, force=True)
        conn.execute(
            sa.delete(dirs_table).where(
                sa.or_(
                    dirs_table.c.path == path,
                    dirs_table.c.path.startswith(prefix, autoescape=True),
                )
            )
        )

    def list_dirs(self, path: str = '', *, recursive: bool = True) -> list[str]:
        """Directories under ``path`` (all of them with ``recursive``)."""
        path = normalize_path(path, what='directory path', allow_root=True)
        with self.store.read() as conn:
            if path and not self._dir_exists(conn, path):
                raise NotFoundError(self._missing_dir_message(conn, path))
            paths = conn.execute(sa.select(dirs_table.c.path).order_by(dirs_table.c.path)).scalars()
            return [p for p in paths if _is_under(p, path, recursive)]

    # -- tables ------------------------------------------------------------------
    def create_table(
        self, path: str, schema: dict[str, Any], *, if_exists: IfExists = 'error'
    ) -> int | None:
        """Create a table; returns its id, or None when it existed and was kept.

        ``if_exists``: 'error', 'ignore' (keep the table), 'replace' (drop it and start over;
        refused while views depend on it) or 'replace_force' (drop its views too).
        """
        if_exists = check_option('if_exists', if_exists, IF_EXISTS)
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
        build_data_table(table_id, specs).create(conn)
        build_history_table(table_id, specs).create(conn)
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
        if_exists = check_option('if_exists', if_exists, IF_EXISTS)
        path = normalize_path(path, what=f'{kind} path')
        with self.store.begin() as conn:
            if not self._make_way(conn, path, if_exists, keep=base.id, kind=kind):
                return None
            self._check_new_table_path(conn, path)
            table_id = self._insert_table(
                conn, path, [(name, col.col_type, col) for name, col in items]
            )
            self.bump_version(conn, base.id)  # the base's handles learn of the new view
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
        existing = self._table_id(conn, path)
        if existing is None:
            return True
        if if_exists == 'ignore':
            return False
        if if_exists == 'error':
            raise AlreadyExistsError(
                f'Table {path!r} already exists; pass if_exists="ignore" to use it or '
                'if_exists="replace" to start over.'
            )
        if existing == keep:
            raise InvalidValueError(f'A {kind} cannot replace its own base {path!r}.')
        self._drop_with_dependents(
            conn,
            existing,
            path,
            force=if_exists == 'replace_force',
            option="if_exists='replace_force'",
        )
        return True

    def _check_new_table_path(self, conn: sa.Connection, path: str) -> None:
        if self._dir_exists(conn, path):
            raise AlreadyExistsError(f'{path!r} is a directory, not a table.')
        parent = parent_of(path)
        if parent and not self._dir_exists(conn, parent):
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
            table_id = self._table_id(conn, path)
            if table_id is None:
                raise NotFoundError(self._missing_table_message(conn, path))
            return table_id

    def list_tables(self, path: str = '', *, recursive: bool = True) -> list[str]:
        """Tables under directory ``path``."""
        path = normalize_path(path, what='directory path', allow_root=True)
        with self.store.read() as conn:
            if path and not self._dir_exists(conn, path):
                raise NotFoundError(self._missing_dir_message(conn, path))
            paths = conn.execute(
                sa.select(tables_table.c.path).order_by(tables_table.c.path)
            ).scalars()
            return [p for p in paths if _is_under(p, path, recursive)]

    def drop_table(
        self, path: str, *, force: bool = False, if_not_exists: IfNotExists = 'error'
    ) -> bool:
        """Drop a table and its data (its media files are left for ``gc``).

        Refused while views or snapshots are based on it, unless ``force``, which drops them
        too (and those based on them).
        """
        if_not_exists = check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
        path = normalize_path(path, what='table path')
        with self.store.begin() as conn:
            table_id = self._table_id(conn, path)
            if table_id is None:
                if if_not_exists == 'ignore':
                    return False
                raise NotFoundError(self._missing_table_message(conn, path))
            self._drop_with_dependents(conn, table_id, path, force=force)
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

    def _drop_with_dependents(
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

    def move(
        self,
        path: str,
        new_path: str,
        *,
        if_exists: IfNotExists = 'error',
        if_not_exists: IfNotExists = 'error',
    ) -> bool:
        """Rename or move a table or directory; returns whether anything moved.

        ``if_exists`` says what to do when ``new_path`` is taken, ``if_not_exists`` when
        ``path`` does not exist ('error' or 'ignore' each).
        """
        if_exists = check_option('if_exists', if_exists, IF_NOT_EXISTS)
        if_not_exists = check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
        path = normalize_path(path)
        new_path = normalize_path(new_path)
        if path == new_path:
            raise InvalidValueError(f'move({path!r}, {new_path!r}): the paths are the same.')
        if new_path.startswith(path + '/'):
            raise InvalidValueError(
                f'Cannot move {path!r} into its own subdirectory {new_path!r}; move it beside '
                'or above itself instead.'
            )
        with self.store.begin() as conn:
            if self._table_id(conn, path) is None and not self._dir_exists(conn, path):
                if if_not_exists == 'ignore':
                    return False
                raise NotFoundError(f'No table or directory {path!r}; see rv.list_tables().')
            if self._table_id(conn, new_path) is not None or self._dir_exists(conn, new_path):
                if if_exists == 'ignore':
                    return False
                raise AlreadyExistsError(
                    f'{new_path!r} already exists; pass if_exists="ignore" to leave both as they '
                    'are, or choose another name.'
                )
            parent = parent_of(new_path)
            if parent and not self._dir_exists(conn, parent):
                raise NotFoundError(f'Directory {parent!r} does not exist.')
            table_id = self._table_id(conn, path)
            if table_id is not None:
                conn.execute(
                    sa.update(tables_table)
                    .where(tables_table.c.id == table_id)
                    .values(path=new_path, version=tables_table.c.version + 1)
                )
                return True
            prefix = path + '/'
            for tbl in (dirs_table, tables_table):
                rows = conn.execute(
                    sa.select(tbl.c.id, tbl.c.path).where(
                        sa.or_(tbl.c.path == path, tbl.c.path.startswith(prefix, autoescape=True))
                    )
                ).all()
                for row_id, old in rows:
                    values: dict[str, Any] = {'path': new_path + old[len(path) :]}
                    if tbl is tables_table:
                        values['version'] = tables_table.c.version + 1
                    conn.execute(sa.update(tbl).where(tbl.c.id == row_id).values(values))
        return True

    # -- schemas -----------------------------------------------------------------
    def schema(self, table_id: int) -> TableSchema:
        """The table's current schema (cached until its version changes)."""
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
                return cached
            cols = columns_json(conn, table_id)
            derived = self._derived(conn, table_id)
            views = conn.execute(
                sa.select(derived_table.c.table_id)
                .where(derived_table.c.base_id == table_id, derived_table.c.kind == 'view')
                .order_by(derived_table.c.table_id)
            ).scalars()
            schema = self._build_schema(table_id, row.path, row.version, cols, derived)
            schema = dataclasses.replace(schema, views=tuple(int(v) for v in views))
        self._schemas[table_id] = schema
        return schema

    def schema_at(self, table_id: int, version: int) -> TableSchema:
        """The table as it was at ``version``: read-only, its rows read from the history."""
        current = self.schema(table_id)
        with self.store.read() as conn:
            cols = columns_at(conn, table_id, version)
            latest = current_version(conn, table_id)
            derived = self._derived(conn, table_id)
        if cols is None:
            raise NotFoundError(
                f'Table {current.path!r} has no version {version}; its versions are 0 to '
                f'{latest} (see t.history()).'
            )
        old = self._build_schema(table_id, current.path, current.version, cols, derived)
        names = [c.name for col in old.columns for c in col.sql.sa_columns(col.col_type.sql_type())]
        assert old.history is not None
        source = rows_at(current.sa_table, old.history, names, version)
        return dataclasses.replace(old, source=source, at_version=version)

    def _derived(self, conn: sa.Connection, table_id: int) -> Any:
        return conn.execute(
            sa.select(derived_table).where(derived_table.c.table_id == table_id)
        ).one_or_none()

    def _build_schema(
        self,
        table_id: int,
        path: str,
        version: int,
        cols: Sequence[dict[str, Any]],
        derived: Any = None,
    ) -> TableSchema:
        columns: list[ColumnSchema] = []
        by_id: dict[int, ColumnSchema] = {}

        def lookup(column_id: int) -> n.ColumnRef:
            if column_id not in by_id:
                raise NotFoundError(f'column #{column_id} of table {path!r} is gone')
            return by_id[column_id].ref(table_id)

        for r in cols:
            col_type = ts.ColumnType.from_json(r['col_type'])
            computed = r['computed']
            expr, load_error = None, None
            if computed is not None and 'expr' in computed:
                try:
                    expr = serialize.from_json(computed['expr'], lookup)
                except NotFoundError as e:
                    load_error = f'column {r["name"]!r} cannot be computed: {e}'
            col = ColumnSchema(
                r['id'],
                r['name'],
                col_type,
                expr,
                load_error,
                is_computed=computed is not None,
                mirror_of=r.get('mirror_of'),
            )
            columns.append(col)
            by_id[col.id] = col
        specs = [(c.sql, c.col_type.sql_type()) for c in columns]
        return TableSchema(
            table_id,
            path,
            version,
            tuple(columns),
            build_data_table(table_id, specs),
            history=build_history_table(table_id, specs),
            kind='table' if derived is None else str(derived.kind),
            base_id=None if derived is None else int(derived.base_id),
        )

    # -- columns -------------------------------------------------------------------
    def add_column(
        self, schema: TableSchema, name: str, col_type: ts.ColumnType, node: n.Node | None
    ) -> int:
        """Add a stored (``node`` None) or computed column (a new version); returns the version."""
        store = self.store
        with store.begin() as conn:
            # The version first: on PostgreSQL its row lock orders this change against
            # inserts (which lock it too) before the ALTER TABLE can wait on them.
            self.bump_version(conn, schema.id)
            col_id = store.next_id(conn, columns_table)
            conn.execute(
                sa.insert(columns_table).values(
                    id=col_id,
                    table_id=schema.id,
                    name=name,
                    position=len(schema.columns),
                    col_type=col_type.to_json(),
                    computed=None if node is None else {'expr': serialize.to_json(node)},
                )
            )
            sql = ColumnSql(col_id, node is not None)
            for table in (schema.sa_table.name, history_table_name(schema.id)):
                store.add_sql_columns(conn, table, sql.sa_columns(col_type.sql_type()))
            return begin_version(
                conn, store, schema.id, 'add_column', columns=columns_json(conn, schema.id)
            )

    def remove_column(self, schema: TableSchema, col: ColumnSchema) -> None:
        """Drop a column (a new version).

        The rows as they were go to the history first, so time travel and ``revert()`` still
        see the column; then its SQL columns leave the data table.
        """
        store = self.store
        with store.begin() as conn:
            self.bump_version(conn, schema.id)  # first, as in add_column
            conn.execute(sa.delete(columns_table).where(columns_table.c.id == col.id))
            version = begin_version(
                conn, store, schema.id, 'drop_column', columns=columns_json(conn, schema.id)
            )
            assert schema.history is not None
            archive_rows(conn, schema.sa_table, schema.history, None, version)
            conn.execute(sa.update(schema.sa_table).values({VERSION: version}))
            store.drop_index(conn, schema.sa_table.name, col.sql.value)
            sql_names = [c.name for c in col.sql.sa_columns(col.col_type.sql_type())]
            store.drop_sql_columns(conn, schema.sa_table.name, sql_names)

    def rename_column(self, schema: TableSchema, col: ColumnSchema, new: str) -> None:
        """Rename a column (a new version); expressions refer to columns by id and work on."""
        with self.store.begin() as conn:
            self.bump_version(conn, schema.id)
            conn.execute(
                sa.update(columns_table).where(columns_table.c.id == col.id).values(name=new)
            )
            begin_version(
                conn, self.store, schema.id, 'rename_column', columns=columns_json(conn, schema.id)
            )

    def bump_version(self, conn: sa.Connection, table_id: int) -> None:
        """Mark the table's schema as changed, so every handle reloads it."""
        conn.execute(
            sa.update(tables_table)
            .where(tables_table.c.id == table_id)
            .values(version=tables_table.c.version + 1)
        )

    # -- helpers -----------------------------------------------------------------
    def _dir_exists(self, conn: sa.Connection, path: str) -> bool:
        return (
            conn.execute(sa.select(dirs_table.c.id).where(dirs_table.c.path == path)).first()
            is not None
        )

    def _table_id(self, conn: sa.Connection, path: str) -> int | None:
        row = conn.execute(sa.select(tables_table.c.id).where(tables_table.c.path == path)).first()
        return None if row is None else int(row[0])

    def _drop_table_rows(self, conn: sa.Connection, table_id: int) -> None:
        base_id = conn.execute(
            sa.select(derived_table.c.base_id).where(derived_table.c.table_id == table_id)
        ).scalar()
        if base_id is not None:
            self.bump_version(conn, int(base_id))  # its handles stop syncing this view
        conn.execute(sa.text(f'DROP TABLE IF EXISTS {data_table_name(table_id)}'))
        conn.execute(sa.text(f'DROP TABLE IF EXISTS {history_table_name(table_id)}'))
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

    def _missing_dir_message(self, conn: sa.Connection, path: str) -> str:
        dirs = list(conn.execute(sa.select(dirs_table.c.path)).scalars())
        close = difflib.get_close_matches(path, dirs, n=1)
        hint = f' Did you mean {close[0]!r}?' if close else ''
        return f'Directory {path!r} does not exist.{hint} See rv.list_dirs().'


def _column_type(name: str, spec: Any) -> ts.ColumnType:
    try:
        return ts.to_column_type(spec)
    except InvalidValueError as e:
        raise InvalidValueError(f'Column {name!r}: {e}') from None


def _is_under(p: str, path: str, recursive: bool) -> bool:
    if path and not p.startswith(path + '/'):
        return False
    rest = p[len(path) + 1 :] if path else p
    return recursive or '/' not in rest
