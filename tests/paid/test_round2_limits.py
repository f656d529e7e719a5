"""Hard limits on what a server sends (issue 19, row 4): a total deadline per call and per
download, and caps on an answer's size on the wire and once inflated, checked as it streams.

Issue: an image URL sending 1 byte every 2 s hung an insert 90 s with a 30 s timeout (per
read); an API answer with ``Content-Encoding: gzip`` (6 MB on the wire, 3 GB inflated) took
108 s and 3.18 GB of memory and ended in ``MemoryError``.
"""

from __future__ import annotations

import asyncio
import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reverie.config import Config
from reverie.errors import ServiceError
from reverie.functions.gemini import provider
from reverie.functions.images.provider import ImageRequest
from reverie.store import images as store_images
from reverie.store.images import ImageInputError, download
from tests.functions.providers.gemini_server import GeminiStandIn
from tests.reliability._util import PYTHON, ROOT, child_env

FLASH = 'gemini-3.1-flash-image'


@pytest.fixture
def gemini_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[GeminiStandIn]:
    home = tmp_path / 'home'
    home.mkdir()
    (home / 'config.toml').write_text('[gemini]\ntimeout = 2\n')
    monkeypatch.setenv('REVERIE_HOME', str(home))
    with GeminiStandIn() as server:
        monkeypatch.setenv('GEMINI_API_KEY', server.key)
        monkeypatch.setenv('GEMINI_BASE_URL', server.url)
        yield server


def _send() -> None:
    async def run() -> None:
        await provider().send(ImageRequest('create', FLASH, 'a fox', (), None, {}), Config.load())

    asyncio.run(run())


def test_a_dripping_api_answer_stops_at_the_total_deadline(gemini_server):
    gemini_server.drip_interval = 0.5  # under the 2 s per-read timeout: never a read timeout
    gemini_server.script.append('drip')
    start = time.monotonic()
    with pytest.raises(ServiceError, match='within 2 s') as info:
        _send()
    elapsed = time.monotonic() - start
    print(f'PAID drip (1 byte / 0.5 s, timeout 2 s): stopped after {elapsed:.1f} s')
    assert elapsed < 3.0
    assert info.value.maybe_charged  # the request had left: counted, retried once at most


class _Drip(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header('Content-Type', 'image/png')
        self.send_header('Content-Length', '100000')
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b'\x89')
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass


def test_a_dripping_image_url_stops_within_the_download_deadline(monkeypatch):
    monkeypatch.setattr(store_images, 'DOWNLOAD_TIMEOUT_SECONDS', 2.0)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start = time.monotonic()
        with pytest.raises(ImageInputError, match='within 2 s'):
            download(f'http://127.0.0.1:{server.server_address[1]}/x.png', allow_private_urls=True)
        elapsed = time.monotonic() - start
    finally:
        server.shutdown()
        server.server_close()
    print(f'PAID drip image URL (1 byte / 0.5 s, deadline 2 s): stopped after {elapsed:.1f} s')
    assert elapsed < 3.0


BOMB = r"""
import asyncio, resource, time, zlib
from reverie.errors import ServiceError
from reverie.functions.images import http
import os

CAP = int(os.environ['CAP'])
INFLATED = int(os.environ['INFLATED'])
http.MAX_INFLATED_BYTES = CAP

def bomb() -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = z.compress(b'{"candidates": "')
    zeros = b'0' * 2**20
    return head + b''.join(z.compress(zeros) for _ in range(INFLATED // 2**20)) + z.flush()

def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def measure(send, arm) -> None:
    try:
        asyncio.run(send())  # warm up: one ordinary answer
    except ServiceError:
        pass
    before = peak()
    arm()
    start = time.monotonic()
    try:
        asyncio.run(send())
        outcome = 'accepted'
    except ServiceError as e:
        outcome = f'refused maybe_charged={e.maybe_charged} {e}'
    except MemoryError:
        outcome = 'MemoryError'
    print('WIRE', len(bomb()))
    print('GROWTH', peak() - before)
    print('SECONDS', time.monotonic() - start)
    print('OUTCOME', outcome)
"""

GEMINI_BOMB = r"""
from reverie.config import Config
from reverie.functions.gemini import provider
from reverie.functions.images.provider import ImageRequest
from tests.functions.providers.gemini_server import GeminiStandIn

with GeminiStandIn() as server:
    server.bomb = bomb()
    os.environ['GEMINI_API_KEY'] = server.key
    os.environ['GEMINI_BASE_URL'] = server.url
    config = Config.load()
    request = ImageRequest('create', 'gemini-3.1-flash-image', 'a fox', (), None, {})
    measure(lambda: provider().send(request, config), lambda: server.script.append('gzip-bomb'))
"""

# The Reve client read its answers whole, past every cap (found in this round's review).
REVE_BOMB = r"""
import http.server, threading
from reverie.functions.reve.client import ReveClient

answers = [zlib.compress(b'{}', wbits=16 + zlib.MAX_WBITS)]

class Bomb(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers['Content-Length']))
        body = answers[-1]
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Encoding', 'gzip')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass

server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Bomb)
threading.Thread(target=server.serve_forever, daemon=True).start()

async def send() -> None:
    async with ReveClient('papi.bomb', f'http://127.0.0.1:{server.server_port}') as client:
        await client.create('a fox')

measure(send, lambda: answers.append(bomb()))
"""


@pytest.mark.parametrize('provider_script', [GEMINI_BOMB, REVE_BOMB], ids=['gemini', 'reve'])
def test_a_gzip_bomb_is_refused_at_the_cap_with_memory_under_twice_the_cap(
    tmp_path: Path, provider_script: str
) -> None:
    cap, inflated = 32 * 2**20, 1024 * 2**20
    script = tmp_path / 'bomb.py'
    script.write_text(BOMB + provider_script)
    done = subprocess.run(
        [PYTHON, str(script)],
        env=child_env(tmp_path / 'home', CAP=str(cap), INFLATED=str(inflated)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    facts = dict(line.split(' ', 1) for line in done.stdout.splitlines() if ' ' in line)
    growth, wire = int(facts['GROWTH']), int(facts['WIRE'])
    print(
        f'PAID gzip bomb: {wire / 2**20:.1f} MiB on the wire, {inflated // 2**20} MiB inflated, '
        f'cap {cap // 2**20} MiB: {facts["OUTCOME"][:60]!r} after {float(facts["SECONDS"]):.2f} '
        f's, peak memory +{growth / 2**20:.0f} MiB'
    )
    assert facts['OUTCOME'].startswith('refused maybe_charged=True'), facts['OUTCOME']
    assert 'once inflated' in facts['OUTCOME']
    assert growth < 2 * cap
