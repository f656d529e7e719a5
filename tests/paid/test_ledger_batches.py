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
