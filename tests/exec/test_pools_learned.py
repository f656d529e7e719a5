"""Where pools start (issue 20): unpaid work at its ceiling; paid work from what the
provider showed, across the columns and verbs of a run and across runs (the ledger), and
never wider than twice what the provider has answered at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import PIL.Image

import reverie as rv
from reverie.exec.pools import START_WINDOW, Pool
from reverie.functions import reve
from reverie.reve_server import ServerOptions, serve_in_thread
from tests.exec.test_pools import Service


def test_an_unpaid_pool_starts_at_its_ceiling():
    pool, service = Pool('udf', max_concurrency=40, slow_start=False), Service(latency=0.3)
    assert pool.window == 40

    async def run() -> None:
        await asyncio.gather(*(pool.run(service.call) for _ in range(40)))

    asyncio.run(run())
    assert service.peak == 40  # one round trip, not 8 then 16 then 16


IN_FLIGHT = {'now': 0, 'peak': 0}


@rv.udf
async def slow_plus_one(x: int) -> int:
    IN_FLIGHT['now'] += 1
    IN_FLIGHT['peak'] = max(IN_FLIGHT['peak'], IN_FLIGHT['now'])
    await asyncio.sleep(0.3)
    IN_FLIGHT['now'] -= 1
    return x + 1


def test_async_udf_columns_run_every_row_at_once(sqlite_catalog):
    """The b/c/d pipeline of the bench, shorter: no money at risk, so no slow start."""
    t = rv.create_table('t', {'a': rv.Int})
    t.insert([{'a': i} for i in range(24)], print_stats=False)
    IN_FLIGHT['peak'] = 0
    begun = time.monotonic()
    t.add_computed_column(b=slow_plus_one(t.a), print_stats=False)
    took = time.monotonic() - begun
    print(f'POOLS 24 async rows of 0.3 s: {took:.2f} s, peak {IN_FLIGHT["peak"]} at once')
    assert IN_FLIGHT['peak'] == 24
    assert sorted(t.select(t.b).collect()['b']) == list(range(1, 25))


def test_a_window_the_work_never_filled_does_not_grow():
    """Answers to 4 calls at a time show 4: the window stays at the starting 8 (twice 4 is 8),
    so what a later burst puts in flight is bounded by what the service has answered."""
    pool, service = Pool('small', max_concurrency=64), Service(latency=0.01)

    async def waves() -> None:
        for _ in range(10):
            await asyncio.gather(*(pool.run(service.call) for _ in range(4)))

    asyncio.run(waves())
    assert service.answered == 40
    assert pool.window == START_WINDOW


def _first_wave(records: list, since: float) -> int:
    """Requests that left before the first answer came back (those a kill would re-pay)."""
    mine = [r for r in records if r.t_start >= since]
    first_end = min(r.t_end for r in mine)
    return sum(1 for r in mine if r.t_start < first_end)


def _open(home: Path) -> None:
    rv.init({'home': str(home), 'db_url': f'sqlite:///{home}/r.db', 'media_dir': str(home / 'm')})


def test_a_later_run_starts_where_the_provider_was_shown_to_answer(tmp_path, monkeypatch):
    """Run 1 on an empty ledger starts at 8 and widens on answers (8, then 12 at once); a
    new process (a fresh catalog) on the same database starts its first column, another
    verb, at twice the 12 the provider answered at once, so all 20 rows leave in the first
    wave, and its next column too: counted from the server. (1 s per call: at 0.4 s, a full
    suite's run once saw only 3 of the first 8 requests start before the first answer.)"""
    with serve_in_thread(ServerOptions(latency=1.0, megapixels=0.01)) as server:
        monkeypatch.setenv('REVE_API_KEY', 'papi.pools')
        monkeypatch.setenv('REVE_API_URL', server.url)
        _open(tmp_path)
        t = rv.create_table('t', {'p': rv.String})
        t.insert([{'p': f'prompt {i}'} for i in range(20)], print_stats=False)
        begun = time.time()
        t.add_computed_column(a=reve.create(t.p), print_stats=False)
        first = _first_wave(server.requests, begun)

        _open(tmp_path)  # what a new process would have: fresh pools, the same ledger
        t = rv.get_table('t')
        begun = time.time()
        t.add_computed_column(b=reve.edit(t.a, 'make it blue'), print_stats=False)
        second = _first_wave(server.requests, begun)
        begun = time.time()
        t.add_computed_column(c=reve.create(t.p + ' again'), print_stats=False)
        third = _first_wave(server.requests, begun)
    print(f'POOLS first wave: run 1 {first}, run 2 {second} then {third} (20 rows)')
    assert first == START_WINDOW
    assert second == 20 and third == 20
    assert all(r.status == 200 for r in server.requests)
    images = t.select(t.c).collect()['c']
    assert all(isinstance(img, PIL.Image.Image) for img in images)


def test_a_server_that_refused_is_not_refused_again_in_a_later_run(tmp_path, monkeypatch):
    """The ledger's 429s and answered concurrency, from any verb of the provider: a later run
    starts at the limit, even for a verb that never ran before."""
    options = ServerOptions(latency=0.2, megapixels=0.01, max_concurrency=4, retry_after=0)
    with serve_in_thread(options) as server:
        monkeypatch.setenv('REVE_API_KEY', 'papi.pools')
        monkeypatch.setenv('REVE_API_URL', server.url)
        _open(tmp_path)
        t = rv.create_table('t', {'p': rv.String})
        t.add_computed_column(a=reve.create(t.p), print_stats=False)
        t.insert([{'p': f'one {i}'} for i in range(30)], print_stats=False)
        refused_first = sum(1 for r in server.requests if r.status == 429)
        seen = len(server.requests)
        _open(tmp_path)
        t = rv.get_table('t')
        t.add_computed_column(b=reve.edit(t.a, 'make it blue'), print_stats=False)
        later = server.requests[seen:]
    refused = sum(1 for r in later if r.status == 429)
    print(f'POOLS server limit 4: run 1 refused {refused_first}, run 2 {refused} of {len(later)}')
    assert refused_first > 0
    assert refused == 0


def test_tries_to_grow_past_a_refusal_get_rarer():
    """After a 429 the pool tries one more call after 8 x window successes; each refused try
    doubles that, so a long run against a fixed limit is refused a few times, not every 33."""
    pool, service = Pool('tries', max_concurrency=64), Service(latency=0.005, limit=4)

    async def run() -> None:
        await asyncio.gather(*(pool.run(service.call) for _ in range(1000)))

    asyncio.run(run())
    print(f'POOLS limit 4, 1000 calls: {service.refused} refused')
    assert service.answered == 1000
    assert service.refused <= 10  # 20 when every try was 8 x window apart
