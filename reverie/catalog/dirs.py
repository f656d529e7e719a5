"""Directories of the catalog: create, drop, list, and move (of tables and directories).

Directories are rows of their own; a table's path names its directory. Moving a directory
moves every table under it (each one's version changes, so open handles reload).
"""

from __future__ import annotations

import difflib
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie.catalog.options import (
    IF_NOT_EXISTS,
    IfExists,
    IfNotExists,
    check_if_exists,
    check_if_not_exists,
    check_option,
    keep_existing,
)
from reverie.catalog.paths import normalize_path, parent_of
from reverie.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from reverie.store.db import dirs_table, tables_table

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog


def create_dir(
    catalog: Catalog, path: str, *, if_exists: IfExists = 'error', parents: bool = False
) -> bool:
    """Create a directory; returns whether it was created.

    ``if_exists``: 'error', 'ignore' (keep it), 'replace' (drop it if empty and create it
    again) or 'replace_force' (drop it with everything in it, then create it again).
    """
    if_exists = check_if_exists(if_exists)
    path = normalize_path(path, what='directory path')
    with catalog.store.begin() as conn:
        if table_id_at(conn, path) is not None:
            raise AlreadyExistsError(f'{path!r} is a table, not a directory.')
        if dir_exists(conn, path):
            taken = f'Directory {path!r} already exists; pass if_exists="ignore" to reuse it.'
            if keep_existing(if_exists, taken):
                return False
            _drop_dir_rows(catalog, conn, path, force=if_exists == 'replace_force', replacing=True)
        parent = parent_of(path)
        missing = []
        while parent and not dir_exists(conn, parent):
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
    catalog: Catalog, path: str, *, force: bool = False, if_not_exists: IfNotExists = 'error'
) -> bool:
    """Drop a directory; with ``force`` everything in it, and a missing one is no error."""
    if_not_exists = check_if_not_exists(if_not_exists)
    path = normalize_path(path, what='directory path')
    with catalog.store.begin() as conn:
        if not dir_exists(conn, path):
            if if_not_exists == 'ignore' or force:
                return False
            raise NotFoundError(missing_dir_message(conn, path))
        _drop_dir_rows(catalog, conn, path, force=force)
    return True


def _drop_dir_rows(
    catalog: Catalog, conn: sa.Connection, path: str, *, force: bool, replacing: bool = False
) -> None:
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
        if replacing:  # Pixeltable: PATH_ALREADY_EXISTS, 'already exists and is not empty'
            raise AlreadyExistsError(
                f'Directory {path!r} already exists and is not empty (it holds {shown}); '
                "pass if_exists='replace_force' to drop it with everything in it."
            )
        raise InvalidValueError(
            f'Directory {path!r} is not empty (it holds {shown}); pass force=True '
            "(or if_exists='replace_force') to drop it with everything in it."
        )
    for table_id, table_path in tables:
        if conn.execute(sa.select(tables_table.c.id).where(tables_table.c.id == table_id)).first():
            catalog.drop_with_dependents(conn, table_id, table_path, force=True)
    conn.execute(
        sa.delete(dirs_table).where(
            sa.or_(
                dirs_table.c.path == path,
                dirs_table.c.path.startswith(prefix, autoescape=True),
            )
        )
    )


def list_dirs(catalog: Catalog, path: str = '', *, recursive: bool = True) -> list[str]:
    """Directories under ``path`` (all of them with ``recursive``)."""
    path = normalize_path(path, what='directory path', allow_root=True)
    with catalog.store.read() as conn:
        if path and not dir_exists(conn, path):
            raise NotFoundError(missing_dir_message(conn, path))
        paths = conn.execute(sa.select(dirs_table.c.path).order_by(dirs_table.c.path)).scalars()
        return [p for p in paths if is_under(p, path, recursive)]


def move(
    catalog: Catalog,
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
    if_not_exists = check_if_not_exists(if_not_exists)
    path = normalize_path(path)
    new_path = normalize_path(new_path)
    if path == new_path:
        raise InvalidValueError(f'move({path!r}, {new_path!r}): the paths are the same.')
    if new_path.startswith(path + '/'):
        raise InvalidValueError(
            f'Cannot move {path!r} into its own subdirectory {new_path!r}; move it beside '
            'or above itself instead.'
        )
    with catalog.store.begin() as conn:
        if table_id_at(conn, path) is None and not dir_exists(conn, path):
            if if_not_exists == 'ignore':
                return False
            raise NotFoundError(f'No table or directory {path!r}; see rv.list_tables().')
        if table_id_at(conn, new_path) is not None or dir_exists(conn, new_path):
            if if_exists == 'ignore':
                return False
            raise AlreadyExistsError(
                f'{new_path!r} already exists; pass if_exists="ignore" to leave both as they '
                'are, or choose another name.'
            )
        parent = parent_of(new_path)
        if parent and not dir_exists(conn, parent):
            raise NotFoundError(f'Directory {parent!r} does not exist.')
        table_id = table_id_at(conn, path)
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


def dir_exists(conn: sa.Connection, path: str) -> bool:
    return (
        conn.execute(sa.select(dirs_table.c.id).where(dirs_table.c.path == path)).first()
        is not None
    )


def table_id_at(conn: sa.Connection, path: str) -> int | None:
    """The id of the table at ``path``, or None."""
    row = conn.execute(sa.select(tables_table.c.id).where(tables_table.c.path == path)).first()
    return None if row is None else int(row[0])


def missing_dir_message(conn: sa.Connection, path: str) -> str:
    dirs = list(conn.execute(sa.select(dirs_table.c.path)).scalars())
    close = difflib.get_close_matches(path, dirs, n=1)
    hint = f' Did you mean {close[0]!r}?' if close else ''
    return f'Directory {path!r} does not exist.{hint} See rv.list_dirs().'


def is_under(p: str, path: str, recursive: bool) -> bool:
    if path and not p.startswith(path + '/'):
        return False
    rest = p[len(path) + 1 :] if path else p
    return recursive or '/' not in rest
