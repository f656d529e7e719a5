"""Database side of computing cells: claim rows, read their inputs, write results.

Rows are claimed before their cells are computed (owner + lease), so two processes never
compute the same cell at once; a claim whose process died (same host) or whose lease ran
out can be taken over. Results are written in small batches, each its own transaction.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.store.db import CLAIM_OWNER, CLAIM_UNTIL, PENDING, ROWID, Store

LEASE_SECONDS = 120.0
OWNER = f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}'


def owner_id() -> str:
    """This process's claim owner id (recomputed after fork)."""
    global OWNER
    host, pid, _ = OWNER.split(':')
    if int(pid) != os.getpid():
        OWNER = f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}'
    return OWNER


def owner_is_gone(owner: str) -> bool:
    """Whether a claim's owner process is known to be dead (only knowable on this host)."""
    try:
        host, pid, _ = owner.split(':')
    except ValueError:
        return True
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def pending_condition(schema: TableSchema) -> sa.ColumnElement[bool]:
    """SQL: the row has at least one pending computed cell."""
    states = [schema.sql_col(c.sql.state) == PENDING for c in schema.computed()]
    return sa.or_(*states) if states else sa.false()


@dataclass
class Claimer:
    """Claims batches of rows with pending cells for this process."""

    store: Store
    schema: TableSchema
    rowids: Sequence[int] | None = None
    batch: int = 256
    _after: int = 0
    busy_elsewhere: int = 0

    def next_batch(self) -> list[int]:
        """Claim the next rows (in rowid order); empty when none are left."""
        t = self.schema.sa_table
        rid, owner_c, until_c = t.c[ROWID], t.c[CLAIM_OWNER], t.c[CLAIM_UNTIL]
        me = owner_id()
        while True:
            cond = sa.and_(pending_condition(self.schema), rid > self._after)
            if self.rowids is not None:
                todo = [r for r in self.rowids if r > self._after][: self.batch]
                if not todo:
                    return []
                cond = sa.and_(cond, rid.in_(todo))
            query = sa.select(rid, owner_c, until_c).where(cond).order_by(rid).limit(self.batch)
            with self.store.begin() as conn:
                if not self.store.is_sqlite:
                    query = query.with_for_update(skip_locked=True)
                rows = conn.execute(query).all()
                if not rows:
                    if self.rowids is not None and todo:
                        self._after = todo[-1]
                        continue
                    return []
                self._after = rows[-1][0]
                now = time.time()
                mine = [
                    r[0]
                    for r in rows
                    if r[1] is None or r[1] == me or (r[2] or 0) < now or owner_is_gone(r[1])
                ]
                self.busy_elsewhere += len(rows) - len(mine)
                if mine:
                    conn.execute(
                        sa.update(t)
                        .where(rid.in_(mine))
                        .values({CLAIM_OWNER: me, CLAIM_UNTIL: now + LEASE_SECONDS})
                    )
                    return mine


def renew_claims(store: Store, schema: TableSchema) -> None:
    """Extend the lease of every row this process holds."""
    t = schema.sa_table
    with store.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c[CLAIM_OWNER] == owner_id())
            .values({CLAIM_UNTIL: time.time() + LEASE_SECONDS})
        )


def release_claims(store: Store, schema: TableSchema, rowids: Iterable[int] | None = None) -> None:
    """Give up claims (all of this process's, or those of ``rowids``)."""
    t = schema.sa_table
    cond = t.c[CLAIM_OWNER] == owner_id()
    if rowids is not None:
        ids = list(rowids)
        if not ids:
            return
        cond = sa.and_(cond, t.c[ROWID].in_(ids))
    with store.begin() as conn:
        conn.execute(sa.update(t).where(cond).values({CLAIM_OWNER: None, CLAIM_UNTIL: None}))


def fetch_rows(store: Store, schema: TableSchema, rowids: Sequence[int]) -> list[dict[str, Any]]:
    """Every physical column of the given rows, keyed by SQL column name."""
    t = schema.sa_table
    with store.read() as conn:
        result = conn.execute(sa.select(t).where(t.c[ROWID].in_(list(rowids))).order_by(t.c[ROWID]))
        return [dict(r._mapping) for r in result]


@dataclass
class CellResult:
    """One computed cell, ready to write."""

    rowid: int
    column: ColumnSchema
    state: int
    value: Any = None
    errortype: str | None = None
    errormsg: str | None = None
    meta: dict[str, Any] | None = None


def write_results(
    store: Store, schema: TableSchema, results: Sequence[CellResult], done_rows: Sequence[int]
) -> None:
    """Write cells (one UPDATE per column, executemany) and release finished rows, atomically."""
    t = schema.sa_table
    by_column: dict[int, list[CellResult]] = {}
    for r in results:
        by_column.setdefault(r.column.id, []).append(r)
    with store.begin() as conn:
        for results_of_col in by_column.values():
            sql = results_of_col[0].column.sql
            stmt = (
                sa.update(t)
                .where(t.c[ROWID] == sa.bindparam('_rid'))
                .values(
                    {
                        sql.value: sa.bindparam('_v', type_=t.c[sql.value].type),
                        sql.state: sa.bindparam('_s'),
                        sql.errortype: sa.bindparam('_et'),
                        sql.errormsg: sa.bindparam('_em'),
                        sql.cellmeta: sa.bindparam('_m', type_=sa.JSON(none_as_null=True)),
                    }
                )
            )
            conn.execute(
                stmt,
                [
                    {
                        '_rid': r.rowid,
                        '_v': r.value,
                        '_s': r.state,
                        '_et': r.errortype,
                        '_em': r.errormsg,
                        '_m': r.meta,
                    }
                    for r in results_of_col
                ],
            )
        if done_rows:
            conn.execute(
                sa.update(t)
                .where(sa.and_(t.c[ROWID].in_(list(done_rows)), t.c[CLAIM_OWNER] == owner_id()))
                .values({CLAIM_OWNER: None, CLAIM_UNTIL: None})
            )
