"""Adaptive pools: probe upward while the service takes more, narrow on 429."""

from __future__ import annotations

import asyncio

from reverie.errors import ServiceError
from reverie.exec.pools import START_WINDOW, Pool


class Service:
    """A stand-in service: answers after ``latency``; beyond ``limit`` calls it says 429."""

    def __init__(self, latency: float, limit: int | None = None) -> None:
        self.latency, self.limit = latency, limit
        self.now = self.peak = self.refused = self.answered = 0

    async def call(self) -> int:
        if self.limit is not None and self.now >= self.limit:
            self.refused += 1
            raise ServiceError('too many', status=429, retryable=True, retry_after=0.05)
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.now -= 1
        self.answered += 1
        return self.answered


async def _run(pool: Pool, service: Service, calls: int) -> None:
    await asyncio.gather(*(pool.run(service.call) for _ in range(calls)))


def test_a_pool_probes_upward_to_what_the_service_takes():
    pool, service = Pool('probe', max_concurrency=64), Service(latency=0.3)
    assert pool.window == START_WINDOW
    asyncio.run(_run(pool, service, 48))
    assert service.answered == 48
    assert service.peak > START_WINDOW  # it did not stay at its starting window
    assert pool.stats.rate_limited == 0
    assert pool.window <= pool.ceiling == 64


def test_a_pool_never_exceeds_its_ceiling():
    pool, service = Pool('ceiling', max_concurrency=5), Service(latency=0.05)
    asyncio.run(_run(pool, service, 30))
    assert service.peak == 5


def test_a_pool_narrows_to_the_service_limit_on_429():
    pool, service = Pool('narrow', max_concurrency=64), Service(latency=0.1, limit=6)
    # 40 calls: fewer than the 8 x 6 successes after which a narrowed pool tries one more.
    asyncio.run(_run(pool, service, 40))
    assert service.answered == 40
    assert pool.window <= 6
    assert pool.stats.rate_limited == service.refused
    assert service.refused <= 12  # it learnt the limit from the first refusals
