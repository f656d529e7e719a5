"""A lock held longer than the connection pool's checkout timeout (issue 19, row 1).

Issue: another connection held the SQLite file (``BEGIN EXCLUSIVE``) for 75 s during a
40-cell backfill; SQLAlchemy's pool checkout ``TimeoutError`` (30 s) was not a storage stop,
so 24 cells became error cells holding that raw text, 16 stayed pending, 0 answers were
journalled and ``reverie resume`` paid again. Here the same, scaled down: busy timeout 1 s,
pool timeout 0.5 s, the lock held 4 s while 40 answers arrive. Counted from the server's
request log and the database file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

import reverie as rv
from reverie.exec import ledger_writes
from reverie.functions import reve
from reverie.store import db
from reverie.store.media import SPILL_DIR
from reverie.store.spill_log import notes_in
from tests.reliability._util import child_env, run_cli, sqlite_cells

N = 40


def _hold(path: Path, server, seconds: float, held: threading.Event) -> None:
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    deadline = time.monotonic() + 30
    while server.server._state.in_flight < 8:  # the first answers are on their way
        assert time.monotonic() < deadline
        time.sleep(0.005)
    con.execute('BEGIN EXCLUSIVE')
    held.set()
    time.sleep(seconds)
    con.execute('COMMIT')
    con.close()


@pytest.mark.parametrize(
    ('lock_s', 'window_s'),
    [
        pytest.param(4.0, 60.0, id='lock-shorter-than-the-journal-window'),
        pytest.param(6.0, 2.0, id='lock-longer-than-the-journal-window'),
    ],
)
def test_a_lock_past_the_pool_timeout_loses_no_answer_and_resume_pays_nothing(
    tmp_path: Path, service, monkeypatch: pytest.MonkeyPatch, lock_s: float, window_s: float
) -> None:
    monkeypatch.setattr(db, 'BUSY_TIMEOUT_MS', 1000)  # 60 s in production
    monkeypatch.setattr(db, 'POOL_TIMEOUT_SECONDS', 0.5)  # 30 s in production
    monkeypatch.setattr(ledger_writes, 'JOURNAL_WRITE_SECONDS', window_s)
    monkeypatch.setenv('REVE_MAX_CONCURRENCY', str(N))
    server = service(latency=1.0)
    path, media = tmp_path / 'reverie.db', tmp_path / 'media'
    catalog = rv.init({'db_url': f'sqlite:///{path}', 'media_dir': str(media)})
    t = rv.create_table('scenes', {'prompt': rv.String})
    t.insert([{'prompt': f'prompt {i}'} for i in range(N)], print_stats=False)
    held = threading.Event()
    locker = threading.Thread(target=_hold, args=(path, server, lock_s, held))
    locker.start()
    stopped: rv.RunStoppedError | None = None
    try:
        t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    except rv.RunStoppedError as e:
        stopped = e
    finally:
        locker.join()
    catalog.close()
    assert held.is_set()
    while server.server._state.in_flight:  # every request sent has been answered
        time.sleep(0.01)
    sent = len(server.entries())
    cells = sqlite_cells(path, 'prompt', 'img')
    errors = [v for v, state, _ in cells.values() if state == 2]
    values = sum(1 for _, state, _ in cells.values() if state == 1)
    con = sqlite3.connect(str(path))
    journalled = con.execute(
        'SELECT count(*) FROM rv_calls WHERE journal_id IS NOT NULL'
    ).fetchone()[0]
    con.close()
    spilled = len(notes_in(media / SPILL_DIR))  # read from the files, not this process
    print(
        f'PAID lock {lock_s:.0f} s past the pool timeout (journal window {window_s:.0f} s): '
        f'{N} cells, {sent} calls, {values} values, {len(errors)} error cells, '
        f'{journalled} journalled, '
        f'{spilled} kept beside the media, stopped: {stopped is not None}'
    )
    assert not errors  # never an error cell for a storage problem
    if stopped is not None:
        assert stopped.reason == 'storage'
        message = str(stopped)
        assert 'reverie resume' in message and 'without paying' in message, message
        assert not any(w in message for w in ('sqlalchemy', 'sqlite3', 'QueuePool')), message
        print(f'PAID lock: stopped with {message!r}')
    # 0 answers lost: each is in the journal (values included) or kept beside the media.
    assert journalled + spilled == sent
    env = child_env(
        tmp_path / 'home',
        REVERIE_DB_URL=f'sqlite:///{path}',
        REVERIE_MEDIA_DIR=str(media),
        REVE_API_KEY='papi.paid-tests',
        REVE_API_URL=server.server.url,
    )
    res = run_cli(['resume', 'scenes'], env)
    assert res.returncode == 0, res.stderr
    cells = sqlite_cells(path, 'prompt', 'img')
    assert all(state == 1 for _, state, _ in cells.values())
    repaid = sum(n - 1 for n in server.calls_per_prompt().values())
    print(f'PAID lock: `reverie resume` sent {len(server.entries()) - sent}, re-paid {repaid}')
    assert repaid == 0 and len(server.entries()) == N
