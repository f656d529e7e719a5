"""The spill log: a paid answer's note is one line in this process's file until journalled.

Other processes are real ones (``subprocess``): one killed with SIGKILL leaves its file, and
the next reader adopts its notes; a live one's notes are read and left where they are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reverie.store import spill_log
from reverie.store.media import SPILL_DIR, LocalMediaStore
from reverie.store.spill_log import SpillLog, notes_in

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from reverie.store.media import LocalMediaStore
    store = LocalMediaStore(Path(sys.argv[1]))
    for key in sys.argv[2].split(','):
        store.spill(key, {'call_id': int(key), 'media_ref': f'ab/{key}.png'})
    for key in sys.argv[3].split(',') if sys.argv[3] else []:
        store.unspill(key)
    print('noted', flush=True)
    time.sleep(float(sys.argv[4]))
    """
)


def _writer(root: Path, keys: str, forget: str, linger: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, '-c', WRITER, str(root), keys, forget, str(linger)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    with proc.stdout:
        assert proc.stdout.readline().strip() == 'noted'
    return proc


def _files(root: Path) -> list[Path]:
    return sorted((root / SPILL_DIR).glob('*.log'))


def test_notes_are_lines_of_one_file_emptied_when_nothing_is_pending(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / 'm')
    where = store.spill('1', {'call_id': 1})
    store.spill('2', {'call_id': 2})
    (path,) = _files(store.root)
    assert where == str(path)
    assert notes_in(path.parent) == {'1': {'call_id': 1}, '2': {'call_id': 2}}
    store.unspill('1')
    assert notes_in(path.parent) == {'2': {'call_id': 2}}  # read from disk: a 'gone' line
    store.unspill('2')
    assert path.stat().st_size == 0 and list(store.spilled()) == []
    store.spill('3', {'call_id': 3})
    assert _files(store.root) == [path] and list(store.spilled()) == [('3', {'call_id': 3})]
    store.unspill('3')


def test_a_killed_process_notes_are_adopted_by_the_next_reader(tmp_path: Path) -> None:
    root = tmp_path / 'm'
    proc = _writer(root, '11,12,13', '12', 60)
    (theirs,) = _files(root)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = LocalMediaStore(root)
    assert [k for k, _ in store.spilled()] == ['11', '13']
    assert not theirs.exists()  # adopted: the notes are in this process's file now
    (mine,) = _files(root)
    assert set(notes_in(mine.parent)) == {'11', '13'}
    store.unspill('11')
    store.unspill('13')
    assert notes_in(mine.parent) == {} and list(store.spilled()) == []


def test_a_live_process_notes_are_read_and_left_in_its_file(tmp_path: Path) -> None:
    root = tmp_path / 'm'
    proc = _writer(root, '21,22', '', 60)
    try:
        (theirs,) = _files(root)
        store = LocalMediaStore(root)
        assert [k for k, _ in store.spilled()] == ['21', '22']
        store.unspill('21')  # taken by this process: its owner keeps its own note
        assert theirs.exists() and set(notes_in(root / SPILL_DIR)) == {'21', '22'}
    finally:
        proc.kill()
        proc.wait()


def test_a_process_with_nothing_pending_leaves_no_file(tmp_path: Path) -> None:
    root = tmp_path / 'm'
    proc = _writer(root, '31', '31', 0)
    assert proc.wait() == 0
    assert _files(root) == []


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / 'm' / SPILL_DIR
    folder.mkdir(parents=True)
    whole = json.dumps({'key': '41', 'entry': {'call_id': 41}})
    (folder / 'gone-process.log').write_text(whole + '\n{"key": "42", "entr')
    store = LocalMediaStore(tmp_path / 'm')
    assert list(store.spilled()) == [('41', {'call_id': 41})]
    store.unspill('41')


def test_a_large_file_is_rewritten_with_its_pending_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spill_log, 'COMPACT_BYTES', 2000)
    log = SpillLog(tmp_path / 'spill')
    log.add('keep', {'call_id': 0})
    for i in range(1, 60):
        log.add(str(i), {'call_id': i, 'pad': 'x' * 40})
        log.remove(str(i))
    (path,) = sorted((tmp_path / 'spill').glob('*.log'))
    assert path.stat().st_size < 2000 + 200
    assert notes_in(tmp_path / 'spill') == {'keep': {'call_id': 0}}


def test_notes_written_by_older_versions_are_still_taken(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / 'm')
    old = store.root / SPILL_DIR / '51.json'
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text(json.dumps({'call_id': 51}))
    assert list(store.spilled()) == [('51', {'call_id': 51})]
    store.unspill('51')
    assert not old.exists() and list(store.spilled()) == []


def test_a_file_a_kill_left_before_its_rename_is_removed_once_old(tmp_path: Path) -> None:
    """A kill -9 between making a file and renaming it leaves an empty ``.new`` file.

    The next reader removes it once it is old and unlocked; a fresh one may belong to a
    process that has not locked it yet, and a locked one to a live process: both stay.
    """
    folder = tmp_path / 'm' / SPILL_DIR
    folder.mkdir(parents=True)
    stray, fresh, held = (folder / f'{n}{spill_log.NEW_SUFFIX}' for n in ('1-a', '2-b', '3-c'))
    for path in (stray, fresh, held):
        path.touch()
    old = os.stat(stray).st_mtime - 2 * spill_log.STRAY_NEW_SECONDS
    os.utime(stray, (old, old))
    os.utime(held, (old, old))
    holder = subprocess.Popen(
        [
            sys.executable,
            '-c',
            'import fcntl, os, sys, time\n'
            'fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX)\n'
            'print("held", flush=True); time.sleep(60)',
            str(held),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        with holder.stdout:
            assert holder.stdout.readline().strip() == 'held'
        store = LocalMediaStore(tmp_path / 'm')
        assert list(store.spilled()) == []
        assert not stray.exists()
        assert fresh.exists() and held.exists()
    finally:
        holder.kill()
        holder.wait()
