"""Turn whatever a user passes for an image into checked, encoded file bytes.

``ImageLike`` is a local path, a ``file://`` or ``http(s)://`` URL, raw file bytes or a
``PIL.Image``. ``load_image_input`` reads it, decodes it fully once (so truncated or
corrupt files are refused before anything is written) and returns the original bytes,
which the media store keeps unchanged.

Limits: at most ``MAX_IMAGE_BYTES`` read from a file or URL (checked before reading) and
``MAX_PIXELS`` decoded. URLs whose host resolves to a loopback, private, link-local or
otherwise non-public address are refused, on the first request and on every redirect hop,
unless the catalog allows them (``REVERIE_ALLOW_PRIVATE_URLS=1``): an image URL in user
data must not make reverie read from the machine's own network.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

import PIL.Image

from reverie.store.media import extension_for, source_bytes

ImageLike = str | Path | bytes | PIL.Image.Image

MAX_PIXELS = 100_000_000
MAX_IMAGE_BYTES = 100 * 1024 * 1024  # a file, a download or bytes given as an image
MAX_REDIRECTS = 5
DOWNLOAD_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class CheckedImage:
    """Encoded image bytes that decode cleanly."""

    data: bytes
    ext: str
    width: int
    height: int
    mode: str

    def __repr__(self) -> str:
        return f'<CheckedImage {self.ext} {self.width}x{self.height} {self.mode}>'


class ImageInputError(ValueError):
    """An image input cannot be used; the message says why and what to pass instead."""


def load_image_input(value: object, *, allow_private_urls: bool = False) -> CheckedImage:
    """Read and check one image input.

    Args:
        value: a path, URL, file bytes or PIL image.
        allow_private_urls: fetch URLs whose host is a loopback, private or link-local
            address (refused by default: see ``check_public_url``).

    Raises:
        ImageInputError: unreadable, missing, corrupt, too large or of the wrong kind.
        TypeError: ``value`` is not image-like at all.
    """
    if isinstance(value, PIL.Image.Image):
        data = source_bytes(value)
        if data is None:
            buf = io.BytesIO()
            value.save(buf, format='PNG', compress_level=1)
            data = buf.getvalue()
        return check_image_bytes(data)
    if isinstance(value, bytes | bytearray | memoryview):
        return check_image_bytes(bytes(value))
    if isinstance(value, Path):
        return check_image_bytes(_read_file(value))
    if isinstance(value, str):
        return check_image_bytes(_read_location(value, allow_private_urls))
    raise TypeError('Image')


def check_image_bytes(data: bytes) -> CheckedImage:
    """Check ``data`` is a sound image: PNG chunk CRCs, then a full decode of the pixels."""
    if not data:
        raise ImageInputError('the image data is empty (0 bytes)')
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageInputError(f'the image is larger than {MAX_IMAGE_BYTES // 2**20} MiB')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', PIL.Image.DecompressionBombWarning)
            img = PIL.Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageInputError(
                    f'the image is {width}x{height} pixels, over the limit of {MAX_PIXELS:,}'
                )
            fmt, mode = img.format, img.mode
            if fmt == 'PNG':
                # Every chunk's CRC through IEND (truncation, bit flips) ...
                img.verify()
                img = PIL.Image.open(io.BytesIO(data))
            # ... and the pixels themselves: valid CRCs around garbage image data pass
            # verify() but not a decode.
            img.load()
    except ImageInputError:
        raise
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning):
        raise ImageInputError('the image is too large to decode safely') from None
    except Exception as e:  # Pillow raises many kinds for corrupt data
        raise ImageInputError(f'the data is not a readable image ({_short(e)})') from None
    ext = extension_for(fmt)
    if ext is None:
        raise ImageInputError(f'image format {fmt!r} is not supported; use PNG or JPEG')
    return CheckedImage(data=data, ext=ext, width=width, height=height, mode=mode)


def _short(e: Exception | str) -> str:
    text = str(e).strip() or type(e).__name__
    return text if len(text) <= 120 else text[:117] + '...'


def _read_location(s: str, allow_private_urls: bool) -> bytes:
    parsed = urlparse(s)
    scheme = parsed.scheme.lower()
    if scheme in ('http', 'https'):
        return download(s, allow_private_urls=allow_private_urls)
    if scheme == 'file':
        return _read_file(Path(unquote(parsed.path)))
    if len(scheme) > 1:  # not a Windows drive letter
        raise ImageInputError(
            f'URL scheme {scheme!r} is not supported; pass a local path or an http(s):// URL'
        )
    return _read_file(Path(s))


def _read_file(path: Path) -> bytes:
    try:
        path = path.expanduser()
        if not path.exists():
            raise ImageInputError(f'file {_short(str(path))!r} does not exist')
        if not path.is_file():
            raise ImageInputError(f'{_short(str(path))!r} is not a file')
        with path.open('rb') as f:
            # Read one byte past the cap: the size on disk can change while we read.
            data = f.read(MAX_IMAGE_BYTES + 1) if _size(f) <= MAX_IMAGE_BYTES else None
        if data is None or len(data) > MAX_IMAGE_BYTES:
            raise ImageInputError(
                f'file {_short(str(path))!r} is larger than {MAX_IMAGE_BYTES // 2**20} MiB, '
                'the most an image may be'
            )
        return data
    except ImageInputError:
        raise
    except (OSError, ValueError) as e:
        reason = getattr(e, 'strerror', None) or str(e)
        raise ImageInputError(f'file {_short(str(path))!r} cannot be read ({reason})') from None


def _size(f: BinaryIO) -> int:
    return os.fstat(f.fileno()).st_size


def download(url: str, *, allow_private_urls: bool = False) -> bytes:
    """Fetch ``url`` with a timeout and a size cap, checking the host of every redirect hop."""
    # httpx costs a tenth of a second to import; most inserts never download anything.
    import httpx

    try:
        with httpx.Client(
            timeout=httpx.Timeout(DOWNLOAD_TIMEOUT_SECONDS, connect=10.0), follow_redirects=False
        ) as client:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                if not allow_private_urls:
                    check_public_url(current, original=url)
                with client.stream('GET', current) as response:
                    if response.is_redirect and 'location' in response.headers:
                        current = str(response.url.join(response.headers['location']))
                        continue
                    if response.status_code != 200:
                        raise ImageInputError(f'{url!r} answered HTTP {response.status_code}')
                    declared = response.headers.get('content-length', '')
                    if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
                        raise _too_large(url)
                    return _read_capped(url, response.iter_bytes())
            raise ImageInputError(f'{url!r} redirected more than {MAX_REDIRECTS} times')
    except httpx.HTTPError as e:
        raise ImageInputError(f'{url!r} is unreachable ({type(e).__name__}: {_short(e)})') from None


def _read_capped(url: str, chunks_in: Iterator[bytes]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in chunks_in:
        size += len(chunk)
        if size > MAX_IMAGE_BYTES:
            raise _too_large(url)
        chunks.append(chunk)
    return b''.join(chunks)


def _too_large(url: str) -> ImageInputError:
    return ImageInputError(
        f'{url!r} is larger than {MAX_IMAGE_BYTES // 2**20} MiB, the most an image may be'
    )


def check_public_url(url: str, *, original: str | None = None) -> None:
    """Refuse a URL whose host resolves to a loopback, private, link-local or reserved address.

    Every address the name resolves to is checked, so a name with one public and one
    private address is refused. ``original`` is the URL the user gave (when ``url`` is a
    redirect target), named in the message.

    Raises:
        ImageInputError: the host is not public or cannot be resolved.
    """
    given = original or url
    via = '' if original in (None, url) else f' (redirected to {url!r})'
    host = urlparse(url).hostname
    if not host:
        raise ImageInputError(f'{given!r}{via} has no host name')
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        raise ImageInputError(
            f'{given!r}{via} is unreachable (cannot resolve {host!r}: {e})'
        ) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split('%')[0])
        if not _is_public(address):
            raise ImageInputError(
                f'{given!r}{via} points at {host!r} ({address}), not a public address '
                '(loopback, private, link-local or reserved); image URLs must be public. To '
                'fetch from your own network, '
                'set REVERIE_ALLOW_PRIVATE_URLS=1 or [media] allow_private_urls = true in '
                'REVERIE_HOME/config.toml'
            )


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_public(mapped)
    return address.is_global and not address.is_multicast
