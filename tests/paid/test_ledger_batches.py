"""Calls that start together share their ledger transactions (issue 20).

Each paid call looked up its earlier answer and the cache, claimed its fingerprint, looked
again, recorded its attempt, journalled its answer and released its claim, most of them
in a transaction of its own: under SQLite twenty calls queued one by one behind the write
lock before their requests left. The look-ups and claims of calls starting together now
share one transaction, as do the journal writes (with the claims' release) of answers
arriving together. Counted with SQLAlchemy's ``begin`` events on the store's engine.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.functions import reve

CELLS = 20


LEDGER = ('rv_calls', 'rv_flights', 'rv_journal')


def test_twenty_calls_starting_together_share_their_ledger_transactions(
    catalog: Catalog, service
) -> None:
    server = service(latency=1.0)
    t = rv.create_table('batched', {'prompt': rv.String})
    t.insert([{'prompt': f'a lighthouse {i}'} for i in range(CELLS)], print_stats=False)
    assert catalog.exec.ledger is not None
    engine = catalog.exec.ledger.store.engine
    tables: list[set[str]] = []  # per transaction: the ledger tables its statements name

    def on_begin(conn: Any) -> None:
        conn.info['tables'] = touched = set()
        tables.append(touched)

    def on_statement(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        conn.info.get('tables', set()).update(n for n in LEDGER if n in statement)

    events = [('begin', on_begin), ('before_cursor_execute', on_statement)]
    for name, fn in events:
        sa.event.listen(engine, name, fn)
    try:
        status = t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    finally:
        for name, fn in events:
            sa.event.remove(engine, name, fn)
    assert status.paid is not None and status.paid.paid_calls == CELLS
    assert len(server.entries()) == CELLS
    assert t.where(t.img != None).count() == CELLS  # noqa: E711
    ledger = [n for n in tables if n]
    # The claims and their release apart from the journal: before, 3 per call (the claim's
    # read and write, the release), 60 in all; now the look-ups of calls starting together.
    claims = [n for n in ledger if 'rv_flights' in n and 'rv_journal' not in n]
    assert len(claims) <= 4, len(claims)
    # Every ledger transaction (the cells' writes mark answers delivered): before, about 7
    # per call (2 look-ups, the claim's 2, the attempt, the journal, the release); now under
    # 3 (on PostgreSQL the pool's shared slots let attempts start apart, so fewer share).
    assert len(ledger) <= 3 * CELLS, len(ledger)


def test_answers_journalled_together_take_a_fixed_number_of_statements(catalog: Catalog) -> None:
    """A batch of 20 answers is journalled in as many statements as a batch of 2.

    Each answer took about 7 statements (its claim's release, the look for an earlier entry,
    the journal's id counter, the entry, the attempt's completion); a batch now takes them
    once. An answer journalled already keeps its entry, in a batch or on its own.
    """
    from reverie.store.ledger import Journalled
    from reverie.store.ledger_tables import CallSite, calls_table, journal_table

    ledger = catalog.exec.ledger
    assert ledger is not None
    engine = ledger.store.engine
    site = CallSite(1, 1, 1)

    def answers(n: int, first: int) -> list[Journalled]:
        fields = {'function': 'f', 'endpoint': 'e', 'attempt': 1, 'credits': 1.0}
        ids = ledger.start_many(
            [(site, {**fields, 'fingerprint': f'fp{first + i}'}) for i in range(n)]
        )
        return [
            Journalled(
                call_id,
                {
                    'sha256': f'{call_id:064x}',
                    'size': 3,
                    'media_ref': None,
                    'data': b'abc',
                    'credits': 2.0,
                    'request_id': f'req-{call_id}',
                },
            )
            for call_id in ids
        ]

    def statements(batch: list[Journalled]) -> tuple[list[int], int]:
        seen: list[str] = []

        def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        sa.event.listen(engine, 'before_cursor_execute', on_statement)
        try:
            ids = ledger.answered_many(batch)
        finally:
            sa.event.remove(engine, 'before_cursor_execute', on_statement)
        return ids, len(seen)

    small, large = answers(2, 0), answers(20, 2)
    small_ids, small_count = statements(small)
    large_ids, large_count = statements(large)
    # (the first batch also starts the journal's id counter)
    assert large_count <= small_count <= 8, (small_count, large_count)
    assert len(set(small_ids + large_ids)) == 22
    with ledger.store.read() as conn:
        c = calls_table.c
        rows = conn.execute(sa.select(c.id, c.outcome, c.journal_id, c.credits, c.request_id)).all()
        entries = conn.execute(sa.select(sa.func.count()).select_from(journal_table)).scalar()
    by_id = {r.id: r for r in rows}
    for answer, journal_id in zip(small + large, small_ids + large_ids, strict=True):
        row = by_id[answer.call_id]
        assert (row.outcome, row.journal_id, row.credits) == ('answered', journal_id, 2.0)
        assert row.request_id == f'req-{answer.call_id}'
    assert entries == 22
    # Again, with one answer twice: the entries stay, no new one is written.
    again = [large[3], *small, large[3]]
    assert ledger.answered_many(again) == [large_ids[3], *small_ids, large_ids[3]]
    with ledger.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(journal_table)).scalar() == 22


def test_two_processes_journalling_one_answer_leave_one_entry(catalog: Catalog) -> None:
    """The answer's owner and a process taking it from its note journal it at the same time.

    The first holds its transaction open after writing the entry (0.5 s); the second must
    wait for it and find that entry, not write a second one for the same attempt.
    """
    import threading
    import time

    from reverie.store.ledger import Journalled
    from reverie.store.ledger_tables import CallSite, journal_table

    ledger = catalog.exec.ledger
    assert ledger is not None
    fields = {'function': 'f', 'endpoint': 'e', 'attempt': 1, 'credits': 1.0, 'fingerprint': 'x'}
    (call_id,) = ledger.start_many([(CallSite(1, 1, 1), fields)])
    answer = Journalled(
        call_id, {'sha256': 'a' * 64, 'size': 3, 'media_ref': None, 'data': b'abc', 'credits': 1.0}
    )
    engine = ledger.store.engine
    first = threading.current_thread()
    entry_written = threading.Event()

    def hold_after_entry(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if 'INSERT INTO rv_journal' in statement and threading.current_thread() is not first:
            entry_written.set()
            time.sleep(0.5)

    results: list[int] = []
    sa.event.listen(engine, 'after_cursor_execute', hold_after_entry)
    try:
        owner = threading.Thread(target=lambda: results.extend(ledger.answered_many([answer])))
        owner.start()
        assert entry_written.wait(10)
        taker = ledger.answered_many([answer])  # while the owner's transaction is open
        owner.join(10)
    finally:
        sa.event.remove(engine, 'after_cursor_execute', hold_after_entry)
    assert taker == results
    with ledger.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(journal_table)).scalar() == 1
