"""Money, second round (issue 19): budgets hold on retries, one call per fingerprint, the
cache stays within one endpoint and account, calls that never left cost nothing.

Counted from the Reve stand-in's request log (the ground truth of what was charged) and the
ledger in the database file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.cli import main
from reverie.functions import images, reve
from reverie.store.db import meta_table
from reverie.store.ledger_tables import calls_table
from tests.functions.providers.openai_server import OpenAIStandIn
from tests.paid.conftest import ledger_credits


def _table(name: str, prompts: list[str]) -> rv.Table:
    t = rv.create_table(name, {'prompt': rv.String})
    t.insert([{'prompt': p} for p in prompts], print_stats=False)
    return t


def test_timeouts_and_their_retries_stay_within_the_budget(
    catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: the maybe_charged retry left without a reservation: 6 calls, 108 of 60 credits."""
    server = service(stall_rate=1.0, stall_seconds=0.8)
    monkeypatch.setenv('REVE_TIMEOUT', '0.3')
    t = _table('timeouts', [f'a lake {i}' for i in range(6)])
    with pytest.raises(rv.RunStoppedError, match='Budget reached') as info:
        t.add_computed_column(img=reve.create(t.prompt), budget=60, print_stats=False)
    sent = ledger_credits(catalog)
    entries = server.wait_for(round(sent / 18))
    charged = sum(int(e['credits_used']) for e in entries)
    print(f'PAID budget 60, all time out: {len(entries)} calls, {charged} credits charged')
    assert info.value.reason == 'budget'
    assert charged <= 60  # overshoot 0 (was 108)
    assert charged == sent == 54
    assert '54 of 60 credits' in str(info.value)  # what was really spent (was "0 of 60")


def test_twenty_identical_prompts_make_one_paid_call(catalog: Catalog, service) -> None:
    """Was: 20 paid calls for one request fingerprint inside one insert."""
    server = service(latency=0.2)
    t = rv.create_table('same', {'prompt': rv.String})
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    status = t.insert([{'prompt': 'one lighthouse'}] * 20, print_stats=False)
    entries = server.wait_for(1)
    print(f'PAID 20 identical prompts: {len(entries)} paid call(s)')
    assert len(entries) == 1  # was 20
    assert status.paid is not None and (status.paid.paid_calls, status.paid.cache_hits) == (1, 19)
    assert t.select(t.img).where(t.img != None).count() == 20  # noqa: E711
    assert ledger_credits(catalog) == server.charged() == 18


def test_the_cache_never_serves_another_endpoint_or_account(
    catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: an answer from one server (or one API key) was reused for another."""
    first, second = service(), service()
    t = _table('accounts', ['a bridge'])
    monkeypatch.setenv('REVE_API_URL', first.server.url)
    t.add_computed_column(a=reve.create(t.prompt), print_stats=False)
    monkeypatch.setenv('REVE_API_URL', second.server.url)
    t.add_computed_column(b=reve.create(t.prompt), print_stats=False)
    monkeypatch.setenv('REVE_API_KEY', 'papi.another-account')
    t.add_computed_column(c=reve.create(t.prompt), print_stats=False)
    monkeypatch.setenv('REVE_API_URL', first.server.url)
    monkeypatch.setenv('REVE_API_KEY', 'papi.paid-tests')
    t.add_computed_column(d=reve.create(t.prompt), print_stats=False)  # same as a: cached
    print(f'PAID cache per account: {len(first.entries())} + {len(second.entries())} calls')
    assert (len(first.entries()), len(second.entries())) == (1, 2)  # was (1, 0)
    hits = rv.calls(t).where(cache_hit=True).collect()
    assert len(hits) == 1
    keys = ' '.join(str(v) for r in rv.calls(t).collect() for v in r.values())
    assert 'paid-tests' not in keys and 'another-account' not in keys


def test_a_missing_key_books_nothing_as_charged(
    catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: each cell's attempt without a key was booked maybe_charged at 18 credits."""
    server = service()
    monkeypatch.delenv('REVE_API_KEY')
    t = _table('nokey', ['a fox', 'a hen'])
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False, on_error='ignore')
    print(f'PAID missing key: {len(server.entries())} requests, {t.credits_used()} credits')
    assert server.entries() == []
    assert t.credits_used() == 0  # was 36
    assert rv.calls(t).where(outcome='maybe_charged').collect().__len__() == 0


