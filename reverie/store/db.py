"""The database: one SQLAlchemy Core engine, the catalog tables and the data tables.

SQLite (the default) runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE``
so concurrent writers queue on the lock instead of failing half-way. PostgreSQL is used
when the URL says so. SQL identifiers are never built from user input: data tables are
``rvt_<table id>`` and their columns ``c<column id>``; names users choose live only as
values in the catalog.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from reverie.errors import DatabaseUnavailableError, InvalidValueError
from reverie.store.ledger_tables import ledger_metadata, usd_apart_in
from reverie.store.shared_columns import catalog_table, created_at_column
from reverie.store.vector_tables import vector_metadata
from reverie.types import ColumnType

CATALOG_VERSION = 4  # 2: table versions (rv_versions, rvh_<id>, _v), views and snapshots
# 3: the ledger keeps USD in cost_usd only (credits: Reve's unit) and each call's owner
# 4: each answered call keeps its media file (answer_ref), so journal entries are pruned
BUSY_TIMEOUT_MS = 60_000  # how long a write waits for another process's lock (SQLite)
POOL_TIMEOUT_SECONDS = 30.0  # how long a thread waits for a free pooled connection
WRITE_QUEUE_SECONDS = 0.25  # a write waits this long behind this process's others (SQLite)

metadata = sa.MetaData()

meta_table = sa.Table(
    'rv_meta',
    metadata,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.Text, nullable=False),
)

dirs_table = catalog_table(
    'rv_dirs',
    metadata,
    sa.Column('path', sa.Text, nullable=False, unique=True),
)

tables_table = catalog_table(
    'rv_tables',
    metadata,
    sa.Column('path', sa.Text, nullable=False, unique=True),
    sa.Column('version', sa.Integer, nullable=False),
)

columns_table = catalog_table(
    'rv_columns',
    metadata,
    sa.Column('table_id', sa.Integer, nullable=False, index=True),
    sa.Column('name', sa.Text, nullable=False),
    sa.Column('position', sa.Integer, nullable=False),
    sa.Column('col_type', sa.JSON, nullable=False),
    sa.Column('computed', sa.JSON, nullable=True),
    # A column of a view or snapshot that mirrors a column of its base (its id there).
    sa.Column('mirror_of', sa.Integer, nullable=True),
    sa.UniqueConstraint('table_id', 'name'),
    created=False,
)

versions_table = sa.Table(
    'rv_versions',
    metadata,
    sa.Column('table_id', sa.Integer, primary_key=True, autoincrement=False),
    sa.Column('version', sa.Integer, primary_key=True, autoincrement=False),
    created_at_column(),
    sa.Column('kind', sa.String(32), nullable=False),
    sa.Column('inserted', sa.BigInteger, nullable=False, server_default='0'),
    sa.Column('updated', sa.BigInteger, nullable=False, server_default='0'),
    sa.Column('deleted', sa.BigInteger, nullable=False, server_default='0'),
    sa.Column('computed', sa.BigInteger, nullable=False, server_default='0'),
    sa.Column('errors', sa.BigInteger, nullable=False, server_default='0'),
    # The table's columns (rv_columns rows) after this version, when it changed them.
    sa.Column('columns', sa.JSON(none_as_null=True), nullable=True),
)

derived_table = sa.Table(
    'rv_derived',
    metadata,
    sa.Column('table_id', sa.Integer, primary_key=True, autoincrement=False),
    sa.Column('kind', sa.String(16), nullable=False),  # 'view' or 'snapshot'
    sa.Column('base_id', sa.Integer, nullable=False, index=True),
    sa.Column('base_version', sa.Integer, nullable=False),  # the base's version at creation
    sa.Column('predicate', sa.JSON(none_as_null=True), nullable=True),
)

# Scale-out (exec/worker.py, exec/shared_limits.py): the live workers, and each resource
# pool's cluster-wide window with its slots (a slot is leased, so a killed process's come back).
workers_table = sa.Table(
    'rv_workers',
    metadata,
    sa.Column('id', sa.String(128), primary_key=True),  # the claim owner id host:pid:nonce
    sa.Column('host', sa.Text, nullable=False),
    sa.Column('pid', sa.Integer, nullable=False),
    sa.Column('tables', sa.Text, nullable=False),
    sa.Column('started', sa.Float, nullable=False),
    sa.Column('heartbeat', sa.Float, nullable=False),
    sa.Column('claims', sa.Integer, nullable=False, server_default='0'),
    sa.Column('calls', sa.BigInteger, nullable=False, server_default='0'),
    sa.Column('calls_per_minute', sa.Float, nullable=False, server_default='0'),
)

limit_windows_table = sa.Table(
    'rv_limit_windows',
    metadata,
    sa.Column('pool', sa.String(128), primary_key=True),
    sa.Column('ceiling', sa.Integer, nullable=False),  # max_concurrency for the cluster
    sa.Column('window', sa.Integer, nullable=False),  # slots usable now (grows, narrows)
    sa.Column('probing', sa.Boolean, nullable=False),  # slow start until the first 429
    sa.Column('paused_until', sa.Float, nullable=False, server_default='0'),  # Retry-After
    sa.Column('next_start', sa.Float, nullable=False, server_default='0'),  # requests/minute
)

limit_slots_table = sa.Table(
    'rv_limit_slots',
    metadata,
    sa.Column('pool', sa.String(128), primary_key=True),
    sa.Column('slot', sa.Integer, primary_key=True, autoincrement=False),
    sa.Column('holder', sa.String(128), nullable=True),
    sa.Column('until', sa.Float, nullable=True),
)

# Cell states of a computed column.
PENDING, VALUE, ERROR = 0, 1, 2

ROWID = '_rowid'
VERSION = '_v'  # the table version that wrote the row as it is now
VERSION_END = '_v_end'  # history rows: the version that replaced or deleted the image
CLAIM_OWNER = '_claim_owner'
CLAIM_UNTIL = '_claim_until'


class _SqlName:
    """A ``ColumnSql`` attribute: the name of the SQL column ``c<column id><suffix>``."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def __get__(self, instance: ColumnSql, owner: type | None = None) -> str:
        return f'c{instance.column_id}{self.suffix}'


