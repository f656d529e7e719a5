"""The catalog: directories, tables and their column definitions, in the database.

A ``Catalog`` owns the store, the media store and the resource pools of one process and
is passed down to everything below; only the public functions in ``reverie/__init__.py``
read the process-wide default that ``rv.init()`` opens.
"""

from __future__ import annotations

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
from reverie.config import Config
from reverie.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from reverie.exec.context import ExecContext
from reverie.exec.pools import PoolRegistry
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs import serialize
from reverie.store.db import (
    ColumnSql,
    Store,
    build_data_table,
    columns_table,
    data_table_name,
    dirs_table,
    tables_table,
)
from reverie.store.ledger import Ledger
from reverie.store.media import MediaStore


class Catalog:
    """Dirs and tables of one database, with its media store and resource pools."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.db_url)
        self.media = MediaStore(config.media_dir, allow_private_urls=config.allow_private_urls)
        self.pools = PoolRegistry()
        self.exec = ExecContext(
            self.store, self.media, self.pools, config, config.progress, Ledger(self.store)
        )
        self._schemas: dict[int, TableSchema] = {}

    def __repr__(self) -> str:
        return f'<Catalog {self.store!r} media={str(self.media.root)!r}>'

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
        for table_id, _ in tables:
            self._drop_table_rows(conn, table_id)
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

        ``if_exists``: 'error', 'ignore' (keep the table), 'replace' or 'replace_force' (drop
        it and start over; the same here, as reverie has no views depending on a table).
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
            existing = self._table_id(conn, path)
            if existing is not None:
                if if_exists == 'ignore':
                    return None
                if if_exists == 'error':
                    raise AlreadyExistsError(
                        f'Table {path!r} already exists; pass if_exists="ignore" to use it or '
                        'if_exists="replace" to start over.'
                    )
                self._drop_table_rows(conn, existing)
            if self._dir_exists(conn, path):
                raise AlreadyExistsError(f'{path!r} is a directory, not a table.')
            parent = parent_of(path)
            if parent and not self._dir_exists(conn, parent):
                raise NotFoundError(
                    f'Directory {parent!r} does not exist; create it first with '
                    f'rv.create_dir({parent!r}).'
                )
            table_id = self.store.next_id(conn, tables_table)
            conn.execute(
                sa.insert(tables_table).values(
                    id=table_id, path=path, version=1, created_at=time.time()
                )
            )
            col_specs = []
            for position, (name, col_type) in enumerate(columns):
                col_id = self.store.next_id(conn, columns_table)
                conn.execute(
                    sa.insert(columns_table).values(
                        id=col_id,
                        table_id=table_id,
                        name=name,
                        position=position,
                        col_type=col_type.to_json(),
                        computed=None,
                    )
                )
                col_specs.append((ColumnSql(col_id, False), col_type.sql_type()))
            build_data_table(table_id, col_specs).create(conn)
        return int(table_id)

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

        ``force`` is accepted for Pixeltable's sake: it also drops dependent views there,
        and reverie has none, so every drop is already complete.
        """
        del force
        if_not_exists = check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
        path = normalize_path(path, what='table path')
        with self.store.begin() as conn:
            table_id = self._table_id(conn, path)
            if table_id is None:
                if if_not_exists == 'ignore':
                    return False
                raise NotFoundError(self._missing_table_message(conn, path))
            self._drop_table_rows(conn, table_id)
        return True

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
            col_rows = conn.execute(
                sa.select(columns_table)
                .where(columns_table.c.table_id == table_id)
                .order_by(columns_table.c.position)
            ).all()
        schema = self._build_schema(table_id, row.path, row.version, col_rows)
        self._schemas[table_id] = schema
        return schema

    def _build_schema(
        self, table_id: int, path: str, version: int, col_rows: Sequence[Any]
    ) -> TableSchema:
        columns: list[ColumnSchema] = []
        by_id: dict[int, ColumnSchema] = {}

        def lookup(column_id: int) -> n.ColumnRef:
            if column_id not in by_id:
                raise NotFoundError(f'column #{column_id} of table {path!r} is gone')
            return by_id[column_id].ref(table_id)

        for r in col_rows:
            col_type = ts.ColumnType.from_json(r.col_type)
            expr, load_error = None, None
            if r.computed is not None:
                try:
                    expr = serialize.from_json(r.computed['expr'], lookup)
                except NotFoundError as e:
                    load_error = f'column {r.name!r} cannot be computed: {e}'
            col = ColumnSchema(
                r.id, r.name, col_type, expr, load_error, is_computed=r.computed is not None
            )
            columns.append(col)
            by_id[col.id] = col
        specs = [(c.sql, c.col_type.sql_type()) for c in columns]
        return TableSchema(
            table_id, path, version, tuple(columns), build_data_table(table_id, specs)
        )

    # -- columns -------------------------------------------------------------------
    def add_column(
        self, schema: TableSchema, name: str, col_type: ts.ColumnType, node: n.Node | None
    ) -> None:
        """Add a stored (``node`` None) or computed column: its catalog row and SQL columns."""
        store = self.store
        with store.begin() as conn:
            # The version first: on PostgreSQL its row lock orders this change against
            # inserts (which read it FOR SHARE) before the ALTER TABLE can wait on them.
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
            store.add_sql_columns(conn, schema.sa_table.name, sql.sa_columns(col_type.sql_type()))

    def remove_column(self, schema: TableSchema, col: ColumnSchema) -> None:
        """Drop a column's catalog row and SQL columns (its index first: SQLite needs that)."""
        store = self.store
        with store.begin() as conn:
            self.bump_version(conn, schema.id)  # first, as in add_column
            store.drop_index(conn, schema.sa_table.name, col.sql.value)
            conn.execute(sa.delete(columns_table).where(columns_table.c.id == col.id))
            sql_names = [c.name for c in col.sql.sa_columns(col.col_type.sql_type())]
            store.drop_sql_columns(conn, schema.sa_table.name, sql_names)

    def rename_column(self, schema: TableSchema, col: ColumnSchema, new: str) -> None:
        """Rename a column; expressions refer to columns by id, so they keep working."""
        with self.store.begin() as conn:
            self.bump_version(conn, schema.id)
            conn.execute(
                sa.update(columns_table).where(columns_table.c.id == col.id).values(name=new)
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
        conn.execute(sa.text(f'DROP TABLE IF EXISTS {data_table_name(table_id)}'))
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