def test_reve_credits_and_openai_dollars_are_reported_apart(
    catalog: Catalog, service, openai_server: OpenAIStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: USD booked as credits: credits_used() 18.77..., dry runs said '0.03-0.34 credits'."""
    reve_server = service()
    t = _table('mixed', ['a mill', 'a barn'])
    t.add_computed_column(a=reve.create(t.prompt), print_stats=False)
    estimate = t.add_computed_column(
        b=images.create(t.prompt, model='openai/gpt-image-2'), dry_run=True
    )
    print(f'PAID mixed dry run: {estimate}')
    assert '$' in str(estimate) and 'credits' not in str(estimate)
    with pytest.raises(rv.RunStoppedError, match=r'bare number.*rv\.Budget') as info:
        t.add_computed_column(
            b=images.create(t.prompt, model='openai/gpt-image-2'),
            budget=1000,
            print_stats=False,
        )
    assert info.value.reason == 'budget' and openai_server.calls == []
    status = t.recompute_columns('a', budget=rv.Budget(credits=36, usd=5), print_stats=False)
    assert status.paid is not None and status.paid.credits == 36
    t.add_computed_column(
        c=images.create(t.prompt, model='openai/gpt-image-2'), budget=rv.Budget(usd=5)
    )
    summary = capsys.readouterr().out
    usd = sum(c.charged for c in openai_server.calls)
    spend = t.spend()
    print(f'PAID mixed: {reve_server.charged()} credits and ${usd:.4f} charged; spend {spend}')
    assert t.credits_used() == reve_server.charged() == 4 * 18  # credits only (was + USD)
    assert spend['credits'] == 72 and spend['usd'] == pytest.approx(usd)
    assert '$' in summary and '2 paid calls' in summary
    grouped = rv.calls(t).group_by('endpoint').collect()
    assert {'credits', 'cost_usd'} <= set(grouped.column_names)
    assert main(['calls', 'mixed']) == 0
    printed = capsys.readouterr().out
    print(printed)
    assert 'Total: 72 credits, $' in printed


def test_a_budget_names_its_unit_in_its_stop_message(
    catalog: Catalog, openai_server: OpenAIStandIn
) -> None:
    t = _table('dollars', [f'a hut {i}' for i in range(4)])
    with pytest.raises(rv.RunStoppedError, match=r'Budget reached: \$[0-9.]+ of \$0\.10'):
        t.add_computed_column(
            img=images.create(t.prompt, model='openai/gpt-image-2'),
            budget=rv.Budget(usd=0.1),
            print_stats=False,
        )
    assert sum(c.charged for c in openai_server.calls) <= 0.1
    with pytest.raises(rv.InvalidValueError, match='usd'):
        rv.Budget(usd=-1)


def test_a_catalog_2_ledger_moves_dollars_out_of_credits(db_url: str, tmp_path: Path) -> None:
    """Catalog 2 booked OpenAI's USD in ``credits``; opening it at 3 moves them to cost_usd."""
    config = {'db_url': db_url, 'media_dir': str(tmp_path / 'media')}
    catalog = rv.init(config)
    t = rv.create_table('old', {'prompt': rv.String})
    old = [  # endpoint, credits, cost_usd as catalog 2 wrote them
        ('reve/create', 18.0, None),
        ('openai/create', 0.34, None),  # maybe charged: the worst case, in dollars
        ('openai/create', 0.17, 0.12),  # answered: the price table figure and the usage cost
    ]
    with catalog.store.begin() as conn:
        for i, (endpoint, credits, usd) in enumerate(old):
            conn.execute(
                sa.insert(calls_table).values(
                    table_id=t._id, function='f', endpoint=endpoint, fingerprint=str(i),
                    attempt=1, started_at=1.0, credits=credits, cost_usd=usd,
                    outcome='answered', cache_hit=False, delivered=True,
                )
            )  # fmt: skip
        conn.execute(sa.update(meta_table).values(value='2'))
    assert t.credits_used() == pytest.approx(18.51)  # the bug: dollars added to credits
    catalog.close()
    catalog = rv.init(config)
    try:
        t = rv.get_table('old')
        assert t.credits_used() == 18
        assert t.spend()['usd'] == pytest.approx(0.46)
    finally:
        catalog.close()


def test_an_answer_that_does_not_decode_is_never_served_again(catalog: Catalog, service) -> None:
    """Was: the cache served the broken answer to the next identical call (0 calls, error)."""
    server = service(answer_fault='truncated', answer_fault_rate=1.0)
    t = rv.create_table('broken', {'prompt': rv.String})
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False, on_error='ignore')
    t.insert([{'prompt': 'a gate'}], print_stats=False, on_error='ignore')
    t.insert([{'prompt': 'a gate'}], print_stats=False, on_error='ignore')
    print(f'PAID undecodable answer, then the same prompt: {len(server.entries())} calls')
    assert len(server.entries()) == 2  # was 1: the second cell took the broken answer
    assert rv.calls(t).where(outcome='bad_answer').count() == 2
    assert t.credits_used() == server.charged() == 36
