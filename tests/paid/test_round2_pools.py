"""Pools widen on evidence (answers that came back), never on a timer (issue 19, row 2).

Issue: the pool widened 8 -> 16 -> 32 -> 64 on a 50 ms timer before any answer returned,
so 60 calls were in flight 0.43 s after the start and a kill -9 re-paid all 60.
"""

from __future__ import annotations

import asyncio
import time

from reverie.errors import ServiceError
from reverie.exec.pools import START_WINDOW, Pool
from tests.exec.test_pools import Service


async def _peak_before_first_answer(pool: Pool, service: Service, calls: int) -> int:
    """Most calls in flight before the first answer came back."""
    seen = 0

    async def watch() -> None:
        nonlocal seen
        while service.answered == 0:
            seen = max(seen, service.now)
            await asyncio.sleep(0.005)

    watcher = asyncio.ensure_future(watch())
    await asyncio.gather(*(pool.run(service.call) for _ in range(calls)))
    await watcher
    return seen


def test_nothing_beyond_the_starting_window_is_in_flight_before_an_answer_comes_back():
    pool, service = Pool('slow-start', max_concurrency=64), Service(latency=1.0)
    peak = asyncio.run(_peak_before_first_answer(pool, service, 60))
    print(f'PAID pool: {peak} calls in flight before the first answer (start window 8)')
    assert peak == START_WINDOW


def test_the_window_doubles_per_round_trip_of_answers():
    pool, service = Pool('doubling', max_concurrency=64), Service(latency=0.2)

    async def run() -> None:
        await asyncio.gather(*(pool.run(service.call) for _ in range(8 + 16 + 32)))

    asyncio.run(run())
    # 8 answers -> 16 in flight, 16 more -> 32: three round trips for 56 calls.
    assert service.peak >= 32 and pool.window <= pool.ceiling
    assert pool.stats.rate_limited == 0


class _Refuses:
    """Says 429 with ``Retry-After`` to the first ``n`` calls, then answers at once."""

    def __init__(self, n: int, retry_after: float) -> None:
        self.n, self.retry_after = n, retry_after
        self.starts: list[float] = []

    async def call(self) -> None:
        self.starts.append(time.monotonic())
        if len(self.starts) <= self.n:
            raise ServiceError(
                'slow down', status=429, retryable=True, retry_after=self.retry_after
            )
        await asyncio.sleep(0.01)


def test_a_retry_after_holds_every_new_call_not_only_the_refused_one():
    service = _Refuses(n=1, retry_after=0.5)
    pool = Pool('retry-after', max_concurrency=1)

    async def run() -> float:
        first = asyncio.ensure_future(pool.run(service.call))
        await asyncio.sleep(0.05)  # the refusal has come back
        begun = time.monotonic()
        await pool.run(service.call)  # another cell's call: it waits out the Retry-After too
        await first
        return begun

    begun = asyncio.run(run())
    later = [t for t in service.starts[1:] if t >= begun]
    assert later and min(later) - service.starts[0] >= 0.5
