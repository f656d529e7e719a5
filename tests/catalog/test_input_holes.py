"""Input holes found by an adversarial run: each is a clear rv.Error and nothing is written."""

from __future__ import annotations

import contextlib
import http.server
import io
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.store.images import MAX_IMAGE_BYTES, ImageInputError, check_public_url


def _png(size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', size, (10, 200, 30)).save(buf, format='PNG')
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def _garbage_png() -> bytes:
    """An 8x8 PNG whose every chunk CRC is right but whose IDAT is not image data."""
    ihdr = struct.pack('>IIBBBBB', 8, 8, 8, 2, 0, 0, 0)
    garbage = bytes((i * 37 + 11) % 256 for i in range(300))
    return (
        b'\x89PNG\r\n\x1a\n'
        + _chunk(b'IHDR', ihdr)
        + _chunk(b'IDAT', garbage)
        + _chunk(b'IEND', b'')
    )


def _media_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / 'media').rglob('*') if p.is_file())


@pytest.fixture
def pics(catalog):
    t = rv.create_table(
        'pics', {'label': rv.String, 'img': rv.Image | None, 'meta': rv.Json | None}
    )
    t.insert(label='first', img=_png(), print_stats=False)
    return t


def _refused(t: rv.Table, tmp_path: Path, match: str, **row) -> None:
    before, files = t.collect(), _media_files(tmp_path)
    with pytest.raises(rv.InvalidValueError, match=match):
        t.insert([{'label': 'good', 'img': _png((9, 9))}, {'label': 'bad', **row}])
    assert t.collect() == before
    assert _media_files(tmp_path) == files


def test_png_with_valid_crcs_but_garbage_pixels_is_refused(pics, tmp_path):
    data = _garbage_png()
    PIL.Image.open(io.BytesIO(data)).verify()  # the CRCs really are valid
    _refused(
        pics, tmp_path, r"Column 'img' \(table 'pics', row 1\).*not a readable image", img=data
    )


def test_local_file_over_the_size_cap_is_refused_without_reading_it(pics, tmp_path):
    big = tmp_path / 'big.png'
    with big.open('wb') as f:
        f.write(_png())
        f.truncate(1536 * 2**20)  # 1.5 GB of trailing zeros, sparse on disk
    assert big.stat().st_size > MAX_IMAGE_BYTES
    _refused(pics, tmp_path, r"big\.png' is larger than 100 MiB", img=str(big))
    _refused(pics, tmp_path, r"big\.png' is larger than 100 MiB", img=big)


def test_json_nested_3000_deep_is_refused(pics, tmp_path):
    deep: list = []
    for _ in range(3000):
        deep = [deep]
    _refused(pics, tmp_path, r"Column 'meta' .* JSON nested at most 64 levels deep", meta=deep)
    with pytest.raises(rv.InvalidValueError, match='nested at most 64 levels'):
        pics.where(pics.meta == deep)
    with pytest.raises(rv.InvalidValueError, match='nested at most 64 levels'):
        pics.update({'meta': deep})
    assert pics.select(pics.meta).collect()[0]['meta'] is None


@pytest.mark.parametrize('name', ['t\n', 'a/t\n', 'a\n/t', 'a.t\n'])
def test_names_ending_in_a_newline_are_refused(catalog, name):
    with pytest.raises(rv.InvalidValueError, match='is not a valid name'):
        rv.create_table(name, {'x': rv.Int})
    with pytest.raises(rv.InvalidValueError, match='is not a valid name'):
        rv.create_dir(name)
    assert rv.list_tables() == []
    assert rv.list_dirs() == []


def test_column_name_ending_in_a_newline_is_refused(catalog):
    with pytest.raises(rv.InvalidValueError, match='Invalid column name'):
        rv.create_table('t', {'x\n': rv.Int})
    t = rv.create_table('u', {'x': rv.Int})
    with pytest.raises(rv.InvalidValueError, match='Invalid column name'):
        t.add_column(**{'y\n': rv.Int | None})
    assert t.columns() == ['x']


