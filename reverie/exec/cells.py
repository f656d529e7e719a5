"""Database side of computing cells: claim rows, read their inputs, write results.

Rows are claimed before their cells are computed (owner + lease), so two processes never
compute the same cell at once; a claim whose process died (same host) or whose lease ran
out can be taken over. Results are written in small batches, each its own transaction.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from reverie.exec.codec import DRIVER_NATIVE
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.store.db import CLAIM_OWNER, CLAIM_UNTIL, PENDING, ROWID, VALUE, ColumnSql, Store
from reverie.store.ledger import Ledger

LEASE_SECONDS = 120.0
OWNER = f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}'


def owner_id() -> str:
    """This process's claim owner id (recomputed after fork)."""
    global OWNER
    _host, pid, _ = OWNER.split(':')
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
    """Hands out batches of rows with pending cells, claimed for this process.

    Rows this process just inserted (``rowids``) were claimed by the insert itself. For a
    backfill, each batch is claimed by one ``UPDATE ... RETURNING`` over rows nobody
    holds (PostgreSQL adds ``FOR UPDATE SKIP LOCKED``, so workers share a backfill); claims
    of processes that died on this host are freed first.
    """

    store: Store
    schema: TableSchema
    rowids: Sequence[int] | None = None
    batch: int = 256
    busy_elsewhere: int = 0
    _after: int = 0
    _pos: int = 0
    _freed_dead: bool = False

    def next_batch(self) -> list[int]:
        """The next rows to compute (in rowid order); empty when none are left."""
        if self.rowids is not None:
            chunk = list(self.rowids[self._pos : self._pos + self.batch])
            self._pos += len(chunk)
            return chunk
        if not self._freed_dead:
            free_dead_claims(self.store, self.schema)
            self._freed_dead = True
        t = self.schema.sa_table
        rid = t.c[ROWID]
        me = owner_id()
        now = time.time()
        free = unclaimed_condition(self.schema)
        pick = (
            sa.select(rid)
            .where(pending_condition(self.schema), rid > self._after, free)
            .order_by(rid)
            .limit(self.batch)
        )
        if not self.store.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        claim = (
            sa.update(t)
            .where(rid.in_(pick.scalar_subquery()))
            .values({CLAIM_OWNER: me, CLAIM_UNTIL: now + LEASE_SECONDS})
            .returning(rid)
        )
        with self.store.begin() as conn:
            ids = sorted(conn.execute(claim).scalars())
            if not ids:
                held = sa.select(sa.func.count()).where(
                    pending_condition(self.schema), rid > self._after, sa.not_(free)
                )
                self.busy_elsewhere = int(conn.execute(held).scalar_one())
                return []
        self._after = ids[-1]
        return ids


def unclaimed_condition(schema: TableSchema) -> sa.ColumnElement[bool]:
    """SQL: no other live process holds the row (unclaimed, ours, or its lease ran out)."""
    t = schema.sa_table
    owner_c = t.c[CLAIM_OWNER]
    return sa.or_(owner_c.is_(None), owner_c == owner_id(), t.c[CLAIM_UNTIL] < time.time())


def count_held_elsewhere(
    store: Store, schema: TableSchema, rowids: Sequence[int] | None = None
) -> int:
    """Rows (of ``rowids``, or all) with pending cells another live process holds right now.

    Only claimed rows are looked at (the claim index), never the whole table.
    """
    t = schema.sa_table
    query = sa.select(sa.func.count()).where(
        t.c[CLAIM_OWNER].is_not(None),
        pending_condition(schema),
        sa.not_(unclaimed_condition(schema)),
    )
    if rowids is not None:
        if not rowids:
            return 0
        query = query.where(rowid_condition(t.c[ROWID], rowids))
    with store.read() as conn:
        return int(conn.execute(query.select_from(schema.sa_table)).scalar_one())


def rowid_condition(rowid: sa.ColumnElement[Any], rowids: Sequence[int]) -> Any:
    """SQL: the row is one of ``rowids`` (a range test when there are many: an insert's rows)."""
    if len(rowids) <= 500:
        return rowid.in_(list(rowids))
    return rowid.between(min(rowids), max(rowids))


def free_dead_claims(store: Store, schema: TableSchema) -> None:
    """Release claims held by processes on this host that no longer run."""
    t = schema.sa_table
    owner_c = t.c[CLAIM_OWNER]
    with store.read() as conn:
        owners = (
            conn.execute(
                sa.select(owner_c).where(owner_c.is_not(None), owner_c != owner_id()).distinct()
            )
            .scalars()
            .all()
        )
    dead = [o for o in owners if owner_is_gone(o)]
    if dead:
        with store.begin() as conn:
            conn.execute(
                sa.update(t).where(owner_c.in_(dead)).values({CLAIM_OWNER: None, CLAIM_UNTIL: None})
            )


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


