"""Cluster-wide pool windows (exec/shared_limits.py) on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import time

import sqlalchemy as sa

from reverie.exec.pools import PoolRegistry
from reverie.exec.shared_limits import SharedLimits, SharedWindow
from reverie.store.db import Store, limit_slots_table


def _window(store: Store, ceiling: int = 4) -> SharedWindow:
    window = SharedLimits(store).window('svc', ceiling, None)
    assert window is not None
    window._ensure()
    return window


def test_no_more_slots_than_the_window_across_holders(db_url: str) -> None:
    a, b = Store(db_url), Store(db_url)  # two connections, as two processes would hold
    wa, wb = _window(a), _window(b)
    taken = [wa._take()[0], wb._take()[0], wa._take()[0], wb._take()[0]]
    assert sorted(s for s in taken if s is not None) == [0, 1, 2, 3]
    assert wa._take()[0] is None and wb._take()[0] is None  # the cluster's 4 are in use
    assert taken[1] is not None
    wb._release(taken[1])
    assert wa._take()[0] == taken[1]
    a.dispose()
    b.dispose()


def test_a_429_narrows_the_shared_window_and_pauses_every_holder(db_url: str) -> None:
    store = Store(db_url)
    w = _window(store, ceiling=16)
    assert (w.window, w.probing) == (8, True)  # starts at START_WINDOW, slow start
    held = [w._take()[0] for _ in range(3)]
    asyncio.run(w.refused(pause=0.5))
    assert (w.window, w.probing) == (3, False)  # the three still in flight
    other_store = Store(db_url)
    other = _window(other_store, ceiling=16)
    for slot in held:
        assert slot is not None
        w._release(slot)
    assert other._take()[0] is None  # Retry-After holds every process's new calls
    time.sleep(0.6)
    assert other._take()[0] is not None
    store.dispose()
    other_store.dispose()


def test_slots_of_a_dead_or_silent_holder_come_back(db_url: str) -> None:
    store = Store(db_url)
    w = _window(store, ceiling=2)
    dead = f'{socket.gethostname()}:999999999:x'  # this host, a pid that does not run
    with store.begin() as conn:
        conn.execute(
            sa.update(limit_slots_table)
            .where(limit_slots_table.c.slot == 0)
            .values(holder=dead, until=time.time() + 60)
        )
        conn.execute(
            sa.update(limit_slots_table)
            .where(limit_slots_table.c.slot == 1)
            .values(holder='other-host:1:y', until=time.time() + 60)
        )
    assert w._take()[0] is None
    assert w.limits.free_dead('svc') == 1  # the other host's holder may be alive: kept
    assert w._take()[0] == 0
    with store.begin() as conn:  # the other host went silent: its lease ran out
        conn.execute(
            sa.update(limit_slots_table)
            .where(limit_slots_table.c.slot == 1)
            .values(until=time.time() - 1)
        )
    assert w._take()[0] == 1
    store.dispose()


def test_a_shared_pool_never_runs_more_than_the_cluster_limit(db_url: str) -> None:
    """Two registries (two processes' pools) on one database: 3 calls at once in all."""
    stores = [Store(db_url), Store(db_url)]
    limits = [SharedLimits(s) for s in stores]
    registries = [PoolRegistry(), PoolRegistry()]
    for reg, lim in zip(registries, limits, strict=True):
        reg.share(lim.window, cap=8)
    running = peak = 0

    async def call() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    async def main() -> None:
        pools = [reg.get('svc', max_concurrency=3) for reg in registries]
        await asyncio.gather(*(pools[i % 2].run(call) for i in range(24)))

    asyncio.run(main())
    assert peak == 3
    with stores[0].read() as conn:
        held = sa.select(sa.func.count()).where(limit_slots_table.c.holder.is_not(None))
        assert conn.execute(held).scalar() == 0
    for lim, store in zip(limits, stores, strict=True):
        lim.close()
        store.dispose()
