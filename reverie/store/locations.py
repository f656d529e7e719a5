"""Which media store a location names (a folder, or ``s3://bucket/prefix``); links to media."""

from __future__ import annotations

from pathlib import Path

from reverie.config import DEFAULT_CACHE_BYTES
from reverie.errors import InvalidValueError
from reverie.store.cache import ReadCache
from reverie.store.media import LocalMediaStore, MediaStore
from reverie.store.s3 import S3MediaStore, presign


def open_media_store(
    location: str | Path,
    *,
    allow_private_urls: bool = False,
    cache_dir: Path | None = None,
    cache_size: int = DEFAULT_CACHE_BYTES,
) -> MediaStore:
    """The media store at ``location``: a folder, or ``s3://bucket/prefix``.

    An object store reads through a local cache in ``cache_dir`` (default
    ``~/.reverie/cache/media``) of at most ``cache_size`` bytes.
    """
    text = str(location)
    if text.startswith('s3://'):
        folder = cache_dir or Path('~/.reverie/cache/media').expanduser()
        return S3MediaStore(
            text, ReadCache(folder, cache_size), allow_private_urls=allow_private_urls
        )
    if '://' in text and not text.startswith('file://'):
        scheme = text.split('://', 1)[0]
        raise InvalidValueError(
            f'Media location {text!r}: {scheme}:// stores are not supported; use '
            's3://bucket/prefix (REVERIE_MEDIA_URL) or a folder (REVERIE_MEDIA_DIR).'
        )
    return LocalMediaStore(
        Path(text.removeprefix('file://')), allow_private_urls=allow_private_urls
    )


def presigned_url(url: str, expires: int = 3600) -> str:
    """A link a browser opens for a media URL (what ``t.img.fileurl`` gives).

    ``s3://bucket/key``: an https link signed for ``expires`` seconds (nothing is
    downloaded; the credentials are the standard AWS settings). A ``file://`` URL (a local
    folder has no server) and an ``http(s)://`` link come back as they are.
    """
    if url.startswith('s3://'):
        return presign(url, expires)
    if url.startswith(('file://', 'http://', 'https://')):
        return url
    raise InvalidValueError(
        f'presigned_url({url!r}): a media URL is s3://bucket/key, file:// or http(s)://; '
        'pass t.img.fileurl.'
    )
