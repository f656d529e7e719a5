"""The public functions: they open (or reuse) the process-wide catalog and call it.

Only these functions read the default catalog that ``init()`` opens; everything below
takes the catalog as an argument.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal, overload

from reverie import types as ts
from reverie.catalog import budgets as caps
from reverie.catalog import dirs
from reverie.catalog.calls import CallsQuery, calls_query
from reverie.catalog.catalog import Catalog
from reverie.catalog.options import check_if_not_exists
from reverie.catalog.paths import name_of, split_version
from reverie.catalog.query import Query
from reverie.catalog.runs import summary
from reverie.catalog.table import Table
from reverie.config import Config
from reverie.display.resultset import ResultSet
from reverie.display.tracebacks import install_traceback_filter
from reverie.errors import InvalidValueError, NotFoundError
from reverie.exec.queries import all_columns
from reverie.exec.schema import TableSchema
from reverie.exec.worker import WorkerInfo, live_workers
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr
from reverie.exprs.render import render
from reverie.functions.images.registry import use_settings
from reverie.io.imports import use_create_table
from reverie.io.sources import RowSource, conform, load_source

_lock = threading.Lock()
_default: Catalog | None = None

install_traceback_filter()  # in IPython/Jupyter: our errors show the user's lines only
# images.* without model= read the default model from the open catalog's settings.
use_settings(lambda: default_catalog().exec.settings())


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
    if dirs.create_dir(default_catalog(), path, if_exists=if_exists, parents=parents):
        print(f"Created directory '{path}'.")


def drop_dir(
    path: str, *, force: bool = False, if_not_exists: Literal['error', 'ignore'] = 'error'
) -> None:
    """Drop a directory (``force=True``: with its contents)."""
    dirs.drop_dir(default_catalog(), path, force=force, if_not_exists=if_not_exists)


def list_dirs(path: str = '', *, recursive: bool = True) -> list[str]:
    """Directory paths under ``path``."""
    return dirs.list_dirs(default_catalog(), path, recursive=recursive)


def get_dir_contents(dir_path: str = '', recursive: bool = True) -> dict[str, list[str]]:
    """Pixeltable's ``get_dir_contents``: ``{'dirs': [...], 'tables': [...]}`` under a dir.

    Examples:
        >>> rv.get_dir_contents('reve_demo')  # doctest: +SKIP
        {'dirs': [], 'tables': ['reve_demo/scenes']}
    """
    return {
        'dirs': list_dirs(dir_path, recursive=recursive),
        'tables': list_tables(dir_path, recursive=recursive),
    }


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
        overrides = schema_overrides or {}
        as_text = [
            c for c, t in overrides.items() if isinstance(ts.to_column_type(t), ts.StringType)
        ]
        loaded = load_source(source, as_text)
        schema = _schema_of_source(loaded.types, overrides, loaded.exact)
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
    created = f"Created table '{name_of(path.replace('.', '/'))}'."
    table = Table(catalog, table_id)
    if loaded is None or not loaded.rows:
        print(created)
        return table
    types = {c: ts.to_column_type(t) for c, t in schema.items()}
    start = time.perf_counter()
    try:
        status = table.insert(conform(loaded, types), on_error=on_error, print_stats=False)
    except Exception:
        # A bad row refuses the whole import: no empty table stays behind either (and
        # nothing said it was created).
        catalog.drop_table(table._path, if_not_exists='ignore')
        raise
    print(created)
    print(summary('Inserted', status.num_rows, 'row', status.num_excs, start, status))
    return table


def _schema_of_source(
    inferred: dict[str, ts.ColumnType | None], overrides: dict[str, Any], exact: frozenset[str]
) -> dict[str, Any]:
    unknown = [c for c in overrides if c not in inferred]
    if unknown:
        raise InvalidValueError(
            f'schema_overrides names {", ".join(map(repr, unknown))}, not columns of the '
            f'source; its columns are {", ".join(map(repr, inferred))}.'
        )
    # As in Pixeltable, inferred columns take None; an override, or a type the file
    # states, is taken as written.
    nullable = {
        c: t if t is None or c in exact else t.copy(nullable=True) for c, t in inferred.items()
    }
    schema: dict[str, Any] = {**nullable, **overrides}
    untyped = [c for c, t in schema.items() if t is None]
    if untyped:
        raise InvalidValueError(
            f'Cannot tell the type of column(s) {", ".join(map(repr, untyped))}: every value is '
            f'null. Pass schema_overrides={{{untyped[0]!r}: rv.String | None}} (or another type).'
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
    """The table at ``path``; with ``if_not_exists='ignore'``, None when there is none.

    ``'dir/t:3'`` is the table as it was at version 3 (read-only; see ``t.history()``).
    """
    check_if_not_exists(if_not_exists)
    catalog = default_catalog()
    try:
        name, version = split_version(_path_of(path))
        table = Table(catalog, catalog.table_id(name), version)
        if version is not None:
            table.columns()  # a version that does not exist fails here, not later
        return table
    except NotFoundError:
        if if_not_exists == 'ignore':
            return None
        raise


def create_view(
    path: str,
    base: Table | Query,
    *,
    additional_columns: dict[str, Any] | None = None,
    if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
) -> Table:
    """A view of ``base`` (a table, or ``t.where(...)`` / ``t.select(...)``), kept in sync.

    Inserts, updates and deletes of the base reach the view; its own computed columns are
    computed for its rows only, and again only where what they read changed.

    Examples:
        >>> big = rv.create_view('demo/wide', t.where(t.scene.width > 1200))  # doctest: +SKIP
        >>> big.add_computed_column(thumb=big.scene.resize((256, 144)))  # doctest: +SKIP
    """
    return _create_derived(path, base, 'view', additional_columns, if_exists)


def create_snapshot(
    path: str,
    base: Table | Query,
    *,
    additional_columns: dict[str, Any] | None = None,
    if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
) -> Table:
    """A snapshot: the rows of ``base`` as they are now, frozen and read-only.

    Reverting ``base`` to before the snapshot is refused while the snapshot exists.
    """
    return _create_derived(path, base, 'snapshot', additional_columns, if_exists)


def _create_derived(
    path: str,
    base: Table | Query,
    kind: str,
    additional_columns: dict[str, Any] | None,
    if_exists: Literal['error', 'ignore', 'replace', 'replace_force'],
) -> Table:
    catalog = default_catalog()
    if isinstance(base, Table):
        base = base.select()
    if not isinstance(base, Query):
        raise InvalidValueError(
            f'create_{kind}() takes a table or a query such as t.where(t.n > 1), got '
            f'{type(base).__name__}.'
        )
    if base.version is not None:
        raise InvalidValueError(
            f'create_{kind}() takes the current table, not a past version; to keep version '
            f'{base.version}, revert to it first or query it with rv.get_table("path:N").'
        )
    spec = base.spec
    if spec.order or spec.max_rows is not None or spec.offset or spec.keys is not None:
        raise InvalidValueError(
            f'A {kind} is made of where() and select() only; order_by, limit and group_by '
            'belong in the queries over it.'
        )
    schema = catalog.schema(base.table_id)
    items = []
    for name, node in spec.items if spec.items is not None else all_columns(schema, unstored=False):
        if not isinstance(node, n.ColumnRef) or node.column_id < 0:
            raise InvalidValueError(
                f'{kind.capitalize()} column {name!r} is an expression ({render(node)}); select '
                f'columns only, then add it with add_computed_column() on the {kind}.'
            )
        items.append((name, schema.by_id(node.column_id)))
    if additional_columns and kind == 'snapshot':
        raise InvalidValueError('A snapshot is read-only: it takes no additional_columns.')
    table_id = catalog.create_derived(
        path, kind, schema, items, spec.predicate, if_exists=if_exists
    )
    if table_id is None:
        return Table(catalog, catalog.table_id(path))
    table = Table(catalog, table_id)
    rows = table.count()
    print(f"Created {kind} '{table._name}' with {rows} row{'' if rows == 1 else 's'}.")
    for name, value in (additional_columns or {}).items():
        if isinstance(value, Expr):
            table.add_computed_column(**{name: _rebased(value, schema, table)})  # type: ignore[arg-type]
        else:
            table.add_column(**{name: value})
    return table


def _rebased(value: Expr, base: TableSchema, view: Table) -> Expr:
    """An expression over the base's columns, made to read the view's mirrors of them."""
    mirrors = {c.mirror_of: c for c in view._schema().columns if c.mirror_of is not None}
    refs = {}
    for ref in n.column_refs(value.node):
        if ref.table_id != base.id or ref.column_id not in mirrors:
            raise InvalidValueError(
                f'Additional column {value!r} uses {ref.name!r}, which the view does not have.'
            )
        refs[ref] = mirrors[ref.column_id].ref(view._id)
    return Expr(n.replace_refs(value.node, refs))


def list_tables(path: str = '', *, recursive: bool = True) -> list[str]:
    """Table paths under directory ``path``."""
    return default_catalog().list_tables(path, recursive=recursive)


def drop_table(
    table: TablePath, *, force: bool = False, if_not_exists: Literal['error', 'ignore'] = 'error'
) -> None:
    """Drop a table, given by path or as the Table: ``rv.drop_table(t)``.

    Views and snapshots based on it are refused unless ``force``, which drops them too and
    says which.
    """
    check_if_not_exists(if_not_exists)
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
    dirs.move(
        default_catalog(),
        _path_of(path),
        new_path,
        if_exists=if_exists,
        if_not_exists=if_not_exists,
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


def workers() -> list[WorkerInfo]:
    """The live workers on this database: host, pid, tables, claims, heartbeat, calls/minute.

    A worker whose heartbeat stopped (killed, its host gone) is left out and its row deleted.

    Examples:
        >>> [w.host for w in rv.workers()]  # doctest: +SKIP
    """
    return live_workers(default_catalog().store)


def set_budget(
    *,
    credits: float | None = None,
    usd: float | None = None,
    per: Literal['day'] | None = None,
    table: str | Table | None = None,
) -> None:
    """Store a spend cap in the database, held by every process and worker that uses it.

    Each process reserves a call's worst-case price against the cap before the call leaves
    and settles it after, so N processes together never spend more than the cap. Reve is
    billed in ``credits``, OpenAI, Gemini and BFL in ``usd``; each unit has its own cap.
    With neither ``credits`` nor ``usd``, the caps of that scope are removed.

    Args:
        credits: the cap in Reve credits (None: unchanged).
        usd: the cap in USD (None: unchanged).
        per: ``'day'`` (UTC day) or None (for ever).
        table: the table whose calls it caps; None: all tables together.

    Examples:
        >>> rv.set_budget(credits=5000, per='day')  # doctest: +SKIP
    """
    catalog = default_catalog()
    table_id = None if table is None else catalog.table_id(_path_of(table))
    caps.set_budget(catalog, table_id, credits=credits, usd=usd, per=per)


def budgets() -> ResultSet:
    """The stored caps (``rv.set_budget``) and what was spent against each, per unit."""
    return caps.budgets(default_catalog())


use_create_table(create_table)  # rv.io.import_csv and friends create tables through it
