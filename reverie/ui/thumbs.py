"""Thumbnails made on the server, cached on disk, and the full images, from the media store.

Images are opened through the catalog's media store (never by a path built here): a
reference the store did not make, or one whose file is gone, is ``MediaNotFound``.
Thumbnails are WebP files named by the image's reference (content-addressed, so they
never go stale) and the size, written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import PIL.Image

from reverie.errors import InvalidValueError
from reverie.store.media import source_bytes

if TYPE_CHECKING:
    from reverie.store.media import MediaStore

SIZES = (128, 256, 512, 1024)  # thumbnail boxes; a request is rounded up to one of them
CONTENT_TYPES = {
    'PNG': 'image/png',
    'JPEG': 'image/jpeg',
    'WEBP': 'image/webp',
    'GIF': 'image/gif',
    'TIFF': 'image/tiff',
    'BMP': 'image/bmp',
    'AVIF': 'image/avif',
}


class MediaNotFound(LookupError):
    """No stored image under this reference."""


def box(requested: int) -> int:
    """The thumbnail size serving ``requested`` pixels."""
    return next((s for s in SIZES if s >= requested), SIZES[-1])


class Thumbnails:
    """WebP thumbnails of stored images, cached under ``folder``."""

    def __init__(self, media: MediaStore, folder: Path) -> None:
        self.media = media
        self.folder = folder

    def __repr__(self) -> str:
        return f'<Thumbnails {str(self.folder)!r}>'

    def _open(self, ref: str) -> PIL.Image.Image:
        try:
            return self.media.open(ref)
        except (InvalidValueError, OSError) as e:
            raise MediaNotFound(ref) from e

    def get(self, ref: str, size: int) -> Path:
        """The cached thumbnail of ``ref`` fitting a ``size`` box (made on first use)."""
        size = box(size)
        # Named by a hash of the reference: any text names a file inside the cache only, and
        # only the media store's open() (which refuses references it did not make) fills it.
        name = hashlib.sha256(ref.encode()).hexdigest()
        target = self.folder / str(size) / name[:2] / f'{name}.webp'
        if target.exists():
            return target
        img = self._open(ref)
        with img:
            img.draft('RGB', (size, size))  # JPEG: decode at a reduced scale
            img.thumbnail((size, size), PIL.Image.Resampling.LANCZOS)
            if img.mode not in ('RGB', 'RGBA'):
                img = img.convert('RGBA' if 'A' in img.getbands() else 'RGB')
            buf = io.BytesIO()
            img.save(buf, format='WEBP', quality=82, method=3)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix='.tmp-')
        with os.fdopen(fd, 'wb') as f:
            f.write(buf.getvalue())
        os.replace(tmp, target)
        return target

    def full(self, ref: str) -> tuple[bytes, str]:
        """The stored file's bytes and content type (as received: never re-encoded)."""
        img = self._open(ref)
        with img:
            fmt = (img.format or 'PNG').upper()
            data = source_bytes(img)
            if data is None:
                buf = io.BytesIO()
                img.save(buf, format='PNG')
                data, fmt = buf.getvalue(), 'PNG'
        return data, CONTENT_TYPES.get(fmt, 'application/octet-stream')
