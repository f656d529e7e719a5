"""The identical-call cache and budgets, counted from the server's request log."""

from __future__ import annotations

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.cli import main
from reverie.functions import reve
from tests.paid.conftest import ledger_credits


def _table(name: str, n: int) -> rv.Table:
    t = rv.create_table(name, {'prompt': rv.String})
    t.insert([{'prompt': f'prompt {i}'} for i in range(n)], print_stats=False)
    return t


def test_replacing_a_column_with_the_same_expression_costs_nothing(
    catalog: Catalog, service
) -> None:
    server = service()
    t = _table('cached', 4)
    t.add_computed_column(img=reve.create(t.prompt, aspect_ratio='1:1'), print_stats=False)
    assert len(server.entries()) == 4
    status = t.add_computed_column(
        img=reve.create(t.prompt, aspect_ratio='1:1'), if_exists='replace', print_stats=False
    )
    assert len(server.entries()) == 4  # 0 new calls
    assert status.paid is not None and (status.paid.cache_hits, status.paid.paid_calls) == (4, 0)
    hits = rv.calls(t).where(cache_hit=True).collect()
    assert len(hits) == 4 and set(hits['credits']) == {0.0}
    assert ledger_credits(catalog) == server.charged() == 4 * 18


def test_a_second_table_from_the_same_inputs_costs_nothing(catalog: Catalog, service) -> None:
    server = service()
    for name in ('first', 'second'):
        t = _table(name, 3)
        t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert len(server.entries()) == 3
    assert rv.get_table('first').credits_used() == 3 * 18
    assert rv.get_table('second').credits_used() == 0
    assert all(r['img'] is not None for r in rv.get_table('second').select(t.img).collect())


def test_cache_false_and_recompute_make_new_calls(catalog: Catalog, service) -> None:
    server = service()
    t = _table('fresh', 2)
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    t.add_computed_column(again=reve.create(t.prompt, cache=False), print_stats=False)
    assert len(server.entries()) == 4  # cache=False: a fresh sample per call
    t.recompute_columns('img', print_stats=False)
    assert len(server.entries()) == 6  # recompute asks again by default
    t.recompute_columns('img', use_cache=True, print_stats=False)
    assert len(server.entries()) == 6
    assert ledger_credits(catalog) == server.charged() == t.credits_used() == 6 * 18


def test_credits_used_never_goes_down_and_update_says_it_paid(
    catalog: Catalog, service, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue: update re-ran paid calls and printed only 'Updated 1 row.'; delete lowered it."""
    server = service()
    t = _table('spend', 2)
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    before = t.credits_used()
    t.update({'prompt': 'a new prompt'}, where=t.prompt == 'prompt 0')
    assert 'Updated 1 row; 1 paid call, 18 credits.' in capsys.readouterr().out
    t.delete(where=t.prompt == 'prompt 1')
    assert t.credits_used() == before + 18 == server.charged()


def test_a_capped_run_stops_with_zero_overshoot_and_resumes_without_repaying(
    catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = service(latency=0.05)
    monkeypatch.setenv('REVE_MAX_CONCURRENCY', '4')
    t = _table('capped', 10)
    with pytest.raises(rv.RunStoppedError, match='Budget reached') as info:
        t.add_computed_column(img=reve.create(t.prompt), budget=100, print_stats=False)
    assert info.value.reason == 'budget'
    assert server.charged() <= 100  # overshoot: 0
    assert server.charged() == 5 * 18  # a sixth call could have crossed 100
    done = t.select(t.img).where(t.img != None).count()  # noqa: E711
    assert done == 5
    t.recompute_columns(budget=1000, print_stats=False)
    assert all(r['img'] is not None for r in t.select(t.img).collect())
    assert set(server.calls_per_prompt().values()) == {1}
    assert ledger_credits(catalog) == server.charged() == 10 * 18


def test_the_budget_setting_is_the_default_of_each_operation(
    catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = service()
    monkeypatch.setenv('REVERIE_BUDGET_CREDITS', '40')
    t = _table('env_budget', 5)
    with pytest.raises(rv.RunStoppedError, match='Budget reached'):
        t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert server.charged() == 2 * 18


def test_credits_exhausted_stops_the_run_with_cells_pending(
    catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 402 says no call can succeed: the run stops, nothing becomes an error cell."""
    server = service(credits=40)
    monkeypatch.setenv('REVE_MAX_CONCURRENCY', '1')
    t = _table('broke', 5)
    with pytest.raises(rv.RunStoppedError, match='PARTNER_API_BUDGET_EXHAUSTED') as info:
        t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert info.value.reason == 'service'
    assert t.select(t.img.errortype).where(t.img.errortype != None).count() == 0  # noqa: E711
    server.server.configure(credits=1000)
    t.recompute_columns(print_stats=False)
    ok = [e for e in server.entries() if e['status'] == 200]
    assert len(ok) == 5 and len({e['prompt'] for e in ok}) == 5
    assert ledger_credits(catalog) == server.charged() == 5 * 18
    capsys.readouterr()
    assert main(['calls', 'broke']) == 0
    out = capsys.readouterr().out
    assert 'answered' in out and 'failed' in out  # the 402 is a failed, uncharged attempt
