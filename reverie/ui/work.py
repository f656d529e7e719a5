"""The Work page: pending cells per column and who is computing them, as JSON snapshots.

What this shows: each computed column's cell states (pending, value, error) and its rate
between successive snapshots, every live ``reverie worker`` from the worker registry (host,
pid, tables, claims, calls per minute, last heartbeat), the rows claimed by any process
(a backfill in a notebook holds claims too, without being a worker) and the ledger's calls
(paid calls in flight, calls in the last minute).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie.exec.worker import WorkerInfo, read_workers
from reverie.store.db import CLAIM_OWNER, CLAIM_UNTIL
from reverie.store.ledger_tables import MAYBE_CHARGED, calls_table
from reverie.ui.tables import open_table, state_counts

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog


@dataclass
class ColumnWork:
    table: str
    column: str
    pending: int
    errors: int
    done: int  # value or error
    rate: float | None = None  # cells finished per second since the previous snapshot


@dataclass
class Claim:
    table: str
    host: str
    pid: str
    rows: int
    lease_left_s: float


@dataclass
class WorkSnapshot:
    at: float
    columns: list[ColumnWork] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    workers: list[WorkerInfo] = field(default_factory=list)  # live, from the registry
    in_flight: int = 0  # paid calls sent in the last 10 minutes and not answered yet
    calls_last_minute: int = 0

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.columns)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), 'pending': self.pending}


def snapshot(catalog: Catalog, previous: WorkSnapshot | None = None) -> WorkSnapshot:
    """Cell states of every table and view, live workers, claims held now, ledger activity."""
    now = time.time()
    snap = WorkSnapshot(now, workers=read_workers(catalog.store))
    kinds = catalog.kinds()
    for path in catalog.list_tables(''):
        if kinds.get(path) == 'snapshot':
            continue
        opened = open_table(catalog, path)
        schema = opened.schema
        if not any(c.is_computed for c in schema.columns):
            continue
        rows = opened.table.count()
        for name, (pending, errors) in state_counts(catalog, schema).items():
            snap.columns.append(ColumnWork(path, name, pending, errors, rows - pending))
        t = schema.sa_table
        owner, until = t.c[CLAIM_OWNER], t.c[CLAIM_UNTIL]
        with catalog.store.read() as conn:
            held = conn.execute(
                sa.select(owner, sa.func.count(), sa.func.max(until))
                .where(owner.is_not(None), until > now)
                .group_by(owner)
            ).all()
        for who, count, lease in held:
            host, _, rest = str(who).partition(':')
            snap.claims.append(Claim(path, host, rest.partition(':')[0], int(count), lease - now))
    c = calls_table.c
    with catalog.store.read() as conn:
        snap.in_flight = int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    c.outcome == MAYBE_CHARGED, c.finished_at.is_(None), c.started_at > now - 600
                )
            ).scalar_one()
        )
        snap.calls_last_minute = int(
            conn.execute(sa.select(sa.func.count()).where(c.started_at > now - 60)).scalar_one()
        )
    if previous is not None:
        before = {(w.table, w.column): w.done for w in previous.columns}
        dt = now - previous.at
        for w in snap.columns:
            done = before.get((w.table, w.column))
            if done is not None and dt > 0:
                w.rate = max(0.0, (w.done - done) / dt)
    return snap
