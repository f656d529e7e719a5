"""Write prepared rows into a table's data table: the insert side of the engine.

Rows of a table with computed columns go in already claimed by this process (its cells are
computed next); a table of plain values takes the SQLite driver's fast path (no per-row
parameter processing). Either way the rows go in under the schema version they were
prepared for, or not at all (``SchemaChanged``).
"""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.exec.cells import owner_id
from reverie.exec.codec import DRIVER_NATIVE
from reverie.exec.schema import TableSchema
from reverie.exec.worker import LEASE_SECONDS
from reverie.store.db import CLAIM_OWNER, CLAIM_UNTIL, ROWID, VERSION, Store
from reverie.store.versions import begin_insert_version

INSERT_CHUNK = 5000


class SchemaChanged(Exception):
    """The table's columns changed between preparing rows and inserting them."""


@dataclass(frozen=True)
class Inserted:
    """What an insert wrote: its version, and the new row ids.

    ``rowids`` holds every new row id when cells are to be computed or views follow the
    table (the rows a view syncs), else none (the fast path does not ask for them).
    """

    version: int | None
    rowids: list[int]


def insert_rows(store: Store, schema: TableSchema, rows: list[dict[str, Any]]) -> Inserted:
    """Insert rows keyed by SQL column name, as one new version of the table."""
    if not rows:
        return Inserted(None, [])
    t = schema.sa_table
    computed = schema.computed()
    if computed:
        claim = {CLAIM_OWNER: owner_id(), CLAIM_UNTIL: time.time() + LEASE_SECONDS}
        for row in rows:
            row.update(claim)
    # Every row needs the same keys for executemany.
    keys = {k for row in rows for k in row}
    for row in rows:
        for k in keys - row.keys():
            row[k] = None
    rowids: list[int] = []
    plain = store.is_sqlite and all(
        k in (CLAIM_OWNER, CLAIM_UNTIL, VERSION)
        or isinstance(_value_type(schema, k), DRIVER_NATIVE)
        for k in keys
    )
    with store.begin() as conn:
        # The rows must go in under the schema they were prepared for: a computed column
        # added meanwhile would leave them pending with nobody to compute them. SQLite's
        # write lock (or the row lock on PostgreSQL, taken by begin_version) holds the
        # schema still until commit.
        version = begin_insert_version(conn, store, schema.id, schema.version, len(rows))
        if version is None:
            raise SchemaChanged
        for row in rows:
            row[VERSION] = version
        keys.add(VERSION)
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            if computed:
                stmt = sa.insert(t).returning(t.c[ROWID], sort_by_parameter_order=True)
                rowids.extend(conn.execute(stmt, chunk).scalars().all())
            elif plain:
                # Values are already what the SQLite driver stores: skip SQLAlchemy's
                # per-row parameter processing (it costs more than the INSERT).
                names = sorted(keys)
                sql = (
                    f'INSERT INTO {t.name} ({", ".join(names)}) '
                    f'VALUES ({", ".join("?" for _ in names)})'
                )
                get = operator.itemgetter(*names)
                values = map(get, chunk) if len(names) > 1 else ((get(r),) for r in chunk)
                conn.exec_driver_sql(sql, list(values))
            else:
                conn.execute(sa.insert(t), chunk)
        if schema.views and not computed:
            # The rows of this insert, for the views: the write lock (SQLite) or the table's
            # row lock (PostgreSQL) kept other inserts out, so they are the newest ones.
            newest = sa.select(t.c[ROWID]).order_by(t.c[ROWID].desc()).limit(len(rows))
            rowids = sorted(conn.execute(newest).scalars())
    return Inserted(version, rowids)


def _value_type(schema: TableSchema, sql_name: str) -> ts.ColumnType | None:
    for c in schema.columns:
        if c.sql.value == sql_name:
            return c.col_type
    return None