def fetch_rows(
    store: Store, schema: TableSchema, rowids: Sequence[int], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """The given physical columns (and the row id) of the given rows."""
    t = schema.sa_table
    names = [ROWID, *(c for c in columns if c != ROWID)]
    query = sa.select(*(t.c[c] for c in names)).where(t.c[ROWID].in_(list(rowids)))
    with store.read() as conn:
        result = conn.execute(query.order_by(t.c[ROWID]))
        return [dict(zip(names, r, strict=True)) for r in result]


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


def _write_values_sqlite(
    conn: sa.Connection, table: str, sql: ColumnSql, values: Sequence[tuple[Any, int]]
) -> None:
    """Value cells, ``(value, rowid)``, of a pending column (no error or meta to clear)."""
    if values:
        conn.exec_driver_sql(
            f'UPDATE {table} SET {sql.value} = ?, {sql.state} = {VALUE} WHERE {ROWID} = ?', values
        )


def _write_plain_sqlite(
    conn: sa.Connection, table: str, sql: ColumnSql, results: Sequence[CellResult]
) -> None:
    # Cells being computed are pending, and a pending cell has no error or meta (resets clear
    # them), so a plain value needs only its value and state written.
    values = [(r.value, r.rowid) for r in results if r.state == VALUE and r.meta is None]
    others = [r for r in results if not (r.state == VALUE and r.meta is None)]
    _write_values_sqlite(conn, table, sql, values)
    if others:
        conn.exec_driver_sql(
            f'UPDATE {table} SET {sql.value} = ?, {sql.state} = ?, {sql.errortype} = ?, '
            f'{sql.errormsg} = ?, {sql.cellmeta} = ? WHERE {ROWID} = ?',
            [
                (
                    r.value,
                    r.state,
                    r.errortype,
                    r.errormsg,
                    None if r.meta is None else json.dumps(r.meta),
                    r.rowid,
                )
                for r in others
            ],
        )


def write_results(
    store: Store,
    schema: TableSchema,
    results: Sequence[CellResult],
    done_rows: Sequence[int],
    call_ids: Sequence[int] = (),
) -> None:
    """Write cells (one UPDATE per column, executemany) and release finished rows, atomically.

    ``call_ids``: ledger rows whose journalled answers these cells take (paid-call layer).
    """
    with store.begin() as conn:
        write_results_in(conn, store, schema, results, done_rows)
        Ledger.mark_delivered_in(conn, call_ids)


def write_results_in(
    conn: sa.Connection,
    store: Store,
    schema: TableSchema,
    results: Sequence[CellResult],
    done_rows: Sequence[int],
    plain_values: dict[int, list[tuple[Any, int]]] | None = None,
) -> None:
    """``write_results`` inside a transaction the caller holds.

    ``plain_values`` are more value cells, ``(value, rowid)`` per column id, with no meta.
    """
    t = schema.sa_table
    by_column: dict[int, list[CellResult]] = {}
    for r in results:
        by_column.setdefault(r.column.id, []).append(r)
    for column_id, values in (plain_values or {}).items():
        if not values:
            continue
        col = schema.by_id(column_id)
        if store.is_sqlite:
            _write_values_sqlite(conn, t.name, col.sql, values)
        else:
            by_column.setdefault(column_id, []).extend(
                CellResult(rid, col, VALUE, value) for value, rid in values
            )
    for results_of_col in by_column.values():
        sql = results_of_col[0].column.sql
        if store.is_sqlite and isinstance(results_of_col[0].column.col_type, DRIVER_NATIVE):
            _write_plain_sqlite(conn, t.name, sql, results_of_col)
            continue
        stmt = (
            sa.update(t)
            .where(t.c[ROWID] == sa.bindparam('_rid'))
            .values(
                {
                    sql.value: sa.bindparam('_val', type_=t.c[sql.value].type),
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
                    '_val': r.value,
                    '_s': r.state,
                    '_et': r.errortype,
                    '_em': r.errormsg,
                    '_m': r.meta,
                }
                for r in results_of_col
            ],
        )
    if done_rows and store.is_sqlite:
        me = owner_id()
        conn.exec_driver_sql(
            f'UPDATE {t.name} SET {CLAIM_OWNER} = NULL, {CLAIM_UNTIL} = NULL '
            f'WHERE {ROWID} = ? AND {CLAIM_OWNER} = ?',
            [(rid, me) for rid in done_rows],
        )
    elif done_rows:
        conn.execute(
            sa.update(t)
            .where(sa.and_(t.c[ROWID].in_(list(done_rows)), t.c[CLAIM_OWNER] == owner_id()))
            .values({CLAIM_OWNER: None, CLAIM_UNTIL: None})
        )
