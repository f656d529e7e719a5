"""Async UDFs: results, pool limits, pipelining across columns, 429 retries against a server."""

from __future__ import annotations

import asyncio
import time

import pytest

import reverie as rv
from reverie.functions import reve
from reverie.reve_server import ServerOptions, serve_in_thread

IN_FLIGHT = {'now': 0, 'peak': 0}
EVENTS: list[tuple[str, int, str, float]] = []


@rv.udf
async def slow_double(n: int) -> int:
    await asyncio.sleep(0.01)
    return n * 2


@rv.udf(resource_pool='p', max_concurrency=3)
async def pooled(n: int) -> int:
    IN_FLIGHT['now'] += 1
    IN_FLIGHT['peak'] = max(IN_FLIGHT['peak'], IN_FLIGHT['now'])
    try:
        await asyncio.sleep(0.05)
    finally:
        IN_FLIGHT['now'] -= 1
    return n + 1


@rv.udf
async def first_step(n: int) -> int:
    EVENTS.append(('first', n, 'start', time.monotonic()))
    await asyncio.sleep(0.02 if n == 0 else 0.4)
    EVENTS.append(('first', n, 'end', time.monotonic()))
    return n


@rv.udf
async def second_step(n: int) -> int:
    EVENTS.append(('second', n, 'start', time.monotonic()))
    await asyncio.sleep(0.01)
    EVENTS.append(('second', n, 'end', time.monotonic()))
    return n * 10


def test_async_udf(catalog):
    t = rv.create_table('a', {'n': rv.Int})
    t.insert([{'n': i} for i in range(5)], print_stats=False)
    t.add_computed_column(d=slow_double(t.n), print_stats=False)
    t.insert(n=7, print_stats=False)
    assert t.collect()['d'] == [0, 2, 4, 6, 8, 14]


def test_peak_concurrency_equals_pool_limit(catalog):
    IN_FLIGHT.update(now=0, peak=0)
    t = rv.create_table('p', {'n': rv.Int})
    t.insert([{'n': i} for i in range(12)], print_stats=False)
    t.add_computed_column(m=pooled(t.n), print_stats=False)
    assert t.collect()['m'] == list(range(1, 13))
    assert IN_FLIGHT['peak'] == 3
    assert catalog.pools['p'].stats.peak_in_flight == 3


def test_rows_pipeline_through_dependent_columns(catalog):
    EVENTS.clear()
    t = rv.create_table('pipe', {'n': rv.Int})
    t.add_computed_column(a=first_step(t.n), print_stats=False)
    t.add_computed_column(b=second_step(t.a), print_stats=False)
    t.insert([{'n': i} for i in range(4)], print_stats=False)
    assert t.collect()['b'] == [0, 10, 20, 30]
    times = {(col, n, what): at for col, n, what, at in EVENTS}
    # Row 0's second column starts as soon as its first is done, not after the whole column.
    slowest_first_end = max(times[('first', n, 'end')] for n in range(1, 4))
    assert times[('second', 0, 'start')] < slowest_first_end
    for n in range(4):
        assert times[('second', n, 'start')] >= times[('first', n, 'end')]


@pytest.fixture
def reve_server(monkeypatch):
    with serve_in_thread(ServerOptions(max_concurrency=2, latency=0.2, megapixels=0.01)) as server:
        monkeypatch.setenv('REVE_API_URL', server.url)
        monkeypatch.setenv('REVE_API_KEY', 'papi.test')
        yield server


def test_reve_429_is_retried_and_window_shrinks(sqlite_catalog, reve_server):
    t = rv.create_table('scenes', {'prompt': rv.String})
    t.insert([{'prompt': f'a scene number {i}'} for i in range(8)], print_stats=False)
    status = t.add_computed_column(
        scene=reve.create(t.prompt, aspect_ratio='1:1'), print_stats=False
    )
    assert status.num_excs == 0
    rs = t.select(t.scene, t.scene.errortype, t.scene.errormsg).collect()
    assert rs['scene_errortype'] == [None] * 8, rs['scene_errormsg']
    assert all(img is not None and img.size[0] > 0 for img in rs['scene'])
    pool = sqlite_catalog.pools['reve']
    assert pool.stats.rate_limited > 0
    assert pool.stats.retries >= pool.stats.rate_limited
    assert pool.window < 8
    # The key never reaches the stored cells.
    meta = t.select(t.scene.cellmeta).collect()['scene_cellmeta']
    assert 'papi.test' not in repr(meta)
