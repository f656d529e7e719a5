"""Faults after the server charged: stalls, drips, resets, corrupt PNGs, absurd credits.

Each test compares the ledger with the server's request log (what was really charged):
paid calls per cell, answers lost (0), credits in the ledger == credits charged.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.functions import reve
from tests.paid.conftest import ledger_credits


def _table(name: str, n: int) -> rv.Table:
    t = rv.create_table(name, {'prompt': rv.String})
    t.insert([{'prompt': f'{name} prompt {i}'} for i in range(n)], print_stats=False)
    return t


def test_stall_past_the_timeout_is_paid_at_most_twice_and_counted(
    sqlite_catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue: latency 2.5 s, REVE_TIMEOUT=1 made 7 paid calls per cell and counted 0."""
    server = service(latency=2.5)
    monkeypatch.setenv('REVE_TIMEOUT', '1')
    t = _table('stall', 3)
    status = t.add_computed_column(img=reve_create(t), on_error='ignore', print_stats=False)
    entries = server.wait_for(6)
    assert status.num_excs == 3
    assert set(server.calls_per_prompt().values()) == {2}  # one try + one maybe_charged retry
    assert server.charged() == 6 * 18
    assert ledger_credits(sqlite_catalog) == server.charged() == t.credits_used()
    outcomes = rv.calls(t).group_by('outcome').collect()
    assert list(outcomes['outcome']) == ['maybe_charged'] and list(outcomes['calls']) == [6]
    msgs = t.select(t.img.errormsg).collect()['img_errormsg']
    assert all('may have been charged' in m for m in msgs), msgs
    assert len(entries) == 6
    print(f'PAID stall: 3 cells, {len(entries)} calls, {server.charged()} credits charged = ledger')


def reve_create(t: rv.Table) -> rv.Expr:
    return reve.create(t.prompt, aspect_ratio='1:1')


def test_a_dripped_answer_ends_at_the_total_deadline(
    sqlite_catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue: REVE_TIMEOUT=3 with a one-byte-at-a-time answer took 30.4 s (per-read timeout)."""
    server = service(answer_fault='drip', drip_interval=0.02)
    monkeypatch.setenv('REVE_TIMEOUT', '1')
    t = _table('drip', 2)
    start = time.perf_counter()
    t.add_computed_column(img=reve_create(t), on_error='ignore', print_stats=False)
    elapsed = time.perf_counter() - start
    server.wait_for(4)
    assert elapsed < 4.0, elapsed  # 2 attempts x 1 s total each, not minutes
    print(f'PAID drip: 2 cells, 4 calls, ended after {elapsed:.1f} s (REVE_TIMEOUT=1)')
    assert set(server.calls_per_prompt().values()) == {2}
    assert ledger_credits(sqlite_catalog) == server.charged() == 4 * 18


def test_a_reset_after_the_request_was_read_is_maybe_charged_not_retried_seven_times(
    sqlite_catalog: Catalog, service
) -> None:
    server = service(answer_fault='reset')
    t = _table('reset', 3)
    status = t.add_computed_column(img=reve_create(t), on_error='ignore', print_stats=False)
    server.wait_for(6)
    assert status.num_excs == 3
    assert set(server.calls_per_prompt().values()) == {2}
    assert ledger_credits(sqlite_catalog) == server.charged() == 6 * 18
    rows = rv.calls(t).select('outcome', 'attempt', 'credits').collect()
    assert set(rows['outcome']) == {'maybe_charged'} and set(rows['credits']) == {18.0}


@pytest.mark.parametrize('raw', [False, True], ids=['json', 'raw'])
@pytest.mark.parametrize('fault', ['truncated', 'broken_zlib', 'oversized_header'])
def test_a_corrupt_image_is_an_error_cell_and_its_bytes_stay_in_the_journal(
    sqlite_catalog: Catalog, service, fault: str, raw: bool
) -> None:
    """Issue: corrupt PNGs were stored as values; then every select of the column failed."""
    server = service(answer_fault=fault, raw_answers=raw)
    t = _table('corrupt', 2)
    status = t.add_computed_column(img=reve_create(t), on_error='ignore', print_stats=False)
    server.wait_for(2)
    assert status.num_excs == 2
    assert set(server.calls_per_prompt().values()) == {1}  # not charged twice
    rows = t.select(t.img, t.img.errormsg).collect()  # the query works
    assert all(r['img'] is None for r in rows)
    assert all('the service returned a corrupt image' in r['img_errormsg'] for r in rows)
    ledger = sqlite_catalog.exec.ledger
    assert ledger is not None
    calls = rv.calls(t).collect()
    assert set(calls['outcome']) == {'bad_answer'}  # charged, never served again
    for journal_id in calls['journal_id']:
        entry = ledger.journal(journal_id)  # None: pruned, the bytes are a media file
        with sqlite_catalog.store.read() as conn:
            ref = conn.execute(
                sa.text('SELECT answer_ref FROM rv_calls WHERE journal_id = :j'), {'j': journal_id}
            ).scalar()
        kept = (entry.data if entry else None) or sqlite_catalog.media.path(ref).read_bytes()
        assert kept.startswith(b'\x89PNG')  # the bytes as received, kept for inspection
    assert ledger_credits(sqlite_catalog) == server.charged() == 2 * 18


@pytest.mark.parametrize('reported', ['1e400', '-3', '"x"'])
def test_an_absurd_credits_figure_keeps_the_image_and_the_books_right(
    sqlite_catalog: Catalog, service, reported: str
) -> None:
    """Issue: credits_used 1e400 threw away a valid paid image (OverflowError)."""
    server = service(reported_credits=reported)
    t = _table('absurd', 2)
    status = t.add_computed_column(img=reve_create(t), print_stats=False)
    server.wait_for(2)
    assert status.num_excs == 0
    rows = t.select(t.img, t.img.cellmeta).collect()
    assert all(r['img'] is not None for r in rows)
    assert set(server.calls_per_prompt().values()) == {1}
    assert ledger_credits(sqlite_catalog) == server.charged() == 2 * 18
    notes = rv.calls(t).collect()['error']
    assert all('price table' in n for n in notes), notes


def test_the_retry_of_a_maybe_charged_call_is_a_setting(
    sqlite_catalog: Catalog, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = service(answer_fault='reset')
    monkeypatch.setenv('REVERIE_MAYBE_CHARGED_RETRIES', '0')
    t = _table('noretry', 2)
    t.add_computed_column(img=reve_create(t), on_error='ignore', print_stats=False)
    server.wait_for(2)
    assert set(server.calls_per_prompt().values()) == {1}
    assert ledger_credits(sqlite_catalog) == server.charged() == 2 * 18
