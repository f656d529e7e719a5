"""A bounded local read cache of media kept elsewhere (an object store).

Files live under one folder as ``ab/<sha256>.<ext>``, the reference itself, so a cached
file is checked against its name when it is filled (``fill`` hashes what it writes) and a
process never serves bytes other than the ones the reference names. Least recently used
files go first once the folder holds more than ``max_bytes``: a read refreshes a file's
modification time, and eviction removes the oldest. Several processes may share one cache
folder: files are written to a temp name and renamed, and eviction tolerates files that
another process removed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_TMP_PREFIX = '.tmp-'


class ReadCache:
    """Local copies of references, at most ``max_bytes`` in all (least recently used go)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes held, counted on first fill

    def __repr__(self) -> str:
        return f'<ReadCache {str(self.folder)!r} max_bytes={self.max_bytes}>'

    def path(self, ref: str) -> Path:
        """Where ``ref`` is (or would be) cached; the caller checked ``ref``."""
        return self.folder / ref

    def get(self, ref: str) -> Path | None:
        """The cached file of ``ref`` (now the most recently used), or None."""
        path = self.folder / ref
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def fill(self, ref: str, download: Callable[[BinaryIO], None]) -> Path:
        """Cache ``ref`` by ``download(file)``; its bytes must hash to the reference's digest.

        Raises OSError when they do not (the object changed or was cut short): nothing
        stays in the cache then.
        """
        target = self.folder / ref
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, 'w+b') as f:
                download(f)
                f.seek(0)
                digest = hashlib.file_digest(f, 'sha256').hexdigest()
                size = f.tell()
            if digest != Path(ref).stem:
                raise OSError(f'media {ref!r} read back with other content (sha256 {digest})')
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._added(size, target)
        return target

    def _added(self, size: int, target: Path) -> None:
        with self._lock:
            if self._size is None:
                self._size = sum(size for _, size, _ in self._files())
            else:
                self._size += size
            if self._size > self.max_bytes:
                self._size = self._evict(keep=target)

    def _files(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every cached file."""
        found = []
        for sub in self.folder.iterdir() if self.folder.is_dir() else ():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f.name.startswith(_TMP_PREFIX):  # another process is filling it
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = f.stat()
                    found.append((st.st_mtime, st.st_size, f))
        return found

    def _evict(self, keep: Path) -> int:
        """Remove least recently used files until at most 90 % of the bound is held.

        ``keep`` (the file just filled, about to be read) stays, even past the bound.
        """
        files = sorted(self._files())
        held = sum(size for _, size, _ in files)
        goal = self.max_bytes * 0.9
        for _, size, f in files:
            if held <= goal:
                break
            if f == keep:
                continue
            f.unlink(missing_ok=True)
            held -= size
        return held
