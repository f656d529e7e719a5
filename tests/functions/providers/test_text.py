"""Text models through the paid-call layer, counted from the stand-ins' request logs.

``openai.chat_completions`` and ``gemini.generate_content`` take the road image calls take:
a ledger row per attempt, cache hits that send nothing, budgets that stop before crossing,
dry runs that send nothing, and the answer JSON as the cell (Pixeltable's result shape).
"""

from __future__ import annotations

from typing import Any

import pytest

import reverie as rv
from reverie.functions import gemini, openai

CAP = 16  # output tokens per call: the worst case a budget reserves


def _chat(t: rv.Table, **kwargs: Any) -> Any:
    messages = [{'role': 'user', 'content': t.topic}]
    return openai.chat_completions(
        messages, model='gpt-4o-mini', model_kwargs={'max_completion_tokens': CAP}, **kwargs
    )


def _gemini(t: rv.Table, **kwargs: Any) -> Any:
    return gemini.generate_content(
        t.topic, model='gemini-2.5-flash', config={'max_output_tokens': CAP}, **kwargs
    )


FUNCTIONS = {'openai': _chat, 'gemini': _gemini}
TEXT_OF = {
    'openai': lambda r: r['choices'][0]['message']['content'],
    'gemini': lambda r: r['candidates'][0]['content']['parts'][0]['text'],
}


@pytest.fixture
def topics(sqlite_catalog) -> rv.Table:
    t = rv.create_table('topics', {'topic': rv.String})
    t.insert([{'topic': f'a fox number {i}'} for i in range(4)], print_stats=False)
    return t


def _paid(server: Any) -> int:
    return sum(
        1 for c in server.calls if c.path.endswith(('/chat/completions', ':generateContent'))
    )


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_answers_are_cells_with_a_ledger_row_each(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    topics.add_computed_column(answer=FUNCTIONS[provider](topics), print_stats=False)
    rs = topics.select(topics.topic, topics.answer, topics.answer.cellmeta).collect()
    for row in rs:
        assert TEXT_OF[provider](row['answer']) == f'Draw: {row["topic"]}'
        meta = row['answer_cellmeta']
        assert meta['provider'] == provider and meta['request_id'] and meta['cost_usd'] > 0
    assert _paid(server) == 4
    ledger = rv.calls(topics).collect()
    assert len(ledger) == 4 and set(ledger['outcome']) == {'answered'}
    assert set(ledger['endpoint']) == {
        'openai/chat_completions' if provider == 'openai' else 'gemini/generate_content'
    }


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_the_same_request_again_is_a_cache_hit(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    topics.add_computed_column(a=FUNCTIONS[provider](topics), print_stats=False)
    status = topics.add_computed_column(b=FUNCTIONS[provider](topics), print_stats=False)
    assert _paid(server) == 4  # 0 new requests
    assert status.paid is not None and status.paid.cache_hits == 4
    rs = topics.select(topics.a, topics.b).collect()
    assert all(r['a'] == r['b'] for r in rs)
    topics.add_computed_column(c=FUNCTIONS[provider](topics, cache=False), print_stats=False)
    assert _paid(server) == 8


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_a_dry_run_sends_nothing_and_prices_the_worst_case(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    estimate = topics.add_computed_column(answer=FUNCTIONS[provider](topics), dry_run=True)
    assert _paid(server) == 0 and 'answer' not in topics.columns()
    assert estimate.paid_calls == 4
    assert 0 < estimate.usd_low < estimate.usd_high and estimate.credits_high == 0  # USD
    topics.add_computed_column(answer=FUNCTIONS[provider](topics), print_stats=False)
    spent = sum(rv.calls(topics).collect()['cost_usd'])
    assert estimate.usd_low <= spent <= estimate.usd_high


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_a_budget_stops_before_crossing(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    one = topics.add_computed_column(x=FUNCTIONS[provider](topics), dry_run=True)
    worst = one.usd_high / 4
    with pytest.raises(rv.RunStoppedError, match='Budget reached') as info:
        topics.add_computed_column(
            answer=FUNCTIONS[provider](topics), budget=worst * 2.5, print_stats=False
        )
    assert info.value.reason == 'budget'
    # Two worst cases fit; a third fits only once an answer has settled below its worst case
    # (the machine's timing decides), a fourth never: what was charged stays in the budget.
    paid = _paid(server)
    assert paid in (2, 3)
    charged = rv.calls(topics).collect()['cost_usd']
    assert len(charged) == paid and sum(charged) <= worst * 2.5
    topics.recompute_columns(budget=1.0, print_stats=False)  # the pending cells
    assert _paid(server) == 4  # the rest, nothing paid twice
    assert topics.where(topics.answer == None).count() == 0  # noqa: E711


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_a_reply_without_its_answer_is_an_error_cell_kept_in_the_journal(
    provider, topics, request
) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    server.script.extend(['garbage'])
    topics.add_computed_column(
        answer=FUNCTIONS[provider](topics), on_error='ignore', print_stats=False
    )
    rs = topics.select(topics.answer.errortype, topics.answer.errormsg).collect()
    errors = [m for m in rs['answer_errormsg'] if m]
    key = 'choices' if provider == 'openai' else 'candidates'
    assert len(errors) == 1 and f"without '{key}'" in errors[0] and 'journal' in errors[0]
    assert _paid(server) == 4


def test_a_rate_limit_is_retried_and_paid_once(topics, openai_server) -> None:
    openai_server.script.extend(['429'])
    topics.add_computed_column(answer=_chat(topics), print_stats=False)
    assert _paid(openai_server) == 5  # one refused (not charged), then four answers
    ledger = rv.calls(topics).collect()
    assert sorted(ledger['outcome']) == ['answered'] * 4 + ['failed']
