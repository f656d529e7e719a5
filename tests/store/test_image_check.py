"""Images are checked without a full decode where the format allows it (PNG: chunk CRCs and
the inflated scanlines; JPEG: every scan at 1/8 scale), and a damaged file is still refused."""

from __future__ import annotations

import io
import random
import struct
import zlib

import PIL.Image
import pytest

from reverie.store.images import ImageInputError, check_image_bytes
from reverie.store.pngcheck import PngError, check_png


def _encode(img: PIL.Image.Image, **opts: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format='PNG', **opts)
    return buf.getvalue()


def _noise(mode: str, size: tuple[int, int], seed: int = 0) -> PIL.Image.Image:
    rnd = random.Random(seed)
    per_pixel = len(PIL.Image.new(mode, (1, 1)).tobytes()) if mode not in ('1', 'P') else 1
    raw = bytes(rnd.getrandbits(8) for _ in range(size[0] * size[1] * per_pixel))
    if mode in ('1', 'P'):
        return PIL.Image.frombytes('L', size, raw).convert(mode)
    return PIL.Image.frombytes(mode, size, raw)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def _png(width: int, height: int, raw: bytes, *, pieces: int = 3, interlace: int = 0) -> bytes:
    """An RGB PNG built by hand around the scanlines ``raw`` (filter bytes included), its
    zlib stream split over ``pieces`` IDAT chunks; every CRC right."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, interlace)
    stream = zlib.compress(raw)
    step = -(-len(stream) // pieces)
    idats = b''.join(_chunk(b'IDAT', stream[i : i + step]) for i in range(0, len(stream), step))
    return b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr) + idats + _chunk(b'IEND', b'')


def _rgb_rows(width: int, height: int, filter_type: int = 0) -> bytes:
    row = bytes([filter_type]) + bytes(range(256)) * (3 * width // 256) + bytes(3 * width % 256)
    return row * height


@pytest.mark.parametrize(
    ('mode', 'size', 'opts'),
    [
        ('RGB', (512, 512), {}),
        ('RGB', (1, 1), {}),
        ('RGBA', (33, 7), {}),
        ('L', (301, 129), {'compress_level': 9}),
        ('LA', (5, 300), {}),
        ('1', (13, 11), {}),
        ('P', (17, 9), {'bits': 4}),
        ('P', (31, 3), {'bits': 2}),
        ('P', (640, 400), {}),
        ('I;16', (19, 23), {}),
        ('RGB', (700, 500), {'compress_level': 0}),  # stored blocks, many IDAT chunks
    ],
)
def test_sound_pngs_pass_without_a_decode(mode, size, opts):
    data = _encode(_noise(mode, size), **opts)
    assert check_png(data) is True
    checked = check_image_bytes(data)
    assert (checked.width, checked.height, checked.ext) == (*size, 'png')
    assert checked.mode == PIL.Image.open(io.BytesIO(data)).mode


def _adam7_rows(width: int, height: int) -> bytes:
    """The scanlines of an interlaced RGB image: seven passes of reduced images."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    passes.append((0, 1, 1, 2))
    raw = b''
    for x0, y0, dx, dy in passes:
        cols, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if cols > 0 and rows > 0:
            raw += (b'\0' + bytes(range(3 * cols))) * rows
    return raw


