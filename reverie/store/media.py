"""The media store: image files addressed by content, behind one interface.

A reference is ``ab/<sha256>.<ext>`` (the first two hex digits, the digest, the format's
extension); it is what a cell holds and what every store accepts, so the databases of
earlier versions keep working whatever store holds the files. Layers above ``store/`` know
references and this interface only, never where or how a store keeps the bytes:

- write: ``put(data, ext)``, ``put_file(path, ext)`` (streamed), ``put_image(img)``;
- read: ``open(ref)`` (a lazy PIL image), ``file(ref)`` (the reference with its store,
  nothing read: what ``fileurl`` and ``localpath`` need), ``read_bytes(ref)``,
  ``local_path(ref)`` (a file to read, possibly a cached copy), ``cached_path(ref)`` (where
  that file is or will be, fetching nothing), ``url(ref)``, ``presigned_url(ref, expires=)``,
  ``exists(ref)``;
- keep tidy: ``refs()``, ``remove(refs, unused_since=)``, ``gc(referenced)``;
- the paid-call layer: ``check_writable()`` (once per process per store) and the *spill*,
  where answers the database would not take wait for the next run (``spill``,
  ``spilled``, ``unspill``).

``LocalMediaStore`` keeps files under one folder; ``S3MediaStore`` (``store/s3.py``) keeps
them in an S3-compatible bucket, read through a bounded local cache (``store/cache.py``).
Both implement the same few primitives (``_write``, ``_stat``, ``_listing``, ``_delete``, ...)
and inherit the rest; ``store/locations.py`` opens the one a location names.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import PIL.Image

from reverie.errors import InvalidValueError
from reverie.store.spill_log import SpillLog

_REF = re.compile(r'\A[0-9a-f]{2}/[0-9a-f]{64}\.(png|jpg|webp|gif|tiff|bmp|avif)\Z')
_EXT_BY_FORMAT = {
    'PNG': 'png',
    'JPEG': 'jpg',
    'WEBP': 'webp',
    'GIF': 'gif',
    'TIFF': 'tiff',
    'BMP': 'bmp',
    'AVIF': 'avif',
}
_TMP_PREFIX = '.tmp-'
URL_ATTR = 'reverie_url'  # an opened image's store URL (what ``fileurl`` shows)
SPILL_DIR = '.journal-pending'  # answers the database would not take, until the next run
_CHUNK = 1 << 20


def extension_for(fmt: str | None) -> str | None:
    """File extension the store uses for a Pillow format name, or None if unsupported."""
    return _EXT_BY_FORMAT.get((fmt or '').upper())


def reference(digest: str, ext: str) -> str:
    """The reference of content whose SHA-256 is ``digest``."""
    return f'{digest[:2]}/{digest}.{ext}'


def check_ref(ref: str) -> str:
    """``ref`` if it is a reference a store makes; refuses anything else (``../x``, ``/etc``)."""
    if not isinstance(ref, str) or not _REF.match(ref):
        raise InvalidValueError(
            f'Media reference {ref!r} is not a reference this store made; '
            'it must look like "ab/<sha256>.png".'
        )
    return ref


@dataclass(frozen=True)
class Stored:
    """One stored object as a listing sees it.

    Attributes:
        ref: its reference, or its own name when ``partial``.
        modified: when it was written or last reused (a time.time()).
        partial: an unfinished write (a temp file), removed by ``gc`` once old.
    """

    ref: str
    modified: float
    size: int
    partial: bool = False


@dataclass(frozen=True)
class Collected:
    """What ``gc`` did: files removed, bytes freed, unreferenced files kept (too young)."""

    removed: int
    freed: int
    young: int


@dataclass(frozen=True)
class StoredFile:
    """A stored image known by its reference only: no byte of it is read until asked.

    A query gives it to ``t.img.fileurl`` and ``t.img.localpath`` instead of an opened
    image, so those download nothing from an object store (``localpath`` of a bucket's
    image is its copy in the read cache, filled when asked).
    """

    ref: str
    store: MediaStore

    @property
    def url(self) -> str:
        """The store's URL of the file (``file://`` of a folder, ``s3://`` of a bucket)."""
        return self.store.url(self.ref)

    def local_path(self) -> Path:
        """A local file with its bytes (a bucket's: fetched into the read cache)."""
        return self.store.local_path(self.ref)

    def open(self) -> PIL.Image.Image:
        """The image itself (for what needs pixels or a header)."""
        return self.store.open(self.ref)


_checked: set[str] = set()  # stores found writable in this process (``check_writable``)
_checked_lock = threading.Lock()


