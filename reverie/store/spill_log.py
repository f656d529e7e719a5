"""Spill notes in one append-only file per process: a line per note, not a file per note.

A paid answer is noted beside the media before the database journal has it and forgotten
once it does (``reverie.exec.answers``). A file per note cost a file creation, a rename and
an unlink per answer, and the event loop lost the GIL to the database threads at each of
those system calls (the seed workflow's inserts ran 50-60 ms slower for it). Here a note is
one ``write`` to a file this process holds open and locked; forgetting one is a second line,
and the file is emptied whenever nothing in it is pending.

A file whose lock can be taken belongs to a process that is gone: the next reader adopts its
pending notes (copies them into its own file, then removes it), so the notes a kill -9 leaves
are taken by the next run. Files appear under their ``.log`` name already locked; an empty
``.new`` file a kill -9 left before that rename is removed once it is old and unlocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: every other process's file looks alive
    fcntl = None  # type: ignore[assignment]

LOG_SUFFIX = '.log'
NEW_SUFFIX = '.new'  # a file being made: locked, then renamed to its ``.log`` name
STRAY_NEW_SECONDS = 60.0  # a ``.new`` file this old and unlocked was left by a kill -9
COMPACT_BYTES = 1 << 20  # a file this large is rewritten with only its pending notes


@dataclass
class _State:
    """What the finalizer needs: the open file and the notes still pending in it."""

    folder: Path
    pid: int = field(default_factory=os.getpid)
    fd: int | None = None
    path: Path | None = None
    size: int = 0
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)


class SpillLog:
    """This process's spill file in ``folder``, and the files other processes left there."""

    _registry: ClassVar[dict[tuple[str, int], SpillLog]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self._lock = threading.Lock()
        self._state = _State(folder)
        weakref.finalize(self, _close, self._state)

    @classmethod
    def of(cls, folder: Path) -> SpillLog:
        """The one log of ``folder`` in this process (a forked child gets its own)."""
        key = (str(folder), os.getpid())
        with cls._registry_lock:
            log = cls._registry.get(key)
            if log is None:
                log = cls._registry[key] = cls(folder)
            return log

    def add(self, key: str, entry: dict[str, Any]) -> str:
        """Note ``entry`` under ``key`` (one write); returns the file it is in."""
        with self._lock:
            return self._add(key, entry)

    def remove(self, key: str) -> bool:
        """Forget ``key``'s note; False when this process holds no such note."""
        with self._lock:
            state = self._state
            if state.pending.pop(key, None) is None or state.fd is None:
                return False
            if not state.pending:
                os.ftruncate(state.fd, 0)
                state.size = 0
            elif state.size > COMPACT_BYTES:
                self._compact()
            else:
                self._write(json.dumps({'gone': key}))
            return True

    def pending(self) -> dict[str, dict[str, Any]]:
        """Every pending note in ``folder``, by key: others' files, then this process's.

        A file whose owner is gone is adopted (its notes copied into this process's file,
        then the file removed); a live process's notes are listed and left where they are.
        """
        found: dict[str, dict[str, Any]] = {}
        folder = self._state.folder
        if folder.is_dir():
            for path in sorted(folder.glob(f'*{LOG_SUFFIX}')):
                if path != self._state.path:
                    found.update(self._read_other(path))
            for path in folder.glob(f'*{NEW_SUFFIX}'):
                _remove_stray(path)
        with self._lock:
            found.update(self._state.pending)
        return found

    # -- inside the lock ----------------------------------------------------------------
    def _add(self, key: str, entry: dict[str, Any]) -> str:
        self._write(_note_line(key, entry))
        self._state.pending[key] = entry
        assert self._state.path is not None
        return str(self._state.path)

    def _write(self, line: str) -> None:
        state = self._state
        if state.fd is None:
            state.fd, state.path = _create(state.folder)
        data = (line + '\n').encode()
        written = 0
        try:
            while written < len(data):
                written += os.write(state.fd, data[written:])
        except OSError:  # a full disk: no torn line for the next one to be glued to
            with contextlib.suppress(OSError):
                os.ftruncate(state.fd, state.size)
            raise
        state.size += len(data)

    def _compact(self) -> None:
        """Start a new file holding only the pending notes, then remove the old one."""
        state = self._state
        old_fd, old_path = state.fd, state.path
        state.fd, state.path = _create(state.folder)
        state.size = 0
        for key, entry in state.pending.items():
            self._write(_note_line(key, entry))
        if old_path is not None:
            old_path.unlink(missing_ok=True)
        if old_fd is not None:
            os.close(old_fd)

    def _read_other(self, path: Path) -> dict[str, dict[str, Any]]:
        """The pending notes of another process's file; adopted when that process is gone."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # adopted or emptied by its owner meanwhile
            return {}
        try:
            gone = fcntl is not None and _try_lock(fd)
            with open(fd, 'rb', closefd=False) as f:
                notes = _parse(f.read())
            if not gone:
                return notes
            with self._lock:
                for key, entry in notes.items():
                    self._add(key, entry)
            path.unlink(missing_ok=True)
            return {}
        finally:
            os.close(fd)


def notes_in(folder: Path) -> dict[str, dict[str, Any]]:
    """The pending notes written in ``folder``'s files, read from disk (nothing adopted)."""
    notes: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob(f'*{LOG_SUFFIX}')) if folder.is_dir() else []:
        with contextlib.suppress(FileNotFoundError):
            notes.update(_parse(path.read_bytes()))
    return notes


def _create(folder: Path) -> tuple[int, Path]:
    """A new file of this process, locked before it appears under its ``.log`` name."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f'{os.getpid()}-{uuid.uuid4().hex[:12]}'
    tmp = folder / f'{name}{NEW_SUFFIX}'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        path = folder / f'{name}{LOG_SUFFIX}'
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return fd, path


def _remove_stray(path: Path) -> None:
    """Remove a ``.new`` file a killed process left before renaming it (it holds no note).

    Only an old one whose lock is free: a live process locks its file right after making it,
    and may not have done so yet.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        old = time.time() - os.fstat(fd).st_mtime > STRAY_NEW_SECONDS
        if old and fcntl is not None and _try_lock(fd):
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """Whether the lock of ``fd``'s file was free (its owner is gone); kept until closed."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _note_line(key: str, entry: dict[str, Any]) -> str:
    return json.dumps({'key': key, 'entry': entry})


def _parse(data: bytes) -> dict[str, dict[str, Any]]:
    """The pending notes (key: entry) of a file's lines; a torn last line is skipped."""
    notes: dict[str, dict[str, Any]] = {}
    for raw in data.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict):
            continue
        if isinstance(line.get('gone'), str):
            notes.pop(line['gone'], None)
        elif isinstance(line.get('key'), str) and isinstance(line.get('entry'), dict):
            notes[line['key']] = line['entry']
    return notes


def _close(state: _State) -> None:
    """At exit: remove this process's file when nothing in it is pending, then close it."""
    if state.fd is None or state.pid != os.getpid():  # a forked child's copy: not its file
        return
    if not state.pending and state.path is not None:
        with contextlib.suppress(OSError):
            state.path.unlink()
    with contextlib.suppress(OSError):
        os.close(state.fd)
    state.fd = None
