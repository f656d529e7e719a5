"""Adaptive pools: probe upward while the service takes more, narrow on 429."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

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


def test_a_pool_that_learned_the_limit_is_not_refused():
    """What the ledger showed in an earlier run (4 answered at once, 429s) is where it starts."""
    pool, service = Pool('learned', max_concurrency=8), Service(latency=0.05, limit=4)
    pool.learn(4, True)
    asyncio.run(_run(pool, service, 30))
    assert service.answered == 30
    assert service.refused == 0
    assert service.peak == 4


def test_a_pool_that_learned_no_refusals_starts_where_slow_start_had_got_to():
    pool = Pool('wide', max_concurrency=64)
    pool.learn(20, False)
    assert pool.window == 40  # twice what was answered at once, as one more round trip gives
    capped = Pool('capped', max_concurrency=30)
    capped.learn(20, False)
    assert capped.window == 30
    late = Pool('late', max_concurrency=64)
    asyncio.run(_run(late, Service(latency=0.01), 2))
    late.learn(20, False)  # a pool that already ran keeps what it found itself
    assert late.window < 20


def test_the_ledger_gives_the_answered_concurrency_and_the_refusals(tmp_path):
    """Per provider: every endpoint ``'<provider>/...'`` counts, whichever function sent it."""
    from reverie.store.db import Store
    from reverie.store.ledger import Ledger
    from reverie.store.ledger_tables import calls_table

    store = Store(f'sqlite:///{tmp_path / "l.db"}')
    base = {'fingerprint': 'x', 'attempt': 1}
    # 3 answered calls overlapping in [1, 2) (two verbs, two functions), then one starting as
    # the first ended, one 429; and another provider whose name starts the same.
    spans = [
        ('reve/create', 'f', 0.0, 2.0, 200),
        ('reve/edit', 'g', 1.0, 3.0, 200),
        ('reve/create', 'f', 1.5, 2.5, 200),
        ('reve/remix', 'h', 2.0, 4.0, 200),
        ('reve/create', 'f', 1.2, 1.3, 429),
        ('revel/create', 'f', 1.0, 3.0, 200),
    ]
    with store.begin() as conn:
        for i, (endpoint, function, start, end, status) in enumerate(spans):
            outcome = 'answered' if status == 200 else 'failed'
            row = {**base, 'started_at': start, 'finished_at': end, 'http_status': status}
            row.update(endpoint=endpoint, function=function)
            conn.execute(sa.insert(calls_table), {**row, 'id': i + 1, 'outcome': outcome})
    assert Ledger(store).report.concurrency('reve') == (3, True)
    assert Ledger(store).report.concurrency('revel') == (1, False)
    assert Ledger(store).report.concurrency('other') == (0, False)
