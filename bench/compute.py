"""Issue 3: computed columns — a trivial UDF, a pooled async UDF, a b/c/d pipeline."""

from __future__ import annotations

import asyncio
from typing import Any

import reverie as rv
from bench.common import Timer, fresh_home

N_ROWS = 10_000
LATENCY = 1.0
POOL_ROWS = 40
POOL_LIMIT = 8
PIPE_ROWS = 20


@rv.udf
def plus_one(x: int) -> int:
    return x + 1


@rv.udf(resource_pool='bench8', max_concurrency=POOL_LIMIT)
async def slow_pooled(x: int) -> int:
    await asyncio.sleep(LATENCY)
    return x + 1


@rv.udf
async def slow_f(x: int) -> int:
    await asyncio.sleep(LATENCY)
    return x + 1


@rv.udf
async def slow_g(x: int) -> int:
    await asyncio.sleep(LATENCY)
    return x * 2


@rv.udf
async def slow_h(b: int, c: int) -> int:
    await asyncio.sleep(LATENCY)
    return b + c


@rv.udf
async def plus_one_async(x: int) -> int:
    return x + 1


def trivial_async_udf() -> dict[str, Any]:
    """A free async UDF over 10,000 rows: the paid-call layer must not touch it."""
    with fresh_home():
        t = rv.create_table('audf', {'a': rv.Int})
        t.insert([{'a': i} for i in range(N_ROWS)], print_stats=False)
        with Timer() as tm:
            t.add_computed_column(b=plus_one_async(t.a), print_stats=False)
        return {'async_udf_rows_per_s': N_ROWS / tm.seconds}


def trivial_udf() -> dict[str, Any]:
    with fresh_home():
        t = rv.create_table('udf', {'a': rv.Int})
        t.insert([{'a': i} for i in range(N_ROWS)], print_stats=False)
        with Timer() as tm:
            status = t.add_computed_column(b=plus_one(t.a), print_stats=False)
        assert status.num_excs == 0
        assert sorted(t.select(t.b).collect()['b']) == list(range(1, N_ROWS + 1))
        return {'udf_rows_per_s': N_ROWS / tm.seconds}


def async_pool() -> dict[str, Any]:
    with fresh_home():
        t = rv.create_table('pool', {'a': rv.Int})
        t.insert([{'a': i} for i in range(POOL_ROWS)], print_stats=False)
        with Timer() as tm:
            status = t.add_computed_column(b=slow_pooled(t.a), print_stats=False)
        assert status.num_excs == 0
        return {'pool_wall_s': tm.seconds, 'pool_bound_s': POOL_ROWS * LATENCY / POOL_LIMIT}


def pipeline() -> dict[str, Any]:
    with fresh_home():
        t = rv.create_table('bcd', {'a': rv.Int})
        t.add_computed_column(b=slow_f(t.a), print_stats=False)
        t.add_computed_column(c=slow_g(t.a), print_stats=False)
        t.add_computed_column(d=slow_h(t.b, t.c), print_stats=False)
        with Timer() as tm:
            status = t.insert([{'a': i} for i in range(PIPE_ROWS)], print_stats=False)
        assert status.num_excs == 0
        values = t.select(t.d).collect()['d']
        assert sorted(values) == sorted((i + 1) + i * 2 for i in range(PIPE_ROWS)), values
        return {'bcd_wall_s': tm.seconds, 'bcd_bound_s': 2 * LATENCY}