class _Handler(http.server.BaseHTTPRequestHandler):
    """/img.png: a PNG; /huge.png: claims 1.5 GB; anything else, proxied or not: a redirect
    to ``redirect_to`` (set per server)."""

    redirect_to = ''
    png = _png()

    def do_GET(self) -> None:
        path = self.path.rsplit('/', 1)[-1]
        if path == 'img.png':
            self._send(200, self.png, {'Content-Type': 'image/png'})
        elif path == 'huge.png':
            self.send_response(200)
            self.send_header('Content-Length', str(1536 * 2**20))
            self.end_headers()
            self.wfile.write(self.png)
        else:
            self._send(302, b'', {'Location': self.redirect_to})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _server(redirect_to: str = '') -> Iterator[str]:
    handler = type('H', (_Handler,), {'redirect_to': redirect_to})
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_loopback_image_url_refused_by_default_allowed_by_setting(db_url, tmp_path, monkeypatch):
    settings = {'db_url': db_url, 'media_dir': str(tmp_path / 'media')}
    rv.init(settings)
    t = rv.create_table('pics', {'img': rv.Image})
    with _server() as base:
        with pytest.raises(rv.InvalidValueError, match='REVERIE_ALLOW_PRIVATE_URLS=1') as info:
            t.insert(img=f'{base}/img.png')
        assert 'not a public address (loopback, private, link-local' in str(info.value)
        assert t.count() == 0 and _media_files(tmp_path) == []
        monkeypatch.setenv('REVERIE_ALLOW_PRIVATE_URLS', '1')
        t = rv.init(settings) and rv.get_table('pics')
        t.insert(img=f'{base}/img.png')
        assert t.select(w=t.img.width).collect()[0]['w'] == 8


def test_config_file_allows_private_urls(tmp_path, monkeypatch):
    home = tmp_path / 'cfg'
    home.mkdir()
    (home / 'config.toml').write_text('[media]\nallow_private_urls = true\n')
    monkeypatch.setenv('REVERIE_HOME', str(home))
    assert rv.init().media.allow_private_urls
    (home / 'config.toml').write_text('[media]\n')
    assert not rv.init().media.allow_private_urls


def test_redirect_to_loopback_is_refused_at_the_hop(catalog, tmp_path, monkeypatch):
    # A public-looking URL reached through a proxy on loopback that redirects to loopback:
    # the first hop passes the check, the redirect target must not.
    t = rv.create_table('pics', {'img': rv.Image})
    with _server() as target, _server(redirect_to=f'{target}/img.png') as proxy:
        monkeypatch.setenv('HTTP_PROXY', proxy)
        with pytest.raises(rv.InvalidValueError, match=r"redirected to 'http://127\.0\.0\.1"):
            t.insert(img='http://93.184.216.34/photo.png')
        assert t.count() == 0 and _media_files(tmp_path) == []
        catalog.media.allow_private_urls = True
        t.insert(img='http://93.184.216.34/photo.png')  # allowed: the redirect is followed
        assert t.count() == 1


def test_declared_download_over_the_cap_is_refused(catalog, tmp_path):
    catalog.media.allow_private_urls = True
    t = rv.create_table('pics', {'img': rv.Image})
    with _server() as base, pytest.raises(rv.InvalidValueError, match='larger than 100 MiB'):
        t.insert(img=f'{base}/huge.png')
    assert t.count() == 0 and _media_files(tmp_path) == []


@pytest.mark.parametrize(
    'url',
    [
        'http://localhost/x.png',
        'http://127.0.0.2/x.png',
        'http://10.1.2.3/x.png',
        'http://192.168.0.1/x.png',
        'http://172.16.0.1/x.png',
        'http://169.254.169.254/latest/meta-data',
        'http://0.0.0.0/x.png',
        'http://[::1]/x.png',
        'http://[fe80::1]/x.png',
        'http://[fd00::1]/x.png',
        'http://[::ffff:127.0.0.1]/x.png',
        'http://100.64.0.1/x.png',
        'http://203.0.113.7/x.png',
    ],
)
def test_private_addresses_are_not_public(url):
    with pytest.raises(ImageInputError, match='not a public address'):
        check_public_url(url)


def test_public_literal_address_passes():
    check_public_url('http://93.184.216.34/x.png')
