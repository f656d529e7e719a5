"""Helpers for the Reve server tests: build images and read answers."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import httpx
from PIL import Image

from reverie.reve_server import ReveServer


def png_bytes(
    size: tuple[int, int] = (40, 30), color: object = (200, 40, 40), mode: str = 'RGB'
) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, 'PNG')  # type: ignore[arg-type]
    return buffer.getvalue()


def png_b64(
    size: tuple[int, int] = (40, 30), color: object = (200, 40, 40), mode: str = 'RGB'
) -> str:
    return base64.b64encode(png_bytes(size, color, mode)).decode('ascii')


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def png_header_b64(width: int, height: int) -> str:
    """A tiny PNG file whose header claims `width` x `height` (never decodable in full)."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    data = (
        b'\x89PNG\r\n\x1a\n'
        + _chunk(b'IHDR', ihdr)
        + _chunk(b'IDAT', zlib.compress(b'\x00' * 64))
        + _chunk(b'IEND', b'')
    )
    return base64.b64encode(data).decode('ascii')


def image_of(response: httpx.Response) -> Image.Image:
    """Decode the image of a JSON or raw-image answer."""
    if response.headers['content-type'].startswith('image/'):
        raw = response.content
    else:
        raw = base64.b64decode(response.json()['image'], validate=True)
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def error_of(response: httpx.Response) -> tuple[int, str, dict[str, object]]:
    """Return status, error_code and params, checking the body and headers agree."""
    body = response.json()
    assert set(body) == {'error_code', 'message', 'params'}
    assert isinstance(body['message'], str) and body['message']
    assert response.headers['x-reve-error-code'] == body['error_code']
    assert response.headers['x-reve-request-id'].startswith('rsid-')
    return response.status_code, body['error_code'], body['params']


def make_client(
    server: ReveServer, key: str | None = 'papi.test', **kwargs: object
) -> httpx.Client:
    """An httpx client for `server` (plain HTTP, so no certificate bundle is loaded)."""
    headers = {} if key is None else {'Authorization': f'Bearer {key}'}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30, verify=False, **kwargs)  # type: ignore[arg-type]
