"""Claims, leases, heartbeats and the worker loop: several processes share one backfill.

Rows are claimed before their cells are computed (owner + lease), so two processes never
compute the same cell at once; a claim whose process died (same host) or whose lease ran
out can be taken over. A run renews its leases (``heartbeat``) while it works.

``reverie worker`` is a thin shell over ``run_worker``: a pass walks the tables and
computes each one's pending cells, so several workers, on one host or many sharing a
PostgreSQL database, split a backfill and never compute a cell twice. A worker stopped
by Ctrl-C or SIGTERM gives up its claims before it exits, so the cells it held are
free at once; one killed with -9 leaves claims that the next worker takes over when their
owner is found dead (same host) or their lease runs out.

Each running worker has a row in ``rv_workers`` (host, pid, tables, claims, last heartbeat,
calls per minute), beaten every ``WORKER_BEAT`` seconds and removed when it stops;
``live_workers`` lists them and deletes the rows of workers whose heartbeat stopped.

The tables come from the layer above, as ``Job``s: this module only knows how to drive
them, so it imports nothing from ``catalog/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from reverie.errors import Error
from reverie.exec.cells import owner_id, pending_condition, rowid_condition
from reverie.exec.ledger_writes import STORAGE_ERRORS
from reverie.exec.schema import TableSchema
from reverie.store.db import CLAIM_OWNER, CLAIM_UNTIL, ROWID, Store, workers_table

LEASE_SECONDS = 120.0
WORKER_BEAT = 5.0  # seconds between a worker's registry heartbeats
WORKER_TTL = 30.0  # a worker silent this long is dead: its registry row is removed


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


async def heartbeat(store: Store, schema: TableSchema) -> None:
    """Renew this process's leases on ``schema`` every third of a lease, until cancelled."""
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        with contextlib.suppress(*STORAGE_ERRORS):  # a locked database: renew next time
            await asyncio.to_thread(renew_claims, store, schema)


@dataclass(frozen=True)
class Done:
    """What computing one table's pending cells did."""

    cells: int
    errors: int


@dataclass(frozen=True)
class Job:
    """One table a worker keeps finished.

    Attributes:
        name: its path, for the output.
        schema: what its claims are released on (the current schema of the table).
        compute: finishes the table's pending cells (and its views').
    """

    name: str
    schema: Callable[[], TableSchema]
    compute: Callable[[], Done]


