"""SQLite writers of one process queue on a lock, not on SQLite's busy sleeps (issue 20)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from reverie.store.db import Store

HOLD_S = 0.06  # the first writer's transaction; SQLite's busy schedule would wake the
# second at 1, 3, 8, 18, 33, 53, 78 ms after it asked: 20 ms or more after this ended


def _lag(store: Store) -> float:
    """Seconds between one thread's commit and the start of another's waiting write."""
    ended: list[float] = []
    began: list[float] = []
    holding = threading.Event()

    def first() -> None:
        with store.begin() as conn:
            conn.execute(sa.text('SELECT 1'))
            holding.set()
            time.sleep(HOLD_S)
        ended.append(time.perf_counter())

    def second() -> None:
        holding.wait(5)
        time.sleep(0.005)
        with store.begin() as conn:
            began.append(time.perf_counter())
            conn.execute(sa.text('SELECT 1'))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return began[0] - ended[0]


def test_a_write_starts_as_soon_as_the_one_before_it_commits(tmp_path: Path) -> None:
    store = Store(f'sqlite:///{tmp_path / "r.db"}')
    try:
        lags = [_lag(store) for _ in range(3)]
    finally:
        store.engine.dispose()
    # The commit is timed after ``begin`` exits, so a woken writer may even be "early".
    assert min(lags) < 0.008, [f'{lag * 1000:.1f} ms' for lag in lags]
