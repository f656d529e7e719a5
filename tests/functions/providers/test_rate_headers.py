"""A request budget advertised on successful answers is honoured before the server refuses
(issue 20): OpenAI's ``x-ratelimit-remaining-requests`` / ``-limit-`` / ``-reset-requests``
reach the pool through ``functions/images/http.py``; counted from the stand-in's log."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import reverie as rv
from reverie.exec.pools import Pool
from reverie.functions import limits, openai


def test_the_pool_never_sends_past_the_advertised_budget(openai_server, sqlite_catalog):
    openai_server.requests_per_period, openai_server.period = 10, 0.6
    t = rv.create_table('topics', {'topic': rv.String})
    t.insert([{'topic': f'a fox number {i}'} for i in range(40)], print_stats=False)
    begun = time.monotonic()
    messages = [{'role': 'user', 'content': t.topic}]
    answer = openai.chat_completions(
        messages, model='gpt-4o-mini', model_kwargs={'max_completion_tokens': 8}
    )
    t.add_computed_column(answer=answer, print_stats=False)
    took = time.monotonic() - begun
    statuses = [c.status for c in openai_server.calls]
    print(f'POOLS budget 10 per 0.6 s: {len(statuses)} requests, {statuses.count(429)} refused')
    assert statuses.count(429) == 0
    assert statuses.count(200) == 40
    assert took >= 3 * 0.6  # 40 requests need at least 4 periods of 10
    assert all(a is not None for a in t.select(t.answer).collect()['answer'])


class _Budgeted:
    """Counts a request when it arrives (its start) and says what is left when it answers."""

    def __init__(self, budget: int, latency: float) -> None:
        self.left, self.latency, self.over = budget, latency, 0

    async def call(self) -> None:
        self.left -= 1
        self.over += self.left < 0
        await asyncio.sleep(self.latency)
        limits.report(limits.Advice(remaining=max(0, self.left), reset=30.0))


@pytest.mark.parametrize('latency', [0.0, 0.05])
def test_requests_that_left_after_an_answer_count_against_its_budget(latency: float) -> None:
    """Answers come back while later requests are out: those may not be counted in an
    answer's ``remaining`` yet, so the pool takes them off; it then holds the rest."""
    pool, service = Pool('budget', max_concurrency=8), _Budgeted(20, latency)

    async def run() -> list[Any]:
        tasks = [asyncio.ensure_future(pool.run(service.call)) for _ in range(40)]
        await asyncio.sleep(1.0)
        for task in tasks:
            task.cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(run())
    done = sum(1 for r in results if r is None)
    assert service.over == 0
    assert 8 <= done <= 20  # the first wave, and more only while the budget allowed


def test_a_retry_after_on_an_answer_holds_new_calls() -> None:
    pool, starts = Pool('wait', max_concurrency=1), []

    async def call() -> None:
        starts.append(time.monotonic())
        if len(starts) == 1:
            limits.report(limits.Advice(wait=0.3))

    async def run() -> None:
        await pool.run(call)
        await pool.run(call)

    asyncio.run(run())
    assert starts[1] - starts[0] >= 0.3
