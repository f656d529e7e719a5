"""Provider embeddings through the paid-call layer, counted from the stand-ins' request logs.

``openai.embeddings`` and ``gemini.embed_content`` take the road text calls take (a ledger
row per attempt, cache hits that send nothing, budgets, dry runs) and give a float32 vector
per cell, so an embedding index can be built on them and queried by similarity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import reverie as rv
from reverie.functions import gemini, openai


def _openai(text: Any, **kwargs: Any) -> Any:
    return openai.embeddings(text, model='text-embedding-3-small', dimensions=64, **kwargs)


def _gemini(text: Any, **kwargs: Any) -> Any:
    return gemini.embed_content(
        text, model='gemini-embedding-001', config={'output_dimensionality': 64}, **kwargs
    )


FUNCTIONS = {'openai': _openai, 'gemini': _gemini}
ENDPOINT = {'openai': 'openai/embeddings', 'gemini': 'gemini/embed_content'}
WORDS = ['apple', 'banana', 'cherry', 'date', 'elderberry', 'fig', 'grape', 'kiwi']


@pytest.fixture
def topics(sqlite_catalog) -> rv.Table:
    t = rv.create_table('topics', {'topic': rv.String})
    t.insert([{'topic': f'a fox number {i}'} for i in range(4)], print_stats=False)
    return t


def _sent(server: Any) -> int:
    return sum(1 for c in server.calls if c.path.endswith(('/embeddings', ':embedContent')))


def _letters(text: str) -> np.ndarray:
    """The stand-ins' vector, computed here (64 dims)."""
    v = np.full(64, 0.01)
    for ch in text.lower():
        if 'a' <= ch <= 'z':
            v[ord(ch) - 97] += 1
    return v / np.linalg.norm(v)


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_vectors_are_cells_with_a_ledger_row_each(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    topics.add_computed_column(e=FUNCTIONS[provider](topics.topic), print_stats=False)
    rs = topics.select(topics.topic, topics.e, topics.e.cellmeta).collect()
    for row in rs:
        vector = np.asarray(row['e'])  # arrays are kept as lists of the float32 values
        assert vector.shape == (64,)
        assert np.array_equal(vector, vector.astype(np.float32))
        np.testing.assert_allclose(vector, _letters(row['topic']), rtol=1e-5)
        assert row['e_cellmeta']['provider'] == provider
        assert row['e_cellmeta']['cost_usd'] > 0
    assert _sent(server) == 4
    ledger = rv.calls(topics).collect()
    assert len(ledger) == 4 and set(ledger['outcome']) == {'answered'}
    assert set(ledger['endpoint']) == {ENDPOINT[provider]}
    assert all(c > 0 for c in ledger['cost_usd'])


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_the_same_request_again_sends_nothing(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    topics.add_computed_column(a=FUNCTIONS[provider](topics.topic), print_stats=False)
    status = topics.add_computed_column(b=FUNCTIONS[provider](topics.topic), print_stats=False)
    assert _sent(server) == 4  # 0 new requests
    assert status.paid is not None and status.paid.cache_hits == 4
    rs = topics.select(topics.a, topics.b).collect()
    assert all(r['a'] == r['b'] for r in rs)


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_a_dry_run_sends_nothing_and_a_budget_stops(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    estimate = topics.add_computed_column(e=FUNCTIONS[provider](topics.topic), dry_run=True)
    assert _sent(server) == 0 and 'e' not in topics.columns()
    assert estimate.paid_calls == 4 and 0 < estimate.usd_low < estimate.usd_high
    with pytest.raises(rv.RunStoppedError, match='Budget reached') as info:
        topics.add_computed_column(
            e=FUNCTIONS[provider](topics.topic),
            budget=estimate.usd_high / 4 * 2.5,
            print_stats=False,
        )
    assert info.value.reason == 'budget'
    assert _sent(server) == 2  # a third call could have crossed the budget
    spent = sum(rv.calls(topics).collect()['cost_usd'])
    assert 0 < spent <= estimate.usd_high / 2


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_an_answer_without_a_vector_is_an_error_cell(provider, topics, request) -> None:
    server = request.getfixturevalue(f'{provider}_server')
    server.script.extend(['garbage'])
    topics.add_computed_column(
        e=FUNCTIONS[provider](topics.topic), on_error='ignore', print_stats=False
    )
    errors = [m for m in topics.select(topics.e.errormsg).collect()['e_errormsg'] if m]
    assert len(errors) == 1 and 'without an embedding' in errors[0] and 'journal' in errors[0]
    assert _sent(server) == 4


def test_a_refused_request_says_why(topics, openai_server) -> None:
    fn = openai.embeddings(topics.topic, model='text-embedding-ada-002', dimensions=8)
    with pytest.raises(rv.Error, match='does not support specifying dimensions'):
        topics.add_computed_column(e=fn, print_stats=False)


@pytest.mark.parametrize('provider', list(FUNCTIONS))
def test_an_index_on_a_provider_embedding_answers_similarity(provider, request) -> None:
    request.getfixturevalue('sqlite_catalog')
    server = request.getfixturevalue(f'{provider}_server')
    t = rv.create_table('words', {'k': rv.Int, 'w': rv.String})
    t.insert([{'k': i, 'w': w} for i, w in enumerate(WORDS)], print_stats=False)
    t.add_embedding_index('w', embedding=lambda s: FUNCTIONS[provider](s))
    assert _sent(server) == len(WORDS)  # each row embedded once
    sim = t.w.similarity('grapes')
    rs = t.order_by(sim, asc=False).limit(3).select(t.k, sim).collect()
    want = sorted(range(len(WORDS)), key=lambda i: -float(_letters(WORDS[i]) @ _letters('grapes')))
    assert rs['k'] == want[:3] and rs['k'][0] == 6
    assert _sent(server) == len(WORDS) + 1  # the query text, once
    t.insert(k=99, w='grape grape', print_stats=False)
    rs = t.order_by(sim, asc=False).limit(1).select(t.k).collect()
    assert rs['k'] in ([6], [99])
    assert _sent(server) == len(WORDS) + 2  # the new row only; the query was a cache hit
    endpoints = set(rv.calls().collect()['endpoint'])
    assert endpoints == {ENDPOINT[provider]}