@dataclass
class PassSummary:
    """One pass over the tables."""

    tables: int = 0
    cells: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (
            f'Worker pass done: {_n(self.tables, "table")} checked, {_n(self.cells, "cell")} '
            f'computed, {_n(self.errors, "error")}.'
        )


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so a run stops the same way."""


def run_worker(
    jobs: Callable[[], Sequence[Job]],
    store: Store,
    *,
    interval: float = 2.0,
    once: bool = False,
    say: Callable[[str], None] = print,
    calls: Callable[[], int] = lambda: 0,
    on_exit: Callable[[], None] = lambda: None,
) -> PassSummary:
    """Run passes over ``jobs()`` (asked again each pass: new tables join) until stopped.

    Returns the last pass's summary (with ``once``, after the first pass). Ctrl-C and
    SIGTERM stop it: the claims of every table it worked on are given up, then the
    ``KeyboardInterrupt`` (``Terminated`` for SIGTERM) goes on to the caller. While it
    runs, its row in the registry is beaten (``calls()``: the paid/pooled calls so far);
    ``on_exit`` runs last (e.g. giving back shared limit slots).
    """
    worked: dict[str, Job] = {}
    beat = _RegistryBeat(store, worked, calls)
    try:
        with _sigterm_as_interrupt(), beat:
            while True:
                summary = PassSummary()
                for job in jobs():
                    worked[job.name] = job
                    try:
                        done = job.compute()
                    except (Error, *STORAGE_ERRORS) as e:  # a stopped run: the next pass resumes
                        say(f'{job.name}: {e}')
                        continue
                    summary.tables += 1
                    summary.cells += done.cells
                    summary.errors += done.errors
                    if done.cells:
                        say(f'{job.name}: computed {done.cells} cells ({done.errors} errors).')
                if once:
                    say(str(summary))
                    return summary
                time.sleep(interval)
    except KeyboardInterrupt:
        give_up_claims(store, worked.values())
        raise
    finally:
        on_exit()


@dataclass(frozen=True)
class WorkerInfo:
    """One live worker, as the registry last heard of it."""

    id: str
    host: str
    pid: int
    tables: list[str]
    claims: int
    started: float
    heartbeat: float
    calls_per_minute: float

    def __repr__(self) -> str:
        return (
            f'<Worker {self.host}:{self.pid} claims={self.claims} '
            f'calls/min={self.calls_per_minute:.1f} beat {time.time() - self.heartbeat:.0f} s ago>'
        )


def live_workers(store: Store, ttl: float = WORKER_TTL) -> list[WorkerInfo]:
    """The workers whose heartbeat is younger than ``ttl``; older rows are deleted."""
    w = workers_table
    with contextlib.suppress(*STORAGE_ERRORS), store.begin() as conn:  # cleaning can wait
        conn.execute(sa.delete(w).where(w.c.heartbeat < time.time() - ttl))
    return read_workers(store, ttl)


def read_workers(store: Store, ttl: float = WORKER_TTL) -> list[WorkerInfo]:
    """The workers whose heartbeat is younger than ``ttl``, read only (never waits on writers)."""
    w = workers_table
    with store.read() as conn:
        rows = conn.execute(sa.select(w).order_by(w.c.host, w.c.pid)).mappings().all()
    return [
        WorkerInfo(
            id=r['id'],
            host=r['host'],
            pid=int(r['pid']),
            tables=[p for p in str(r['tables']).split(',') if p],
            claims=int(r['claims']),
            started=float(r['started']),
            heartbeat=float(r['heartbeat']),
            calls_per_minute=float(r['calls_per_minute']),
        )
        for r in rows
        if r['heartbeat'] >= time.time() - ttl
    ]


class _RegistryBeat:
    """While inside: this worker's registry row, beaten from a thread every ``WORKER_BEAT``."""

    def __init__(self, store: Store, jobs: dict[str, Job], calls: Callable[[], int]) -> None:
        self.store = store
        self.jobs = jobs
        self.calls = calls
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name='reverie-worker-beat', daemon=True)
        self._history: list[tuple[float, int]] = []  # (time, calls) over the last minute

    def __enter__(self) -> None:
        now = time.time()
        me = owner_id()
        with self.store.begin() as conn:
            conn.execute(sa.delete(workers_table).where(workers_table.c.id == me))
            conn.execute(
                sa.insert(workers_table).values(
                    id=me,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    tables='',
                    started=now,
                    heartbeat=now,
                )
            )
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=WORKER_BEAT)
        with contextlib.suppress(*STORAGE_ERRORS), self.store.begin() as conn:
            conn.execute(sa.delete(workers_table).where(workers_table.c.id == owner_id()))

    def beat(self) -> None:
        """Write the heartbeat, the claims held and the calls of the last minute."""
        now = time.time()
        calls = self.calls()
        self._history = [(t, c) for t, c in self._history if t > now - 60] + [(now, calls)]
        first_t, first_c = self._history[0]
        span = now - first_t
        per_minute = (calls - first_c) * 60 / span if span > 0 else 0.0
        jobs = list(self.jobs.values())
        claims = sum(_count_mine(self.store, job.schema()) for job in jobs)
        with self.store.begin() as conn:
            conn.execute(
                sa.update(workers_table)
                .where(workers_table.c.id == owner_id())
                .values(
                    heartbeat=now,
                    tables=','.join(job.name for job in jobs),
                    claims=claims,
                    calls=calls,
                    calls_per_minute=per_minute,
                )
            )

    def _loop(self) -> None:
        while not self._stop.wait(WORKER_BEAT):
            with contextlib.suppress(*STORAGE_ERRORS):  # beat next time
                self.beat()


def _count_mine(store: Store, schema: TableSchema) -> int:
    t = schema.sa_table
    with store.read() as conn:
        query = sa.select(sa.func.count()).where(t.c[CLAIM_OWNER] == owner_id())
        return int(conn.execute(query.select_from(t)).scalar_one())


def give_up_claims(store: Store, jobs: Iterable[Job]) -> None:
    """Release every claim this process holds on the tables of ``jobs``."""
    for job in jobs:
        with contextlib.suppress(*STORAGE_ERRORS):  # a lease runs out anyway
            release_claims(store, job.schema())


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While inside: SIGTERM raises ``Terminated`` (main thread only; elsewhere no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: types.FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _n(count: int, noun: str) -> str:
    return f'{count} {noun}{"" if count == 1 else "s"}'
