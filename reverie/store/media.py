"""Content-addressed media store: image files under one root, named by their SHA-256.

A file is written to a temporary name inside the root and renamed into place before any
database row refers to it, so a crashed or killed process leaves at worst an orphan
(removed by ``gc``), never a reference to a missing file. Files are not fsynced one by one:
like the database (SQLite WAL with ``synchronous=NORMAL``) they survive a process crash,
not a power cut. References are relative paths such as
``ab/ab12...ef.png``; ``path()`` refuses any reference that would leave the root.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import PIL.Image

from reverie.errors import InvalidValueError

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


def extension_for(fmt: str | None) -> str | None:
    """File extension the store uses for a Pillow format name, or None if unsupported."""
    return _EXT_BY_FORMAT.get((fmt or '').upper())


class MediaStore:
    """Files under ``root``, addressed by content.

    Attributes:
        allow_private_urls: images may be fetched from loopback/private/link-local hosts.
    """

    def __init__(self, root: Path, *, allow_private_urls: bool = False) -> None:
        self.root = Path(root).resolve()
        self.allow_private_urls = allow_private_urls
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f'<MediaStore {str(self.root)!r}>'

    def put(self, data: bytes, ext: str) -> str:
        """Store ``data`` (already validated file bytes) and return its reference."""
        digest = hashlib.sha256(data).hexdigest()
        ref = f'{digest[:2]}/{digest}.{ext}'
        target = self.root / ref
        if target.exists():
            # Fresh again: ``gc`` and ``revert`` keep files written or reused since they began.
            with contextlib.suppress(FileNotFoundError):
                os.utime(target)
                return ref
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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

    def path(self, ref: str) -> Path:
        """Absolute path of a stored reference; refuses references outside the store."""
        if not _REF.match(ref):
            raise InvalidValueError(
                f'Media reference {ref!r} is not a reference this store made; '
                'it must look like "ab/<sha256>.png".'
            )
        return self.root / ref

    def open(self, ref: str) -> PIL.Image.Image:
        """Open a stored image lazily (pixels are read on first use)."""
        return PIL.Image.open(self.path(ref))

    def refs(self) -> Iterable[str]:
        """Every reference currently stored."""
        for sub in self.root.iterdir():
            if sub.is_dir() and len(sub.name) == 2:
                for f in sub.iterdir():
                    ref = f'{sub.name}/{f.name}'
                    if _REF.match(ref):
                        yield ref

    def remove(self, refs: Iterable[str], *, unused_since: float) -> tuple[int, int]:
        """Delete the files of ``refs`` (which nothing refers to any more): (files, bytes).

        A file written or reused after ``unused_since`` (a time.time()) is kept: a running
        insert may be about to refer to it.
        """
        removed = freed = 0
        for ref in refs:
            if not _REF.match(ref):
                continue
            path = self.path(ref)
            try:
                stat = path.stat()
                if stat.st_mtime > unused_since:
                    continue
                size = stat.st_size
                path.unlink()
            except FileNotFoundError:
                continue
            removed += 1
            freed += size
        return removed, freed

    def gc(self, referenced: set[str], *, grace_seconds: float = 3600.0) -> tuple[int, int]:
        """Delete files no reference points to, and stale temp files.

        Files younger than ``grace_seconds`` are kept: a running insert may have written
        them and not yet committed the row that refers to them.

        Returns:
            (files removed, bytes freed)
        """
        cutoff = time.time() - grace_seconds
        removed = freed = 0
        for sub in [p for p in self.root.iterdir() if p.is_dir() and len(p.name) == 2]:
            for f in sub.iterdir():
                ref = f'{sub.name}/{f.name}'
                is_tmp = f.name.startswith(_TMP_PREFIX)
                if (is_tmp or (_REF.match(ref) and ref not in referenced)) and (
                    f.stat().st_mtime < cutoff
                ):
                    freed += f.stat().st_size
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed, freed


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