@dataclass(frozen=True)
class ColumnSql:
    """Physical names of one user column's SQL columns."""

    column_id: int
    computed: bool

    value = _SqlName('')  # the cell values
    state = _SqlName('_s')  # PENDING, VALUE or ERROR
    errortype = _SqlName('_et')
    errormsg = _SqlName('_em')
    cellmeta = _SqlName('_meta')

    def sa_columns(self, value_type: sa.types.TypeEngine[Any]) -> list[sa.Column[Any]]:
        """The SQL columns that hold this user column."""
        cols: list[sa.Column[Any]] = [sa.Column(self.value, value_type, nullable=True)]
        if self.computed:
            cols += [
                sa.Column(self.state, sa.SmallInteger, nullable=False, server_default='0'),
                sa.Column(self.errortype, sa.Text, nullable=True),
                sa.Column(self.errormsg, sa.Text, nullable=True),
                sa.Column(self.cellmeta, sa.JSON(none_as_null=True), nullable=True),
            ]
        return cols


def data_table_name(table_id: int) -> str:
    """SQL name of a user table's data table."""
    return f'rvt_{int(table_id)}'


def history_table_name(table_id: int) -> str:
    """SQL name of a user table's history table (row images replaced by later versions)."""
    return f'rvh_{int(table_id)}'


def index_name(table: str, column: str) -> str:
    """SQL name of the index ``add_index`` puts on a column."""
    return f'{table}_ix_{column}'


def _rowid_column() -> sa.Column[Any]:
    return sa.Column(
        ROWID,
        sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
        primary_key=True,
        autoincrement=True,
    )


def rowid_bounds(conn: Connection, table: sa.Table) -> tuple[int | None, int | None]:
    """The lowest and highest row id of ``table`` (None, None when empty), from the index.

    Two subqueries, not ``SELECT min(..), max(..)``: SQLite answers a lone min() or max()
    from the end of the B-tree but scans every row for both together (0.2 s at 1M rows).
    """
    rid = table.c[ROWID]
    lo = sa.select(sa.func.min(rid)).scalar_subquery()
    hi = sa.select(sa.func.max(rid)).scalar_subquery()
    low, high = conn.execute(sa.select(lo, hi)).one()
    return low, high


