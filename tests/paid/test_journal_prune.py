"""The answer journal is pruned once the cells take their answers (issue 19, row 6).

Issue: the journal kept every answer for ever (225 MB of a 300 MB answer stayed in it). An
entry whose bytes are a media file now goes in the transaction that writes its cell; the
ledger row keeps the file (``answer_ref``), so the cache and ``reverie gc`` still find it.
Counted from the SQLite file (journal rows) and the server's request log (paid calls). A
kill -9 between the answer and its cell is in ``tests/reliability/test_round2_kill.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.functions import reve
from tests.paid.conftest import ledger_credits

N = 12


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(str(db))
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def _table(name: str, n: int) -> rv.Table:
    t = rv.create_table(name, {'prompt': rv.String})
    t.insert([{'prompt': f'prompt {i}'} for i in range(n)], print_stats=False)
    return t


@pytest.mark.parametrize('raw', [False, True], ids=['json', 'raw'])
def test_a_run_leaves_no_journal_rows_and_the_cache_still_answers(
    sqlite_catalog: Catalog, service, tmp_path: Path, raw: bool
) -> None:
    server = service(raw_answers=raw)
    db = tmp_path / 'reverie.db'
    t = _table('scenes', N)
    status = t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert status.num_excs == 0
    server.wait_for(N)
    journal_rows = _count(db, 'SELECT count(*) FROM rv_journal')
    answered = _count(db, "SELECT count(*) FROM rv_calls WHERE outcome = 'answered'")
    print(f'PAID journal pruning: {N} cells, {answered} answered, {journal_rows} journal rows left')
    assert answered == N
    assert journal_rows == 0
    assert _count(db, 'SELECT count(*) FROM rv_calls WHERE answer_ref IS NULL') == 0

    # The cache reads the pruned answers from their media files: a second table, 0 calls.
    u = _table('again', N)
    u.add_computed_column(img=reve.create(u.prompt), print_stats=False)
    assert all(r['img'] is not None for r in u.select(u.img).collect())
    assert len(server.entries()) == N
    assert _count(db, 'SELECT count(*) FROM rv_journal') == 0
    # `reverie gc` keeps every answer the cache may serve.
    assert sqlite_catalog.exec.ledger is not None
    kept = sqlite_catalog.exec.ledger.report.journal_refs()
    assert len(kept) == N and all(sqlite_catalog.media.exists(r) for r in kept)
    assert ledger_credits(sqlite_catalog) == server.charged() == N * 18


def test_a_pruned_entry_s_id_is_never_given_again(
    sqlite_catalog: Catalog, service, tmp_path: Path
) -> None:
    """SQLite hands out the largest rowid again once its row is deleted: a new journal entry
    took a pruned entry's id, and the ledger rows still naming that id were then marked
    ``bad_answer`` with the new answer (seen: 3 bad answers for 1 in the UI's site)."""
    service()
    db = tmp_path / 'reverie.db'
    t = _table('good', 3)
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert _count(db, 'SELECT count(*) FROM rv_journal') == 0  # pruned
    service(answer_fault='truncated')
    b = _table('broken', 1)
    status = b.add_computed_column(img=reve.create(b.prompt), on_error='ignore', print_stats=False)
    assert status.num_excs == 1
    assert _count(db, "SELECT count(*) FROM rv_calls WHERE outcome = 'bad_answer'") == 1
    ids = _count(db, 'SELECT count(DISTINCT journal_id) FROM rv_calls')
    assert ids == _count(db, 'SELECT count(*) FROM rv_calls WHERE journal_id IS NOT NULL') == 4
