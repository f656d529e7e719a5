"""Storage failures stop the run with cells pending; nothing paid for is lost or paid twice.

- a second connection holds the SQLite file with ``BEGIN EXCLUSIVE`` longer than the busy
  timeout while answers arrive;
- the media folder is a tmpfs that fills up mid-run (skipped only where mounting is refused);
- the media folder is read-only before the run.
Each test compares the ledger with the server's request log.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.exec import ledger_writes
from reverie.functions import reve
from reverie.store import db, media
from reverie.store.spill_log import notes_in
from tests.paid.conftest import ledger_credits


def _open(tmp_path: Path, media: Path) -> Catalog:
    return rv.init({'db_url': f'sqlite:///{tmp_path / "reverie.db"}', 'media_dir': str(media)})


def _table(n: int) -> rv.Table:
    t = rv.create_table('scenes', {'prompt': rv.String})
    t.insert([{'prompt': f'prompt {i}'} for i in range(n)], print_stats=False)
    return t


def test_a_lock_held_past_the_busy_timeout_loses_no_answer(
    tmp_path: Path, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue: BEGIN EXCLUSIVE past the busy timeout dropped a paid result; resume paid again."""
    monkeypatch.setattr(db, 'BUSY_TIMEOUT_MS', 300)  # the 60 s of production, scaled down
    monkeypatch.setattr(ledger_writes, 'JOURNAL_WRITE_SECONDS', 30.0)
    server = service(latency=1.0)
    monkeypatch.setenv('REVE_MAX_CONCURRENCY', '10')
    catalog = _open(tmp_path, tmp_path / 'media')
    t = _table(10)
    held = threading.Event()

    def hold_lock() -> None:
        con = sqlite3.connect(str(tmp_path / 'reverie.db'), timeout=30, isolation_level=None)
        deadline = time.monotonic() + 20
        # The calls are in flight once the ledger holds them (written before they leave); a
        # fixed sleep was not enough on a loaded machine.
        while con.execute('SELECT count(*) FROM rv_calls').fetchone()[0] < 8:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        con.execute('BEGIN EXCLUSIVE')
        held.set()
        time.sleep(2.0)  # well past the 0.3 s busy timeout, while the answers arrive
        con.execute('COMMIT')
        con.close()

    locker = threading.Thread(target=hold_lock)
    locker.start()
    start = time.perf_counter()
    try:
        status = t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    finally:
        locker.join()
    elapsed = time.perf_counter() - start
    assert elapsed > 2.0  # the answers waited for the lock (journal writes retried)
    assert held.is_set()
    assert status.num_excs == 0
    server.wait_for(10)
    assert set(server.calls_per_prompt().values()) == {1}
    assert all(r['img'] is not None for r in t.select(t.img).collect())
    t.recompute_columns()  # what `reverie resume` does: nothing left, nothing paid
    assert len(server.entries()) == 10
    assert ledger_credits(catalog) == server.charged() == 10 * 18
    catalog.close()
    print(f'PAID lock: 10 cells, 10 calls, 0 lost, run took {elapsed:.1f} s (lock 2 s)')


def test_a_lock_held_past_the_journal_window_stops_the_run_and_keeps_the_answers(
    tmp_path: Path, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database stays locked after the answers came: the run stops loudly, the answers
    wait beside the media files, and the next run finishes the cells without paying."""
    monkeypatch.setattr(db, 'BUSY_TIMEOUT_MS', 200)
    monkeypatch.setattr(ledger_writes, 'JOURNAL_WRITE_SECONDS', 0.5)
    server = service(latency=0.5)
    catalog = _open(tmp_path, tmp_path / 'media')
    t = _table(5)
    release = threading.Event()
    held = threading.Event()

    def hold_lock() -> None:
        while server.server._state.in_flight < 5:  # every request has left
            time.sleep(0.005)
        con = sqlite3.connect(str(tmp_path / 'reverie.db'), timeout=30, isolation_level=None)
        con.execute('BEGIN EXCLUSIVE')
        held.set()
        release.wait(30)
        con.execute('COMMIT')
        con.close()

    locker = threading.Thread(target=hold_lock)
    locker.start()
    try:
        with pytest.raises(rv.RunStoppedError, match='holds the database lock') as info:
            t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    finally:
        release.set()
        locker.join()
    assert held.is_set() and info.value.reason == 'storage'
    assert 'kept in' in str(info.value)
    server.wait_for(5)
    assert all(r['img'] is None for r in t.select(t.img).collect())  # pending, not lost
    spilled = notes_in(tmp_path / 'media' / media.SPILL_DIR)  # read from the files
    t.recompute_columns()  # `reverie resume`
    assert all(r['img'] is not None for r in t.select(t.img).collect())
    assert len(spilled) == 5
    print(f'PAID lock past the journal window: 5 cells, 5 calls, {len(spilled)} answers kept')
    assert set(server.calls_per_prompt().values()) == {1}  # nothing paid twice
    assert ledger_credits(catalog) == server.charged() == 5 * 18
    assert not notes_in(tmp_path / 'media' / media.SPILL_DIR)
    catalog.close()


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    done = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f'mounting a tmpfs was refused here: {done.stderr.strip()}')
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', str(path)], check=False)


def _remount(path: Path, options: str) -> None:
    subprocess.run(['mount', '-o', f'remount,{options}', str(path)], check=True)


def test_a_full_media_folder_stops_the_run_and_resume_pays_nothing_again(
    tmp_path: Path, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue: a 2 MiB tmpfs made 12 of 20 paid cells permanent OSError cells."""
    server = service(megapixels=0.25)  # ~90 KB per PNG: 1 MiB holds about 10
    monkeypatch.setenv('REVE_MAX_CONCURRENCY', '4')
    with _tmpfs(tmp_path / 'media', '1m') as media:
        catalog = _open(tmp_path, media)
        t = _table(20)
        with pytest.raises(rv.RunStoppedError, match='free space') as info:
            t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
        assert info.value.reason == 'storage'
        rows = t.select(t.img, t.img.errortype).collect()
        assert not any(r['img_errortype'] for r in rows)  # pending, not error cells
        pending = sum(r['img'] is None for r in rows)
        assert pending > 0
        _remount(media, 'size=64m')  # the user frees space
        t.recompute_columns()  # `reverie resume`
        rows = t.select(t.img).collect()
        assert all(r['img'] is not None for r in rows)
        assert set(server.calls_per_prompt().values()) == {1}  # nothing paid twice
        recovered = rv.calls(t).where(cache_hit=False, outcome='answered').count()
        assert recovered == 20
        assert ledger_credits(catalog) == server.charged() == 20 * 18
        catalog.close()
    print(f'PAID full tmpfs: 20 cells, {pending} pending after the stop, 20 calls, 0 re-paid')


def test_a_read_only_media_folder_stops_before_the_first_paid_call(
    tmp_path: Path, service, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = service()
    with _tmpfs(tmp_path / 'media', '16m') as media:
        catalog = _open(tmp_path, media)
        t = _table(5)
        _remount(media, 'ro')
        with pytest.raises(rv.RunStoppedError, match='cannot take new images') as info:
            t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
        assert info.value.reason == 'storage'
        assert server.entries() == []  # nothing was sent
        assert t.select(t.img.errortype).where(t.img.errortype != None).count() == 0  # noqa: E711
        _remount(media, 'rw')
        t.recompute_columns()
        assert all(r['img'] is not None for r in t.select(t.img).collect())
        assert set(server.calls_per_prompt().values()) == {1}
        assert ledger_credits(catalog) == server.charged() == 5 * 18
        catalog.close()