def build_data_table(
    table_id: int, columns: list[tuple[ColumnSql, sa.types.TypeEngine[Any]]]
) -> sa.Table:
    """A fresh ``sa.Table`` describing a data table (not bound to the global metadata)."""
    md = sa.MetaData()
    cols: list[sa.Column[Any]] = [
        _rowid_column(),
        sa.Column(CLAIM_OWNER, sa.Text, nullable=True),
        sa.Column(CLAIM_UNTIL, sa.Float, nullable=True),
        sa.Column(VERSION, sa.Integer, nullable=False, server_default='0'),
    ]
    for names, value_type in columns:
        cols += names.sa_columns(value_type)
    table = sa.Table(data_table_name(table_id), md, *cols, sqlite_autoincrement=True)
    # Claimed rows are few (the rows being computed right now): finding them, and counting
    # work held by other processes, must not scan the table.
    owner = table.c[CLAIM_OWNER]
    sa.Index(
        f'rvt_{int(table_id)}_claims',
        owner,
        sqlite_where=owner.is_not(None),
        postgresql_where=owner.is_not(None),
    )
    return table


def build_history_table(
    table_id: int, columns: list[tuple[ColumnSql, sa.types.TypeEngine[Any]]]
) -> sa.Table:
    """A fresh ``sa.Table`` describing a history table: row images and the versions they lived in.

    It has every SQL column the data table has or had (columns are added, never dropped).
    """
    md = sa.MetaData()
    name = history_table_name(table_id)
    cols: list[sa.Column[Any]] = [
        sa.Column(ROWID, sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column(VERSION, sa.Integer, nullable=False),
        sa.Column(VERSION_END, sa.Integer, nullable=False),
    ]
    for names, value_type in columns:
        cols += names.sa_columns(value_type)
    table = sa.Table(name, md, *cols)
    sa.Index(f'{name}_end', table.c[VERSION_END])
    sa.Index(f'{name}_rowid', table.c[ROWID])
    return table


def row_tables(
    table_id: int, columns: list[tuple[ColumnSql, sa.types.TypeEngine[Any]]]
) -> tuple[sa.Table, sa.Table]:
    """The data table of table ``table_id`` and its history table, with ``columns``."""
    return build_data_table(table_id, columns), build_history_table(table_id, columns)


def drop_row_tables(conn: Connection, table_id: int) -> None:
    """Drop the data and history tables of table ``table_id`` (those that exist)."""
    for name in (data_table_name(table_id), history_table_name(table_id)):
        conn.execute(sa.text(f'DROP TABLE IF EXISTS {name}'))


def database_problem(e: sa.exc.OperationalError) -> str:
    """One line about a database that cannot be reached; the URL's password is never shown."""
    reason = str(e.orig if e.orig is not None else e).strip().splitlines()[0].rstrip('.')
    return (
        f'Cannot use the database: {reason}. Check REVERIE_DB_URL (or [db] url in '
        'REVERIE_HOME/config.toml) and that the server is running.'
    )


class Store:
    """The engine and the few operations every layer above needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.is_sqlite = self.engine.dialect.name == 'sqlite'
        self.writes = 0  # write transactions this process has ended (see ``begin``)
        self._writers = threading.RLock()  # this process's SQLite writers, one at a time
        try:
            self._ensure_catalog()
        except sa.exc.OperationalError as e:
            self.engine.dispose()
            raise DatabaseUnavailableError(database_problem(e)) from None

    def __repr__(self) -> str:
        return f'<Store {self.engine.url.render_as_string(hide_password=True)!r}>'

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success.

        Each one ended counts in ``writes``: what this process read before may be stale.
        On SQLite this process's writers queue on a lock first (for up to
        ``WRITE_QUEUE_SECONDS``, then on SQLite's own): one that found the database lock
        taken slept by SQLite's busy schedule (1, 2, 5, 10 ms...), up to 20 ms past the
        moment another thread's transaction ended, where the queue wakes it at once.
        """
        queued = self.is_sqlite and self._writers.acquire(timeout=WRITE_QUEUE_SECONDS)
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(reverie_write=True)
                with conn.begin():
                    yield conn
        finally:
            self.writes += 1
            if queued:
                self._writers.release()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction with one consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def next_id(
        self,
        conn: Connection,
        table: sa.Table,
        referenced: sa.Column[Any] | None = None,
        count: int = 1,
    ) -> int:
        """A fresh id for a row of ``table`` (catalog tables, the journal), never given before.

        SQLite reuses the largest rowid after its row is deleted, so a handle to a dropped
        table (or a query holding a dropped column, a ledger row naming a pruned journal
        entry) would reach a newer one; ids therefore come from a counter in rv_meta that
        only grows. ``referenced``: a column elsewhere holding ids of ``table``, counted when
        the counter starts. ``count``: ids for that many rows, this one and the ones after
        it. Call inside a write transaction.
        """
        key = f'next_id:{table.name}'
        select = sa.select(meta_table.c.value).where(meta_table.c.key == key)
        if not self.is_sqlite:  # two processes' first ids: the row exists before it is locked
            conn.execute(pg_insert(meta_table).values(key=key, value='1').on_conflict_do_nothing())
            select = select.with_for_update()
        stored = conn.execute(select).scalar()
        highest = conn.execute(sa.select(sa.func.max(table.c.id))).scalar()
        if stored is None and referenced is not None:  # the counter starts past every use
            held = conn.execute(sa.select(sa.func.max(referenced))).scalar()
            highest = max(int(highest or 0), int(held or 0))
        new_id = max(int(stored or 1), int(highest or 0) + 1)
        if stored is None:
            conn.execute(sa.insert(meta_table).values(key=key, value=str(new_id + count)))
        else:
            conn.execute(
                sa.update(meta_table)
                .where(meta_table.c.key == key)
                .values(value=str(new_id + count))
            )
        return new_id

    def add_sql_columns(self, conn: Connection, table: str, cols: list[sa.Column[Any]]) -> None:
        """``ALTER TABLE ... ADD COLUMN`` for each column (names are ours, never user input)."""
        preparer = self.engine.dialect.identifier_preparer
        for col in cols:
            ddl = sa.schema.CreateColumn(col).compile(dialect=self.engine.dialect)
            conn.execute(sa.text(f'ALTER TABLE {preparer.quote(table)} ADD COLUMN {ddl}'))

    def drop_sql_columns(self, conn: Connection, table: str, names: list[str]) -> None:
        """``ALTER TABLE ... DROP COLUMN`` for each name (names are ours)."""
        preparer = self.engine.dialect.identifier_preparer
        for name in names:
            conn.execute(
                sa.text(f'ALTER TABLE {preparer.quote(table)} DROP COLUMN {preparer.quote(name)}')
            )

    def create_index(self, conn: Connection, table: str, column: str) -> bool:
        """``CREATE INDEX`` on one column (names are ours); False when it already exists."""
        preparer = self.engine.dialect.identifier_preparer
        name = index_name(table, column)
        if name in {ix['name'] for ix in sa.inspect(conn).get_indexes(table)}:
            return False
        conn.execute(
            sa.text(
                f'CREATE INDEX {preparer.quote(name)} ON {preparer.quote(table)} '
                f'({preparer.quote(column)})'
            )
        )
        return True

    def drop_index(self, conn: Connection, table: str, column: str) -> bool:
        """``DROP INDEX`` of one column's index; False when there is none."""
        name = index_name(table, column)
        if name not in {ix['name'] for ix in sa.inspect(conn).get_indexes(table)}:
            return False
        conn.execute(sa.text(f'DROP INDEX {self.engine.dialect.identifier_preparer.quote(name)}'))
        return True

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` on SQLite ('ok' when sound); 'ok' elsewhere."""
        if not self.is_sqlite:
            return 'ok'
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql('PRAGMA integrity_check').scalar())

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def _ensure_catalog(self) -> None:
        with self.begin() as conn:
            metadata.create_all(conn, checkfirst=True)
            ledger_metadata.create_all(conn, checkfirst=True)  # paid-call layer
            vector_metadata.create_all(conn, checkfirst=True)  # embedding indexes
            row = conn.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == 'catalog_version')
            ).scalar()
            if row is None:
                conn.execute(
                    sa.insert(meta_table).values(key='catalog_version', value=str(CATALOG_VERSION))
                )
            elif int(row) > CATALOG_VERSION:
                raise InvalidValueError(
                    f'The database at {self!r} was written by a newer reverie '
                    f'(catalog version {row}); upgrade reverie to open it.'
                )
            elif int(row) < CATALOG_VERSION:
                if int(row) < 2:
                    self._migrate_to_versions(conn)
                have = {c['name'] for c in sa.inspect(conn).get_columns('rv_calls')}
                for name in ('owner', 'answer_ref'):  # 3, 4
                    if name not in have:
                        self.add_sql_columns(conn, 'rv_calls', [sa.Column(name, sa.Text)])
                if int(row) < 3:
                    usd_apart_in(conn)  # 3
                conn.execute(
                    sa.update(meta_table)
                    .where(meta_table.c.key == 'catalog_version')
                    .values(value=str(CATALOG_VERSION))
                )

    def _migrate_to_versions(self, conn: Connection) -> None:
        """Catalog 1 -> 2: every table gets ``_v``, a history table and its version 0."""
        for table, column in (('rv_columns', 'mirror_of'), ('rv_calls', 'table_version')):
            # create_all above made the table whole if it was missing (an older ledger-less db)
            if column not in {c['name'] for c in sa.inspect(conn).get_columns(table)}:
                self.add_sql_columns(conn, table, [sa.Column(column, sa.Integer)])
        now = time.time()
        for table_id in conn.execute(sa.select(tables_table.c.id)).scalars().all():
            self.add_sql_columns(
                conn,
                data_table_name(table_id),
                [sa.Column(VERSION, sa.Integer, nullable=False, server_default='0')],
            )
            cols = columns_json(conn, table_id)
            build_history_table(table_id, column_specs(cols)).create(conn)
            conn.execute(
                sa.insert(versions_table).values(
                    table_id=table_id, version=0, created_at=now, kind='create', columns=cols
                )
            )


def columns_json(conn: Connection, table_id: int) -> list[dict[str, Any]]:
    """A table's rv_columns rows as plain dicts, in order (kept with each schema version)."""
    rows = conn.execute(
        sa.select(columns_table)
        .where(columns_table.c.table_id == table_id)
        .order_by(columns_table.c.position)
    ).mappings()
    return [
        {
            'id': r['id'],
            'name': r['name'],
            'position': r['position'],
            'col_type': r['col_type'],
            'computed': r['computed'],
            'mirror_of': r['mirror_of'],
        }
        for r in rows
    ]


def column_specs(cols: list[dict[str, Any]]) -> list[tuple[ColumnSql, sa.types.TypeEngine[Any]]]:
    """SQL names and types of the columns ``columns_json`` describes (unstored ones have none)."""
    return [
        (ColumnSql(c['id'], _stores_state(c)), ColumnType.from_json(c['col_type']).sql_type())
        for c in cols
        if not is_unstored(c)
    ]


def is_unstored(col: dict[str, Any]) -> bool:
    """Whether a column is computed when read (``stored=False``): no SQL column, no cells."""
    computed = col['computed']
    return isinstance(computed, dict) and computed.get('stored') is False


def _stores_state(col: dict[str, Any]) -> bool:
    """Whether a column has the computed layout (state, error, meta): computed or mirroring one."""
    # A mirror of a computed column has ``computed`` {'mirror': true}: the layout, no expression.
    return col['computed'] is not None


def _make_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise InvalidValueError(
            f'Database URL {url!r} is not valid; use sqlite:///path/to/file.db or '
            'postgresql+psycopg://user@host/dbname.'
        ) from None
    backend = parsed.get_backend_name()
    if backend == 'sqlite':
        if parsed.database and parsed.database != ':memory:':
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = sa.create_engine(
            parsed, connect_args={'timeout': 60}, pool_timeout=POOL_TIMEOUT_SECONDS
        )
        _configure_sqlite(engine)
        return engine
    if backend == 'postgresql':
        if parsed.drivername == 'postgresql':
            parsed = parsed.set(drivername='postgresql+psycopg')
        return sa.create_engine(
            parsed, pool_pre_ping=True, pool_size=10, pool_timeout=POOL_TIMEOUT_SECONDS
        )
    raise InvalidValueError(
        f'Database {backend!r} is not supported; use SQLite (default) or PostgreSQL '
        '(REVERIE_DB_URL=postgresql+psycopg://user@host/dbname).'
    )


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, 'connect')
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin() emit our own BEGIN (pysqlite's implicit one is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute('PRAGMA journal_mode=WAL')
        cur.execute('PRAGMA synchronous=NORMAL')
        cur.execute(f'PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}')
        cur.close()

    @sa.event.listens_for(engine, 'begin')
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get('reverie_write', False)
        conn.exec_driver_sql('BEGIN IMMEDIATE' if write else 'BEGIN')