class MediaStore(abc.ABC):
    """Media addressed by content; see the module docstring for the interface.

    Attributes:
        allow_private_urls: images may be fetched from loopback/private/link-local hosts.
    """

    allow_private_urls: bool = False

    # -- what an implementation provides --------------------------------------------------
    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the media live, for messages and ``check_writable`` (no secrets in it)."""

    @abc.abstractmethod
    def _write(self, ref: str, source: BinaryIO) -> None:
        """Store the bytes of ``source`` under ``ref`` (all or nothing)."""

    @abc.abstractmethod
    def _touch(self, ref: str) -> bool:
        """Mark an existing ``ref`` as just reused; False when it is not there."""

    @abc.abstractmethod
    def _stat(self, ref: str) -> Stored | None:
        """``ref`` as stored, or None."""

    @abc.abstractmethod
    def _listing(self) -> Iterator[Stored]:
        """Every stored object, finished or partial."""

    @abc.abstractmethod
    def _delete(self, stored: Stored) -> None:
        """Remove one object (gone already is fine)."""

    @abc.abstractmethod
    def local_path(self, ref: str) -> Path:
        """A local file holding ``ref``'s bytes, to read (may be a cached copy)."""

    @abc.abstractmethod
    def url(self, ref: str) -> str:
        """A URL of ``ref`` (``file://`` for a folder, ``s3://`` for a bucket)."""

    def presigned_url(self, ref: str, *, expires: int = 3600) -> str:
        """A link a browser opens: an https link valid ``expires`` seconds for a bucket.

        A folder has no server: its ``file://`` URL.
        """
        return self.url(ref)

    def cached_path(self, ref: str) -> Path | None:
        """Where ``local_path(ref)`` puts the file, fetching nothing; None when already local."""
        return None

    @abc.abstractmethod
    def _probe(self) -> None:
        """Write and remove a small object; raises OSError when the store cannot take one."""

    @abc.abstractmethod
    def spill(self, key: str, entry: dict[str, Any]) -> str:
        """Keep ``entry`` (JSON) under ``key`` until ``unspill``; returns where (for messages)."""

    @abc.abstractmethod
    def spilled(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every spilled ``(key, entry)``, in key order."""

    @abc.abstractmethod
    def unspill(self, key: str) -> None:
        """Forget a spilled entry."""

    # -- the interface, built on those ----------------------------------------------------
    def put(self, data: bytes, ext: str, *, digest: str | None = None) -> str:
        """Store ``data`` (already validated file bytes) and return its reference.

        ``digest``: the sha256 hex digest of ``data`` when the caller has it (not recomputed).
        """
        ref = reference(digest or hashlib.sha256(data).hexdigest(), ext)
        if not self._touch(ref):  # reused: fresh again, so gc and revert keep it
            self._write(ref, io.BytesIO(data))
        return ref

    def put_file(self, path: Path, ext: str) -> str:
        """Store the file at ``path`` without holding it in memory; returns its reference."""
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
            ref = reference(digest.hexdigest(), ext)
            if not self._touch(ref):
                f.seek(0)
                self._write(ref, f)
        return ref

    def put_image(self, img: PIL.Image.Image) -> str:
        """Store a PIL image: its original file bytes when known, else lossless PNG."""
        data = source_bytes(img)
        fmt = getattr(img, 'format', None)
        ext = extension_for(fmt)
        if data is None or ext is None:
            buf = io.BytesIO()
            img.save(buf, format='PNG', compress_level=1)
            data, ext = buf.getvalue(), 'png'
        return self.put(data, ext)

    def open(self, ref: str) -> PIL.Image.Image:
        """Open a stored image lazily (pixels are read on first use).

        The image carries its store URL (``t.img.fileurl``) as ``reverie_url``.
        """
        img = PIL.Image.open(self.local_path(ref))
        setattr(img, URL_ATTR, self.url(ref))
        return img

    def file(self, ref: str) -> StoredFile:
        """``ref`` with this store, nothing read (``StoredFile``)."""
        return StoredFile(check_ref(ref), self)

    def read_bytes(self, ref: str) -> bytes:
        """The stored bytes of ``ref``."""
        return self.local_path(ref).read_bytes()

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` is stored."""
        return self._stat(check_ref(ref)) is not None

    def path(self, ref: str) -> Path:
        """``local_path(ref)``, by its older name."""
        return self.local_path(ref)

    def refs(self) -> Iterable[str]:
        """Every reference currently stored."""
        return (s.ref for s in self._listing() if not s.partial)

    def remove(self, refs: Iterable[str], *, unused_since: float) -> tuple[int, int]:
        """Delete ``refs`` (which nothing refers to any more): (files, bytes).

        One written or reused after ``unused_since`` (a time.time()) is kept: a running
        insert may be about to refer to it.
        """
        removed = freed = 0
        for ref in refs:
            if not _REF.match(ref):
                continue
            stored = self._stat(ref)
            if stored is None or stored.modified > unused_since:
                continue
            self._delete(stored)
            removed += 1
            freed += stored.size
        return removed, freed

    def gc(self, referenced: set[str], *, grace_seconds: float = 3600.0) -> Collected:
        """Delete what no reference points to, and stale partial writes.

        Anything younger than ``grace_seconds`` is kept: a running insert may have written
        it and not yet committed the row that refers to it.
        """
        cutoff = time.time() - grace_seconds
        removed = freed = young = 0
        for stored in self._listing():
            if not stored.partial and stored.ref in referenced:
                continue
            if stored.modified >= cutoff:
                young += not stored.partial
                continue
            self._delete(stored)
            removed += 1
            freed += stored.size
        return Collected(removed, freed, young)

    def check_writable(self) -> None:
        """Raise OSError unless the store can take a new file; probed once per process."""
        if self.location in _checked:
            return
        with _checked_lock:
            if self.location not in _checked:
                self._probe()
                _checked.add(self.location)


class LocalMediaStore(MediaStore):
    """Files under ``root``: ``root/ab/<sha256>.png``.

    A file is written to a temporary name beside its place and renamed into it before any
    database row refers to it, so a crashed or killed process leaves at worst an orphan
    (removed by ``gc``), never a reference to a missing file. Files are not fsynced one by
    one: like the database (SQLite WAL with ``synchronous=NORMAL``) they survive a process
    crash, not a power cut.
    """

    def __init__(self, root: Path, *, allow_private_urls: bool = False) -> None:
        self.root = Path(root).resolve()
        self.allow_private_urls = allow_private_urls
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f'<LocalMediaStore {str(self.root)!r}>'

    @property
    def location(self) -> str:
        return str(self.root)

    def local_path(self, ref: str) -> Path:
        """The file of a stored reference; refuses references outside the store."""
        return self.root / check_ref(ref)

    def url(self, ref: str) -> str:
        return self.local_path(ref).as_uri()

    def _write(self, ref: str, source: BinaryIO) -> None:
        target = self.root / ref
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        except FileNotFoundError:  # the first file of its folder (a system call saved per put)
            target.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, 'wb') as f:
                shutil.copyfileobj(source, f, _CHUNK)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _touch(self, ref: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.root / ref)
            return True
        return False

    def _stat(self, ref: str) -> Stored | None:
        try:
            st = (self.root / ref).stat()
        except FileNotFoundError:
            return None
        return Stored(ref, st.st_mtime, st.st_size)

    def _listing(self) -> Iterator[Stored]:
        for sub in [p for p in self.root.iterdir() if p.is_dir() and len(p.name) == 2]:
            for f in sub.iterdir():
                ref = f'{sub.name}/{f.name}'
                partial = f.name.startswith(_TMP_PREFIX)
                if not (partial or _REF.match(ref)):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = f.stat()
                    yield Stored(ref, st.st_mtime, st.st_size, partial)

    def _delete(self, stored: Stored) -> None:
        (self.root / stored.ref).unlink(missing_ok=True)

    def _probe(self) -> None:
        # A temp name in a store folder: if the process dies before the unlink, gc removes it.
        folder = self.root / '00'
        folder.mkdir(exist_ok=True)
        probe = folder / f'{_TMP_PREFIX}probe-{time.time_ns()}'
        try:
            with open(probe, 'wb') as f:
                f.write(b'\0' * 4096)
        finally:
            probe.unlink(missing_ok=True)

    def spill(self, key: str, entry: dict[str, Any]) -> str:
        _check_spill_key(key)
        return self._spill_log().add(key, entry)

    def spilled(self) -> Iterator[tuple[str, dict[str, Any]]]:
        notes = self._spill_log().pending()
        folder = self.root / SPILL_DIR
        if folder.is_dir():  # a note per file: written by versions before the log
            for path in folder.glob('*.json'):
                with contextlib.suppress(FileNotFoundError, ValueError):
                    notes.setdefault(path.stem, json.loads(path.read_text()))
        yield from sorted(notes.items())

    def unspill(self, key: str) -> None:
        _check_spill_key(key)
        if not self._spill_log().remove(key):
            (self.root / SPILL_DIR / f'{key}.json').unlink(missing_ok=True)

    def _spill_log(self) -> SpillLog:
        return SpillLog.of(self.root / SPILL_DIR)


def _check_spill_key(key: str) -> None:
    if not re.fullmatch(r'[\w-]+', key):
        raise InvalidValueError(f'Spill key {key!r} must be letters, digits, - or _.')


_SOURCE_ATTR = 'reverie_source_bytes'


def attach_source(img: PIL.Image.Image, data: bytes) -> PIL.Image.Image:
    """Remember the encoded file bytes ``img`` was decoded from, so they are kept as is."""
    setattr(img, _SOURCE_ATTR, data)
    return img


def source_bytes(img: PIL.Image.Image) -> bytes | None:
    """The file bytes ``img`` was decoded from, when known and unmodified."""
    data = getattr(img, _SOURCE_ATTR, None)
    if isinstance(data, bytes):
        return data
    filename = getattr(img, 'filename', None)
    if filename and getattr(img, 'format', None):
        try:
            return Path(filename).read_bytes()
        except OSError:
            return None
    return None
