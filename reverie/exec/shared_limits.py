"""Cluster-wide limits: a pool's ``max_concurrency`` and ``requests_per_minute`` for every process.

A pool's calls in flight are slots of one database table (``rv_limit_slots``): a call takes
a free slot below the pool's shared window before it leaves and gives it back when its
answer (or failure) comes. The slots are leased: the process renews its own every
``SLOT_LEASE / 3`` seconds, so a worker killed with -9 holds its slots until the lease ends
(at once on its own host, where a dead pid is seen). The window (``rv_limit_windows``) is the
adaptive window of ``exec/pools.py`` made shared: it starts at ``START_WINDOW``, grows by one
per answer while no 429 has come (slow start), narrows on a 429 to the slots still held,
and every new call waits out a ``Retry-After`` any process received. ``requests_per_minute``
is one schedule for all (``next_start``: each call books the next start time).

PostgreSQL hands slots out with ``FOR UPDATE SKIP LOCKED`` (no two processes get one slot);
SQLite's write lock (``BEGIN IMMEDIATE``) does the same for the processes of one host.
Clocks: leases and the schedule use each host's wall clock, so hosts must keep it in sync
(NTP); a skew of a second shortens or lengthens a lease by that much.

On PostgreSQL every process shares the limits (``cluster_limits``, called when a catalog
opens): a notebook's ``t.insert`` and the workers take slots of the same window. On SQLite
only ``reverie worker`` processes do (one host; a notebook's own run keeps its own pools).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from reverie.exec.cells import owner_id
from reverie.exec.ledger_writes import STORAGE_ERRORS
from reverie.exec.pools import GROWTH_ROUNDS, START_WINDOW, PoolRegistry
from reverie.exec.worker import owner_is_gone
from reverie.store.db import Store, limit_slots_table, limit_windows_table

SLOT_LEASE = 30.0  # seconds a slot stays held without renewal
POLL_MIN = 0.01  # first wait for a free slot (s); doubles up to POLL_MAX
POLL_MAX = 0.2
DEAD_CHECK_EVERY = 2.0  # while waiting: free the slots of dead processes of this host

slots = limit_slots_table
windows = limit_windows_table


def cluster_limits(store: Store, pools: PoolRegistry) -> SharedLimits | None:
    """On a shared database (PostgreSQL), hold every pool's limits for the whole cluster.

    Every call of ``pools`` then takes a slot of its provider's shared window, whether a
    worker or a notebook's ``insert`` makes it. None on SQLite (one host; workers share
    there with ``SharedLimits`` themselves).
    """
    if store.is_sqlite:
        return None
    limits = SharedLimits(store)
    pools.share(limits.window)
    return limits


class SharedLimits:
    """The database side of every shared pool of one process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.round_trips = 0  # database transactions spent on limits (benchmarks read it)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f'<SharedLimits {self.store!r}>'

    def window(
        self, name: str, max_concurrency: int | None, requests_per_minute: float | None
    ) -> SharedWindow | None:
        """The shared window of pool ``name`` (None for a pool without any limit)."""
        if max_concurrency is None and requests_per_minute is None:
            return None
        return SharedWindow(self, name, max_concurrency or 512, requests_per_minute)

    def begin(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction, counted."""
        self.round_trips += 1
        return self.store.begin()

    def started(self) -> None:
        """A slot is held: keep the leases renewed (one thread per process)."""
        with self._lock:
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_loop, name='reverie-slot-leases', daemon=True
                )
                self._renewer.start()

    def renew(self) -> None:
        """Extend the lease of every slot this process holds."""
        with self.begin() as conn:
            conn.execute(
                sa.update(slots)
                .where(slots.c.holder == owner_id())
                .values(until=time.time() + SLOT_LEASE)
            )

    def release_all(self) -> None:
        """Give back every slot this process holds (a worker stopping)."""
        with self.begin() as conn:
            conn.execute(
                sa.update(slots).where(slots.c.holder == owner_id()).values(holder=None, until=None)
            )

    def close(self) -> None:
        """Stop renewing and give every slot back (nothing to do if none was ever taken)."""
        self._stop.set()
        if self._renewer is None:
            return
        with contextlib.suppress(*STORAGE_ERRORS):  # the leases run out anyway
            self.release_all()

    def free_dead(self, pool: str) -> int:
        """Free the slots of ``pool`` held by processes of this host that no longer run."""
        with self.store.read() as conn:
            holders = (
                conn.execute(
                    sa.select(slots.c.holder)
                    .where(slots.c.pool == pool, slots.c.holder.is_not(None))
                    .distinct()
                )
                .scalars()
                .all()
            )
        dead = [h for h in holders if h != owner_id() and owner_is_gone(h)]
        if not dead:
            return 0
        with self.begin() as conn:
            res = conn.execute(
                sa.update(slots)
                .where(slots.c.pool == pool, slots.c.holder.in_(dead))
                .values(holder=None, until=None)
            )
        return int(res.rowcount)

    def _renew_loop(self) -> None:
        while not self._stop.wait(SLOT_LEASE / 3):
            with contextlib.suppress(*STORAGE_ERRORS):  # renew next time
                self.renew()


class SharedWindow:
    """One pool's cluster-wide window (``pools.ClusterWindow``)."""

    def __init__(
        self, limits: SharedLimits, name: str, ceiling: int, requests_per_minute: float | None
    ) -> None:
        self.limits = limits
        self.name = name
        self.ceiling = ceiling
        self.interval = 60.0 / requests_per_minute if requests_per_minute else None
        self.window = min(ceiling, START_WINDOW)  # as last read from the database
        self.probing = self.window < ceiling
        self._ready = False
        self._successes = 0
        self._taking = asyncio.Lock()  # one coroutine of this process polls at a time

    def __repr__(self) -> str:
        return f'<SharedWindow {self.name!r} window={self.window}/{self.ceiling}>'

    async def acquire(self) -> int:
        """Wait for a free slot of the shared window (and the shared schedule); its number."""
        async with self._taking:
            if not self._ready:
                await asyncio.to_thread(self._ensure)
                self._ready = True
            wait = POLL_MIN
            last_dead_check = time.monotonic()
            while True:
                slot, start = await asyncio.to_thread(self._take)
                if slot is not None:
                    break
                if time.monotonic() - last_dead_check > DEAD_CHECK_EVERY:
                    last_dead_check = time.monotonic()
                    await asyncio.to_thread(self.limits.free_dead, self.name)
                await asyncio.sleep(random.uniform(wait / 2, wait))
                wait = min(POLL_MAX, wait * 2)
        self.limits.started()
        delay = start - time.time()
        if delay > 0:
            try:
                await asyncio.sleep(delay)
            except BaseException:
                await self.release(slot)
                raise
        return slot

    async def release(self, slot: int) -> None:
        """Give slot ``slot`` back (in a thread that finishes even if this task is cancelled).

        A database that fails here costs nothing but the slot until its lease ends: the
        call's answer, already in hand, is never lost to the limit's bookkeeping.
        """
        with contextlib.suppress(*STORAGE_ERRORS):
            await asyncio.to_thread(self._release, slot)

    async def answered(self) -> None:
        """An answer came at flat latency: widen the shared window (slow start, or slowly)."""
        if self.window >= self.ceiling:
            return
        if not self.probing:
            self._successes += 1
            if self._successes < GROWTH_ROUNDS * self.window:
                return
            self._successes = 0
        with contextlib.suppress(*STORAGE_ERRORS):  # grow on a later answer
            await asyncio.to_thread(self._grow)

    async def refused(self, pause: float | None) -> None:
        """A 429: narrow to the slots still held, stop slow start, hold new calls ``pause`` s."""
        self._successes = 0
        with contextlib.suppress(*STORAGE_ERRORS):  # the local window narrowed anyway
            await asyncio.to_thread(self._narrow, pause)

    # -- database side (threads) -------------------------------------------------------
    def _ensure(self) -> None:
        """Create the pool's window row and its slots; the ceiling is the newest setting."""
        insert = sqlite.insert if self.limits.store.is_sqlite else postgresql.insert
        start = min(self.ceiling, START_WINDOW)
        with self.limits.begin() as conn:
            conn.execute(
                insert(windows)
                .values(
                    pool=self.name,
                    ceiling=self.ceiling,
                    window=start,
                    probing=start < self.ceiling,
                    paused_until=0.0,
                    next_start=0.0,
                )
                .on_conflict_do_nothing()
            )
            conn.execute(
                sa.update(windows)
                .where(windows.c.pool == self.name)
                .values(
                    ceiling=self.ceiling,
                    window=sa.case(
                        (windows.c.window > self.ceiling, self.ceiling), else_=windows.c.window
                    ),
                )
            )
            have = conn.execute(
                sa.select(sa.func.count()).where(slots.c.pool == self.name)
            ).scalar_one()
            if have < self.ceiling:
                conn.execute(
                    insert(slots)
                    .values([{'pool': self.name, 'slot': i} for i in range(self.ceiling)])
                    .on_conflict_do_nothing()
                )
            row = conn.execute(
                sa.select(windows.c.window, windows.c.probing).where(windows.c.pool == self.name)
            ).one()
        self.window, self.probing = int(row[0]), bool(row[1])

    def _take(self) -> tuple[int | None, float]:
        """One try: a free slot below the window (None: none now) and when the call may start."""
        now = time.time()
        window = (
            sa.select(windows.c.window)
            .where(windows.c.pool == self.name, windows.c.paused_until <= now)
            .scalar_subquery()
        )
        pick = (
            sa.select(slots.c.slot)
            .where(
                slots.c.pool == self.name,
                slots.c.slot < window,
                sa.or_(slots.c.holder.is_(None), slots.c.until < now),
            )
            .order_by(slots.c.slot)
            .limit(1)
        )
        if not self.limits.store.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        take = (
            sa.update(slots)
            .where(slots.c.pool == self.name, slots.c.slot == pick.scalar_subquery())
            .values(holder=owner_id(), until=now + SLOT_LEASE)
            .returning(slots.c.slot)
        )
        with self.limits.begin() as conn:
            slot = conn.execute(take).scalar()
            if slot is None or self.interval is None:
                return slot, now
            booked = (
                sa.update(windows)
                .where(windows.c.pool == self.name)
                .values(
                    next_start=sa.case(
                        (windows.c.next_start > now, windows.c.next_start), else_=now
                    )
                    + self.interval
                )
                .returning(windows.c.next_start)
            )
            return int(slot), float(conn.execute(booked).scalar_one()) - self.interval

    def _release(self, slot: int) -> None:
        with self.limits.begin() as conn:
            conn.execute(
                sa.update(slots)
                .where(
                    slots.c.pool == self.name, slots.c.slot == slot, slots.c.holder == owner_id()
                )
                .values(holder=None, until=None)
            )

    def _grow(self) -> None:
        cond = [windows.c.pool == self.name, windows.c.window < windows.c.ceiling]
        if self.probing:
            cond.append(windows.c.probing.is_(True))
        with self.limits.begin() as conn:
            row = conn.execute(
                sa.update(windows)
                .where(*cond)
                .values(window=windows.c.window + 1)
                .returning(windows.c.window, windows.c.probing)
            ).first()
            if row is None:
                row = conn.execute(
                    sa.select(windows.c.window, windows.c.probing).where(
                        windows.c.pool == self.name
                    )
                ).one()
        self.window, self.probing = int(row[0]), bool(row[1])

    def _narrow(self, pause: float | None) -> None:
        now = time.time()
        held = (
            sa.select(sa.func.count())
            .where(slots.c.pool == self.name, slots.c.holder.is_not(None), slots.c.until >= now)
            .scalar_subquery()
        )
        narrowed = sa.case((held < windows.c.window, held), else_=windows.c.window)
        values: dict[str, object] = {
            'window': sa.case((narrowed < 1, 1), else_=narrowed),
            'probing': False,
        }
        if pause is not None:
            until = now + pause
            values['paused_until'] = sa.case(
                (windows.c.paused_until > until, windows.c.paused_until), else_=until
            )
        with self.limits.begin() as conn:
            row = conn.execute(
                sa.update(windows)
                .where(windows.c.pool == self.name)
                .values(values)
                .returning(windows.c.window)
            ).one()
        self.window, self.probing = int(row[0]), False
