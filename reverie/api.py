"""The public functions: they open (or reuse) the process-wide catalog and call it.

Only these functions read the default catalog that ``init()`` opens; everything below
takes the catalog as an argument.
"""

from __future__ import annotations

import threading
from typing import Any, Literal, overload

from reverie import types as ts
from reverie.catalog.calls import CallsQuery, calls_query
from reverie.catalog.catalog import Catalog
from reverie.catalog.options import IF_NOT_EXISTS, check_option
from reverie.catalog.paths import name_of
from reverie.catalog.table import Table
from reverie.config import Config
from reverie.display.tracebacks import install_traceback_filter
from reverie.errors import InvalidValueError, NotFoundError
from reverie.io.sources import RowSource, conform, load_source

_lock = threading.Lock()
_default: Catalog | None = None

install_traceback_filter()  # in IPython/Jupyter: our errors show the user's lines only


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
    path: str,
    *,
    if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
    parents: bool = False,
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
    schema: dict[str, Any] | None = None,
    *,
    source: RowSource | None = None,
    schema_overrides: dict[str, Any] | None = None,
    on_error: Literal['abort', 'ignore'] = 'abort',
    if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
) -> Table:
    """Create a table from a schema, or from data whose columns give the schema.

    Args:
        path: ``'dir/name'`` or ``'dir.name'``.
        schema: column name to type, e.g. ``{'prompt': rv.String, 'photo': rv.Image}``.
        source: instead of ``schema``: a pandas DataFrame, a list of dicts or the path of a
            CSV / Parquet / JSON(L) file; the column types are inferred and its rows
            inserted.
        schema_overrides: types that win over the inferred ones, e.g. ``{'photo':
            rv.Image}`` for a column of image paths or URLs (never inferred).
        on_error: for the rows of ``source``, as in ``insert``.
        if_exists: ``'ignore'`` returns the existing table (nothing inserted).

    Examples:
        >>> t = rv.create_table('films', source='films.csv')  # doctest: +SKIP
    """
    catalog = default_catalog()
    loaded = None
    if source is not None:
        if schema is not None:
            raise InvalidValueError(
                'create_table() takes a schema or a source, not both; use schema_overrides= '
                'to set the types of some source columns.'
            )
        loaded = load_source(source)
        schema = _schema_of_source(loaded.types, schema_overrides or {})
    elif schema_overrides:
        raise InvalidValueError('schema_overrides= goes with source=; put the types in schema.')
    if schema is None:
        raise InvalidValueError(
            "create_table() needs a schema, e.g. {'prompt': rv.String}, or a source= "
            '(DataFrame, list of dicts, CSV / Parquet / JSON file).'
        )
    table_id = catalog.create_table(path, schema, if_exists=if_exists)
    if table_id is None:
        return Table(catalog, catalog.table_id(path))
    print(f"Created table '{name_of(path.replace('.', '/'))}'.")
    table = Table(catalog, table_id)
    if loaded is not None and loaded.rows:
        types = {c: ts.to_column_type(t) for c, t in schema.items()}
        try:
            table.insert(conform(loaded, types), on_error=on_error)
        except Exception:
            # A bad row refuses the whole import: no empty table stays behind either.
            catalog.drop_table(table._path, if_not_exists='ignore')
            raise
    return table


def _schema_of_source(
    inferred: dict[str, ts.ColumnType | None], overrides: dict[str, Any]
) -> dict[str, Any]:
    unknown = [c for c in overrides if c not in inferred]
    if unknown:
        raise InvalidValueError(
            f'schema_overrides names {", ".join(map(repr, unknown))}, not columns of the '
            f'source; its columns are {", ".join(map(repr, inferred))}.'
        )
    schema: dict[str, Any] = {**inferred, **overrides}
    untyped = [c for c, t in schema.items() if t is None]
    if untyped:
        raise InvalidValueError(
            f'Cannot tell the type of column(s) {", ".join(map(repr, untyped))}: every value is '
            f'null. Pass schema_overrides={{{untyped[0]!r}: rv.String}} (or another type).'
        )
    if not schema:
        raise InvalidValueError('The source has no columns; a table needs at least one.')
    return schema


TablePath = str | Table
"""A table's path (``'dir/t'`` or ``'dir.t'``) or the Table itself, as Pixeltable accepts."""


def _path_of(table: TablePath) -> str:
    return table._path if isinstance(table, Table) else table


@overload
def get_table(path: TablePath, *, if_not_exists: Literal['error'] = 'error') -> Table: ...
@overload
def get_table(path: TablePath, *, if_not_exists: Literal['ignore']) -> Table | None: ...


def get_table(
    path: TablePath, *, if_not_exists: Literal['error', 'ignore'] = 'error'
) -> Table | None:
    """The table at ``path``; with ``if_not_exists='ignore'``, None when there is none."""
    check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
    catalog = default_catalog()
    try:
        return Table(catalog, catalog.table_id(_path_of(path)))
    except NotFoundError:
        if if_not_exists == 'ignore':
            return None
        raise


def list_tables(path: str = '', *, recursive: bool = True) -> list[str]:
    """Table paths under directory ``path``."""
    return default_catalog().list_tables(path, recursive=recursive)


def drop_table(
    table: TablePath, *, force: bool = False, if_not_exists: Literal['error', 'ignore'] = 'error'
) -> None:
    """Drop a table, given by path or as the Table: ``rv.drop_table(t)``.

    ``force`` is accepted for Pixeltable's signature (there are no views yet).
    """
    check_option('if_not_exists', if_not_exists, IF_NOT_EXISTS)
    try:
        path = _path_of(table)
    except NotFoundError:  # a handle on a table dropped already
        if if_not_exists == 'ignore':
            return
        raise
    default_catalog().drop_table(path, force=force, if_not_exists=if_not_exists)


def move(
    path: TablePath,
    new_path: str,
    *,
    if_exists: Literal['error', 'ignore'] = 'error',
    if_not_exists: Literal['error', 'ignore'] = 'error',
) -> None:
    """Move or rename a table (by path or Table) or a directory.

    ``if_exists``: what to do when ``new_path`` is taken; ``if_not_exists``: when ``path``
    does not exist.
    """
    default_catalog().move(
        _path_of(path), new_path, if_exists=if_exists, if_not_exists=if_not_exists
    )


def calls(table: str | Table | None = None) -> CallsQuery:
    """The ledger of paid calls (every attempt, cache hits included), of one table or all.

    Examples:
        >>> rv.calls('reve_demo.scenes').group_by('outcome').collect()  # doctest: +SKIP
    """
    catalog = default_catalog()
    if table is None:
        return calls_query(catalog, None)
    table_id = catalog.table_id(_path_of(table))
    return calls_query(catalog, table_id)
