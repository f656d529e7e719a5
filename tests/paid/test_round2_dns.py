"""An image URL's host is resolved once, and the download goes to the checked address.

Issue 19: the private-address check and the download resolved the host separately, so a
DNS answer that changed in between (rebinding) sent the download to an internal address.
Here ``img.example`` answers 127.0.0.2 (counted as public for this test) to the first
lookup and 127.0.0.1 (an internal server) to any later one.
"""

from __future__ import annotations

import http.server
import io
import socket
import threading
from collections.abc import Iterator

import PIL.Image
import pytest

from reverie.store import images as store_images
from reverie.store.images import download


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', (8, 8), color).save(buf, format='PNG')
    return buf.getvalue()


class _Server:
    def __init__(self, host: str, port: int, body: bytes) -> None:
        self.hosts: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.hosts.append(self.headers.get('Host', ''))
                self.send_response(200)
                self.send_header('Content-Type', 'image/png')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    checked = _Server('127.0.0.2', 0, _png('green'))
    try:
        internal = _Server('127.0.0.1', checked.port, _png('red'))
    except OSError:
        checked.close()
        pytest.skip('the port is taken on 127.0.0.1')
    yield checked, internal
    checked.close()
    internal.close()


def test_the_download_connects_to_the_address_that_was_checked(servers, monkeypatch):
    checked, internal = servers
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host, *args, **kwargs):
        if host != 'img.example':
            return real(host, *args, **kwargs)
        lookups.append(host)
        address = '127.0.0.2' if len(lookups) == 1 else '127.0.0.1'
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', (address, args[0] or 0))]

    public = store_images._is_public
    monkeypatch.setattr(socket, 'getaddrinfo', rebinding)
    monkeypatch.setattr(store_images, '_is_public', lambda a: str(a) == '127.0.0.2' or public(a))
    data = download(f'http://img.example:{checked.port}/x.png')
    print(
        f'PAID DNS rebinding: {len(lookups)} lookup(s) of the host, {len(checked.hosts)} '
        f'request(s) to the checked address, {len(internal.hosts)} to the internal one'
    )
    assert internal.hosts == []  # the second DNS answer was never used
    assert checked.hosts == [f'img.example:{checked.port}']  # Host header kept
    assert data == _png('green') and lookups == ['img.example']
