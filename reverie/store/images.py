"""Turn whatever a user passes for an image into checked, encoded file bytes.

``ImageLike`` is a local path, a ``file://`` or ``http(s)://`` URL, raw file bytes or a
``PIL.Image``. ``load_image_input`` reads it, checks it as far as a full decode would (so
truncated or corrupt files are refused before anything is written; see
``check_image_bytes``) and returns the original bytes, which the media store keeps
unchanged.

Limits: at most ``MAX_IMAGE_BYTES`` read from a file or URL (on the wire, and
``MAX_INFLATED_BYTES`` once a ``Content-Encoding`` is undone, both checked while the bytes
arrive), ``DOWNLOAD_TIMEOUT_SECONDS`` for a whole download, and ``MAX_PIXELS`` decoded.
URLs whose host resolves to a loopback, private, link-local or otherwise non-public
address are refused, on the first request and on every redirect hop (each host is
resolved once and the connection goes to the address that was checked), unless the
catalog allows them (``REVERIE_ALLOW_PRIVATE_URLS=1``): an image URL in user data must not
make reverie read from the machine's own network.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO
from urllib.parse import unquote, urlparse

import PIL.Image

from reverie.store.media import extension_for, source_bytes
from reverie.store.pngcheck import check_png

if TYPE_CHECKING:
    import httpx

ImageLike = str | Path | bytes | PIL.Image.Image

MAX_PIXELS = 100_000_000
MAX_IMAGE_BYTES = 100 * 1024 * 1024  # a file, a download or bytes given as an image
MAX_INFLATED_BYTES = 100 * 1024 * 1024  # a download once its Content-Encoding is undone
MAX_REDIRECTS = 5
_INFLATE_STEP = 2**20  # bytes inflated per zlib call
DOWNLOAD_TIMEOUT_SECONDS = 30.0  # the whole download, redirects included (not per read)


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


class BodyTooLarge(ValueError):
    """A server sent more than a cap allows (on the wire, or once inflated)."""


class CappedBody:
    """An HTTP body read chunk by chunk under two caps, inflated here (gzip, deflate).

    The caps are checked while the bytes arrive, never after: a gzip bomb is refused once
    it has inflated to ``max_inflated`` bytes, so memory stays near the cap.

    Examples:
        >>> body = CappedBody('gzip', max_wire=100, max_inflated=10)
        >>> import gzip; body.feed(gzip.compress(b'x' * 11))
        Traceback (most recent call last):
        ...
        reverie.store.images.BodyTooLarge: more than 10 bytes once inflated
    """

    def __init__(
        self,
        encoding: str | None,
        *,
        max_wire: int,
        max_inflated: int,
        sink: IO[bytes] | None = None,
    ) -> None:
        encoding = (encoding or 'identity').strip().lower()
        if encoding in ('gzip', 'x-gzip'):
            self._inflate: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == 'deflate':
            self._inflate = zlib.decompressobj()
        elif encoding == 'identity':
            self._inflate = None
        else:
            raise ValueError(f'unsupported Content-Encoding {encoding!r}')
        self.max_wire, self.max_inflated = max_wire, max_inflated
        self.wire = 0
        self.size = 0
        self._chunks: list[bytes] = []  # not a bytearray: growing one copies it (2x the cap)
        self._sink = sink  # where the inflated bytes go as they come (None: kept here)

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes as they came over the wire."""
        self.wire += len(chunk)
        if self.wire > self.max_wire:
            raise BodyTooLarge(f'more than {self.max_wire} bytes on the wire')
        if self._inflate is None:
            self._add(chunk)
            return
        data = chunk
        while data:
            # At most one byte past the cap comes out, a step at a time (zlib joins one
            # call's output blocks at its end: one big call would briefly hold it twice).
            room = min(self.max_inflated - self.size + 1, _INFLATE_STEP)
            self._add(self._inflate.decompress(data, room))
            data = self._inflate.unconsumed_tail

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_inflated:
            self._chunks.clear()
            raise BodyTooLarge(f'more than {self.max_inflated} bytes once inflated')
        if data and self._sink is not None:
            self._sink.write(data)
        elif data:
            self._chunks.append(data)

    def finish(self) -> None:
        """The body has ended: what the inflater still holds is taken too (under the cap)."""
        if self._inflate is not None:
            self._add(self._inflate.flush())
            self._inflate = None

    def result(self) -> bytes:
        """The whole body, inflated (without a ``sink``)."""
        self.finish()
        data = b''.join(self._chunks)
        self._chunks = [data]
        return data


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
    """Check ``data`` is a sound image, as far as a full decode would refuse it.

    A PNG: its chunk CRCs and inflated image data (``check_png``); a JPEG: every scan,
    decoded at 1/8 scale; anything else (and an interlaced PNG): a full decode.
    """
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
            if fmt != 'PNG' or not check_png(data):  # PNG: CRCs and inflated size, no decode
                if fmt == 'PNG':
                    # Every chunk's CRC through IEND (truncation, bit flips) ...
                    img.verify()
                    img = PIL.Image.open(io.BytesIO(data))
                elif fmt == 'JPEG':  # every scan is still entropy-decoded, at 1/8 the pixels
                    img.draft(mode, (1, 1))
                # ... and the pixels themselves: valid CRCs around garbage image data pass
                # verify() but not a decode.
                img.load()
    except ImageInputError:
        raise
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning):
        raise ImageInputError('the image is too large to decode safely') from None
    except PIL.UnidentifiedImageError:
        # Pillow names the BytesIO it read ('<_io.BytesIO object at 0x...>'): say what the
        # data was instead.
        raise ImageInputError(
            f'the data is not a readable image ({len(data):,} bytes starting {data[:16]!r}: '
            'no PNG, JPEG or WebP header)'
        ) from None
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
    """Fetch ``url`` within ``DOWNLOAD_TIMEOUT_SECONDS`` in all, under the size caps.

    Each hop's host is resolved once, every address is checked (unless private URLs are
    allowed), and the connection goes to the checked address: no second DNS lookup can
    point the download somewhere else (the ``Host`` header and TLS name stay the URL's).
    """
    cancelled = threading.Event()
    outcome: list[bytes | BaseException] = []

    def work() -> None:
        try:
            outcome.append(_fetch(url, allow_private_urls, cancelled))
        except BaseException as e:  # handed to the caller's thread
            outcome.append(e)

    # A per-read timeout does not bound a server that sends a byte now and then: the
    # download runs in a thread and the caller stops waiting at the deadline.
    worker = threading.Thread(target=work, name='reverie-download', daemon=True)
    worker.start()
    worker.join(DOWNLOAD_TIMEOUT_SECONDS)
    if worker.is_alive() or not outcome:
        cancelled.set()  # the thread stops at its next chunk
        raise ImageInputError(
            f'{url!r} did not finish downloading within {DOWNLOAD_TIMEOUT_SECONDS:g} s; '
            'download the image and pass the file instead'
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _fetch(url: str, allow_private_urls: bool, cancelled: threading.Event) -> bytes:
    # httpx costs a tenth of a second to import; most inserts never download anything.
    import httpx

    try:
        with httpx.Client(
            timeout=httpx.Timeout(DOWNLOAD_TIMEOUT_SECONDS, connect=10.0), follow_redirects=False
        ) as client:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                address = resolve_checked(current, original=url, allow_private=allow_private_urls)
                target = httpx.URL(current)
                headers = {
                    'Host': target.netloc.decode('ascii'),
                    'Accept-Encoding': 'gzip, deflate',
                }
                # The TLS name (and certificate check) stays the URL's host.
                extensions = {'sni_hostname': target.host} if target.scheme == 'https' else {}
                with client.stream(
                    'GET', target.copy_with(host=address), headers=headers, extensions=extensions
                ) as response:
                    if response.is_redirect and 'location' in response.headers:
                        current = str(target.join(response.headers['location']))
                        continue
                    if response.status_code != 200:
                        raise ImageInputError(f'{url!r} answered HTTP {response.status_code}')
                    return _read_capped(url, response, cancelled)
            raise ImageInputError(f'{url!r} redirected more than {MAX_REDIRECTS} times')
    except httpx.HTTPError as e:
        raise ImageInputError(f'{url!r} is unreachable ({type(e).__name__}: {_short(e)})') from None


def _read_capped(url: str, response: httpx.Response, cancelled: threading.Event) -> bytes:
    declared = response.headers.get('content-length', '')
    if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
        raise _too_large(url)
    try:
        body = CappedBody(
            response.headers.get('content-encoding'),
            max_wire=MAX_IMAGE_BYTES,
            max_inflated=MAX_INFLATED_BYTES,
        )
        for chunk in response.iter_raw():
            if cancelled.is_set():
                raise ImageInputError(f'{url!r}: the download was stopped at its deadline')
            body.feed(chunk)
        return body.result()
    except BodyTooLarge as e:
        raise ImageInputError(f'{url!r} was refused: {e}, the most an image may be') from None
    except zlib.error as e:
        raise ImageInputError(f'{url!r} sent a corrupt compressed body ({e})') from None
    except ValueError as e:  # an encoding we did not ask for
        raise ImageInputError(f'{url!r} was refused: {e}') from None


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
    resolve_checked(url, original=original, allow_private=False)


def resolve_checked(url: str, *, original: str | None = None, allow_private: bool) -> str:
    """Resolve ``url``'s host once, check every address, and return the one to connect to.

    Raises:
        ImageInputError: the host is not public (unless ``allow_private``) or cannot be
            resolved.
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
    addresses = [str(info[4][0]).split('%')[0] for info in infos]
    if not addresses:
        raise ImageInputError(f'{given!r}{via} is unreachable ({host!r} has no address)')
    for text in addresses if not allow_private else ():
        address = ipaddress.ip_address(text)
        if not _is_public(address):
            raise ImageInputError(
                f'{given!r}{via} points at {host!r} ({address}), not a public address '
                '(loopback, private, link-local or reserved); image URLs must be public. To '
                'fetch from your own network, '
                'set REVERIE_ALLOW_PRIVATE_URLS=1 or [media] allow_private_urls = true in '
                'REVERIE_HOME/config.toml'
            )
    return addresses[0]


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_public(mapped)
    return address.is_global and not address.is_multicast
