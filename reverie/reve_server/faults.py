"""Answers that go wrong after the server has charged: what a paid-call layer must survive.

Each fault is chosen by `ServerOptions.answer_fault` (with probability `answer_fault_rate`):

| fault              | what the client sees                                             |
|--------------------|------------------------------------------------------------------|
| `drip`             | a 200 whose body arrives one byte every `drip_interval` seconds |
| `reset`            | the request is read and charged, then the connection is reset   |
| `truncated`        | a 200 whose PNG stops half-way (JSON or raw mode)               |
| `broken_zlib`      | a PNG whose IDAT data is not valid zlib (CRCs correct)          |
| `oversized_header` | a PNG claiming 12000x12000 pixels over 1000 bytes of data       |

`reported_credits` replaces the `credits_used` figure in the answer (body and header) by
any JSON literal (`1e400`, `-3`, `"x"`) while the server charges the real price; the request
log keeps what was really charged, the ground truth for tests.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

ANSWER_FAULTS: tuple[str, ...] = ('drip', 'reset', 'truncated', 'broken_zlib', 'oversized_header')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def corrupt_png(png: bytes, fault: str) -> bytes:
    """Return `png` damaged as `fault` says (unchanged for faults that are not about bytes)."""
    if fault == 'truncated':
        return png[: max(len(PNG_SIGNATURE) + 1, len(png) // 2)]
    if fault == 'broken_zlib':
        return _break_idat(png)
    if fault == 'oversized_header':
        return oversized_png()
    return png


def oversized_png(width: int = 12000, height: int = 12000, data_bytes: int = 1000) -> bytes:
    """A PNG whose header claims `width` x `height` over `data_bytes` of (valid) zlib data."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    noise = b''.join(hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(64))
    data = zlib.compress(noise * (1 + data_bytes // len(noise)))[:data_bytes]
    return PNG_SIGNATURE + _chunk(b'IHDR', ihdr) + _chunk(b'IDAT', data) + _chunk(b'IEND', b'')


def _break_idat(png: bytes) -> bytes:
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(png):
        (length,) = struct.unpack('>I', png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        if kind == b'IDAT':
            data = data[:2] + bytes(b ^ 0x5A for b in data[2:])
        out.append(_chunk(kind, data))
        pos += 12 + length
    return b''.join(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', crc)
