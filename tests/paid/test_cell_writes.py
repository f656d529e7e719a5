"""The cells of journalled answers are written in batches, and soon (issue 20).

Each paid answer's cell was committed at once ("forced"), in a transaction of its own when
answers came apart: under load, forty answers took a dozen cell transactions, which held
the SQLite lock and the interpreter while the calls reading those cells waited to record
theirs. An answer is in the journal before its cell is written, so a crash between the
two loses nothing (``tests/reliability/test_crash_resume.py`` kills there): the cells of
journalled answers now go with the next batch, written within ``FLUSH_SECONDS`` even when
nothing else follows. Counted with SQLAlchemy's events on the store's engine, and read
back from the SQLite file by a second connection while the run goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.exec.writer import FLUSH_SECONDS
from reverie.functions import reve

CELLS = 20


def test_answers_arriving_together_share_their_cell_writes(catalog: Catalog, service) -> None:
    """Cell writes come at most every ``FLUSH_SECONDS``, the run's final one aside.

    Before, each answer that found the writer idle was written at once: 13 writes for 20
    answers here, some milliseconds apart.
    """
    server = service(latency=0.5)
    t = rv.create_table('shared_writes', {'prompt': rv.String})
    t.insert([{'prompt': f'a harbour {i}'} for i in range(CELLS)], print_stats=False)
    assert catalog.exec.ledger is not None
    engine = catalog.exec.ledger.store.engine
    writes: list[float] = []  # when each transaction writing cell values ran its update

    def on_statement(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        cells = re.match(r'UPDATE\s+\S+\s+SET\s+c\d+\b', statement.lstrip())
        if cells and not conn.info.get('counted'):
            conn.info['counted'] = True
            writes.append(time.monotonic())

    def on_begin(conn: Any) -> None:
        conn.info['counted'] = False

    sa.event.listen(engine, 'begin', on_begin)
    sa.event.listen(engine, 'before_cursor_execute', on_statement)
    try:
        status = t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    finally:
        sa.event.remove(engine, 'before_cursor_execute', on_statement)
        sa.event.remove(engine, 'begin', on_begin)
    assert status.paid is not None and status.paid.paid_calls == CELLS
    assert len(server.entries()) == CELLS
    assert t.where(t.img != None).count() == CELLS  # noqa: E711
    gaps = [b - a for a, b in itertools.pairwise(writes[:-1])]  # the final flush aside
    assert len(writes) >= 2 and all(g >= 0.9 * FLUSH_SECONDS for g in gaps), (len(writes), gaps)


def _values(db: Path, column: str) -> int:
    """Cells of ``column`` holding a value, read from the SQLite file (what is committed)."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        (col_id, table_id) = con.execute(
            'SELECT id, table_id FROM rv_columns WHERE name = ?', (column,)
        ).fetchone()
        (n,) = con.execute(f'SELECT count(*) FROM rvt_{table_id} WHERE c{col_id}_s = 1').fetchone()
        return int(n)
    finally:
        con.close()


def test_a_journalled_answer_s_cell_is_committed_while_the_run_goes_on(
    sqlite_catalog: Catalog, service
) -> None:
    """The first column's cells are in the file before the second column's answers come.

    Nothing else flushes between the two waves of answers (1 s apart): the timed write does.
    """
    service(latency=1.0)
    t = rv.create_table('timed_writes', {'prompt': rv.String})
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    t.add_computed_column(again=reve.edit(t.img, 'make it night'), print_stats=False)
    assert sqlite_catalog.exec.ledger is not None
    db = Path(sqlite_catalog.exec.ledger.store.engine.url.database or '')
    seen: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(sqlite3.OperationalError):
                seen.append((time.monotonic(), _values(db, 'img'), _values(db, 'again')))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        t.insert([{'prompt': f'a street {i}'} for i in range(5)], print_stats=False)
    finally:
        stop.set()
        watcher.join()
    # The last write may come after the watcher's last look: one more, now (a later time
    # than that write's, so the gap below can only look longer, and whether the first
    # column was whole before it is still read from the samples).
    seen.append((time.monotonic(), _values(db, 'img'), _values(db, 'again')))
    assert t.where(t.again != None).count() == 5  # noqa: E711
    first_whole = next(at for at, img, again in seen if img == 5)
    # All five first cells were committed, and the second wave's answers (a second later)
    # had not come: none of its cells was written yet, and 0.5 s passed before one was.
    assert all(again == 0 for at, _, again in seen if at <= first_whole)
    first_again = next(at for at, _, again in seen if again > 0)
    assert first_again - first_whole > 2 * FLUSH_SECONDS, first_again - first_whole
