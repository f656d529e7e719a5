"""The public functions: they open (or reuse) the process-wide catalog and call it.

Only these functions read the default catalog that ``init()`` opens; everything below
takes the catalog as an argument.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from reverie.catalog.calls import CallsQuery, calls_query
from reverie.catalog.catalog import Catalog
from reverie.catalog.paths import name_of
from reverie.catalog.table import Table
from reverie.config import Config

_lock = threading.Lock()
_default: Catalog | None = None


def init(config: dict[str, Any] | None = None) -> Catalog:
    """Open the catalog (reading the environment and config file); reopens on each call.

    Args:
        config: settings that win over the environment: ``home``, ``db_url``,
            ``media_dir``, ``progress``.
    """
    global _default
    with _lock:
        if _default is not None:
            _default.close()
        _default = Catalog(Config.load(config))
        return _default


def default_catalog() -> Catalog:
    global _default
    with _lock:
        if _default is None:
            _default = Catalog(Config.load())
        return _default


def create_dir(
    path: str, *, if_exists: Literal['error', 'ignore', 'replace'] = 'error', parents: bool = False
) -> None:
    """Create a directory: ``rv.create_dir('reve_demo')``."""
    if default_catalog().create_dir(path, if_exists=if_exists, parents=parents):
        print(f"Created directory '{path}'.")


def drop_dir(
    path: str, *, force: bool = False, if_not_exists: Literal['error', 'ignore'] = 'error'
) -> None:
    """Drop a directory (``force=True``: with its contents)."""
    default_catalog().drop_dir(path, force=force, if_not_exists=if_not_exists)


def list_dirs(path: str = '', *, recursive: bool = True) -> list[str]:
    """Directory paths under ``path``."""
    return default_catalog().list_dirs(path, recursive=recursive)


def create_table(
    path: str,
    schema: dict[str, Any],
    *,
    if_exists: Literal['error', 'ignore', 'replace'] = 'error',
) -> Table:
    """Create a table: ``rv.create_table('dir/scenes', {'prompt': rv.String})``."""
    catalog = default_catalog()
    table_id = catalog.create_table(path, schema, if_exists=if_exists)
    if table_id is None:
        return Table(catalog, catalog.table_id(path))
    print(f"Created table '{name_of(path.replace('.', '/'))}'.")
    return Table(catalog, table_id)


def get_table(path: str) -> Table:
    """The table at ``path``."""
    catalog = default_catalog()
    return Table(catalog, catalog.table_id(path))


def list_tables(path: str = '', *, recursive: bool = True) -> list[str]:
    """Table paths under directory ``path``."""
    return default_catalog().list_tables(path, recursive=recursive)


def drop_table(path: str, *, if_not_exists: Literal['error', 'ignore'] = 'error') -> None:
    """Drop a table."""
    default_catalog().drop_table(path, if_not_exists=if_not_exists)


def move(path: str, new_path: str) -> None:
    """Move or rename a table or directory."""
    default_catalog().move(path, new_path)


def calls(table: str | Table | None = None) -> CallsQuery:
    """The ledger of paid calls (every attempt, cache hits included), of one table or all.

    Examples:
        >>> rv.calls('reve_demo.scenes').group_by('outcome').collect()  # doctest: +SKIP
    """
    catalog = default_catalog()
    if table is None:
        return calls_query(catalog, None)
    table_id = table._id if isinstance(table, Table) else catalog.table_id(table)
    return calls_query(catalog, table_id)