def test_an_interlaced_png_is_decoded_instead():
    data = _png(40, 30, _adam7_rows(40, 30), interlace=1)
    assert check_png(data) is None
    assert check_image_bytes(data).width == 40
    with pytest.raises(ImageInputError, match='not a readable image'):
        check_image_bytes(data[: len(data) // 2])


def test_a_truncated_png_is_refused_wherever_it_is_cut():
    data = _encode(_noise('RGB', (120, 90)))
    for cut in [*range(8, len(data), max(1, len(data) // 97)), len(data) - 1]:
        with pytest.raises(ImageInputError, match='not a readable image'):
            check_image_bytes(data[:cut])


def test_a_flipped_bit_is_refused_wherever_it_is():
    data = _encode(_noise('RGBA', (64, 48)))
    for pos in range(8, len(data), max(1, len(data) // 89)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x10
        with pytest.raises(ImageInputError, match='not a readable image'):
            check_image_bytes(bytes(damaged))


def test_a_flipped_bit_under_a_recomputed_crc_is_refused():
    """Damage the encoder made (the CRCs were computed after it): the zlib stream breaks."""
    width, height = 64, 20
    good = _png(width, height, _rgb_rows(width, height), pieces=1)
    check_png(good)
    idat = good.index(b'IDAT')
    (length,) = struct.unpack('>I', good[idat - 4 : idat])
    stream = bytearray(good[idat + 4 : idat + 4 + length])
    for pos in range(2, len(stream)):
        broken = bytearray(stream)
        broken[pos] ^= 0x01
        data = good[: idat - 4] + _chunk(b'IDAT', bytes(broken)) + _chunk(b'IEND', b'')
        with pytest.raises(PngError):
            check_png(data)
        with pytest.raises(ImageInputError, match='not a readable image'):
            check_image_bytes(data)


@pytest.mark.parametrize(
    ('rows', 'match'),
    [
        (_rgb_rows(10, 9), 'ends after 279 bytes, its header declares 310'),  # a row short
        (_rgb_rows(10, 10)[:-1], 'ends after 309 bytes'),  # a byte short
        (_rgb_rows(10, 10, filter_type=5), 'unknown filter type'),
    ],
)
def test_image_data_short_of_the_declared_size_is_refused(rows, match):
    data = _png(10, 10, rows)
    with pytest.raises(PngError, match=match):
        check_png(data)
    with pytest.raises(ImageInputError, match='not a readable image'):
        check_image_bytes(data)


def test_a_zlib_stream_cut_off_is_refused():
    stream = zlib.compress(_rgb_rows(300, 200))
    ihdr = struct.pack('>IIBBBBB', 300, 200, 8, 2, 0, 0, 0)
    head = b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr)
    data = head + _chunk(b'IDAT', stream[: len(stream) // 2]) + _chunk(b'IEND', b'')
    with pytest.raises(PngError, match='cut off before its zlib stream ends'):
        check_png(data)


def test_a_little_data_past_the_declared_rows_is_ignored_as_a_decoder_does():
    data = _png(10, 10, _rgb_rows(10, 11))
    assert check_png(data) is True
    PIL.Image.open(io.BytesIO(data)).load()  # Pillow takes it too
    with pytest.raises(PngError, match='far more than its declared size'):
        check_png(_png(10, 10, _rgb_rows(10, 3000)))


def test_a_bad_filter_byte_far_into_a_large_image_is_refused():
    width, height = 700, 400  # 840 KB of scanlines: inflated in many pieces
    rows = bytearray(_rgb_rows(width, height, filter_type=1))
    rows[(3 * width + 1) * 333] = 7
    with pytest.raises(PngError, match='unknown filter type'):
        check_png(_png(width, height, bytes(rows)))
    assert check_png(_png(width, height, _rgb_rows(width, height, filter_type=4))) is True


def test_a_png_without_iend_or_with_data_after_the_stream_is_judged_by_its_image():
    good = _png(10, 10, _rgb_rows(10, 10))
    with pytest.raises(PngError, match='before its IEND'):
        check_png(good[: -len(_chunk(b'IEND', b''))])
    # Bytes after a complete zlib stream are ignored, as decoders do.
    stream = zlib.compress(_rgb_rows(10, 10)) + b'trailing'
    ihdr = struct.pack('>IIBBBBB', 10, 10, 8, 2, 0, 0, 0)
    data = b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr) + _chunk(b'IDAT', stream)
    assert check_png(data + _chunk(b'IEND', b'')) is True


def _jpeg(size: tuple[int, int], **opts: object) -> bytes:
    buf = io.BytesIO()
    _noise('RGB', size).save(buf, format='JPEG', quality=90, **opts)
    return buf.getvalue()


def test_a_jpeg_is_checked_at_reduced_scale_and_keeps_its_size():
    checked = check_image_bytes(_jpeg((203, 97)))
    assert (checked.width, checked.height, checked.mode, checked.ext) == (203, 97, 'RGB', 'jpg')


@pytest.mark.parametrize('progressive', [False, True])
def test_a_truncated_jpeg_is_refused(progressive):
    data = _jpeg((160, 120), progressive=progressive)
    for cut in (len(data) // 4, len(data) // 2, len(data) - 40, len(data) - 2):
        with pytest.raises(ImageInputError, match='not a readable image'):
            check_image_bytes(data[:cut])
