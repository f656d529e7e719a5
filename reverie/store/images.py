"""Turn whatever a user passes for an image into checked, encoded file bytes.

``ImageLike`` is a local path, a ``file://`` or ``http(s)://`` URL, raw file bytes or a
``PIL.Image``. ``load_image_input`` reads it, decodes it fully once (so truncated or
corrupt files are refused before anything is written) and returns the original bytes,
which the media store keeps unchanged.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import PIL.Image

from reverie.store.media import extension_for, source_bytes

ImageLike = str | Path | bytes | PIL.Image.Image

MAX_PIXELS = 100_000_000
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
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


def load_image_input(value: object) -> CheckedImage:
    """Read and check one image input.

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
        return check_image_bytes(_read_location(value))
    raise TypeError('Image')


def check_image_bytes(data: bytes) -> CheckedImage:
    """Check ``data`` is a sound image (PNG: every chunk's CRC; others: a full decode)."""
    if not data:
        raise ImageInputError('the image data is empty (0 bytes)')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', PIL.Image.DecompressionBombWarning)
            img = PIL.Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageInputError(
                    f'the image is {width}x{height} pixels, over the limit of {MAX_PIXELS:,}'
                )
            if img.format == 'PNG':
                # Checks every chunk's CRC through IEND: catches truncated and corrupt
                # files without decoding the pixels (several times faster).
                img.verify()
            else:
                img.load()
    except ImageInputError:
        raise
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning):
        raise ImageInputError('the image is too large to decode safely') from None
    except Exception as e:  # Pillow raises many kinds for corrupt data
        raise ImageInputError(f'the data is not a readable image ({_short(e)})') from None
    ext = extension_for(img.format)
    if ext is None:
        raise ImageInputError(f'image format {img.format!r} is not supported; use PNG or JPEG')
    return CheckedImage(data=data, ext=ext, width=width, height=height, mode=img.mode)


def _short(e: Exception | str) -> str:
    text = str(e).strip() or type(e).__name__
    return text if len(text) <= 120 else text[:117] + '...'


def _read_location(s: str) -> bytes:
    parsed = urlparse(s)
    scheme = parsed.scheme.lower()
    if scheme in ('http', 'https'):
        return download(s)
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
        return path.read_bytes()
    except ImageInputError:
        raise
    except (OSError, ValueError) as e:
        reason = getattr(e, 'strerror', None) or str(e)
        raise ImageInputError(f'file {_short(str(path))!r} cannot be read ({reason})') from None


def download(url: str) -> bytes:
    """Fetch ``url`` with a timeout and a size cap."""
    # httpx costs a tenth of a second to import; most inserts never download anything.
    import httpx

    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(DOWNLOAD_TIMEOUT_SECONDS, connect=10.0), follow_redirects=True
            ) as client,
            client.stream('GET', url) as response,
        ):
            if response.status_code != 200:
                raise ImageInputError(f'{url!r} answered HTTP {response.status_code}')
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ImageInputError(
                        f'{url!r} is larger than {MAX_DOWNLOAD_BYTES // 2**20} MiB'
                    )
                chunks.append(chunk)
            return b''.join(chunks)
    except httpx.HTTPError as e:
        raise ImageInputError(f'{url!r} is unreachable ({type(e).__name__}: {_short(e)})') from None
