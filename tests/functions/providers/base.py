"""What every stand-in provider server shares: real HTTP on loopback in a thread, a log of
calls (with what each charged), scripted failures, and small image helpers.

Each provider module (``openai_server``, ``gemini_server``, ``bfl_server``) implements
``handle(request) -> Reply`` from that provider's published contract.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import PIL.Image


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b''
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (a reset after sending)
    drip: float = 0.0  # seconds between single bytes of the body (a trickling server)

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> Reply:
        return cls(
            status, json.dumps(data).encode(), {'Content-Type': 'application/json', **headers}
        )


@dataclass
class Call:
    """One request the server saw, and what it charged (USD) for it."""

    method: str
    path: str
    status: int
    charged: float = 0.0
    fields: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    """A provider stand-in on 127.0.0.1 (port chosen by the OS), served from a thread."""

    key = 'test-key'

    def __init__(self, host: str = '127.0.0.1') -> None:
        self.calls: list[Call] = []
        self.script: deque[str] = deque()  # planned outcomes of the next paid requests
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={'poll_interval': 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f'http://{host!s}:{port}'

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_outcome(self) -> str | None:
        with self.lock:
            return self.script.popleft() if self.script else None

    def log(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def paid_calls(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.charged > 0]

    def handle(self, request: Request) -> Reply:  # pragma: no cover - overridden
        raise NotImplementedError


def _handler(server: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length) if length else b''
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server.handle(Request(self.command, parts.path, query, headers, body))
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header('Content-Length', str(len(reply.body)))
            self.end_headers()
            if not reply.drip:
                self.wfile.write(reply.body)
                return
            try:
                for i in range(len(reply.body)):
                    self.wfile.write(reply.body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(reply.drip)
            except OSError:  # the client gave up
                self.close_connection = True

        do_GET = do_POST = _serve

    return Handler


def png(width: int, height: int, seed: str = '') -> bytes:
    """A PNG of the given size, its colour derived from ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    buf = io.BytesIO()
    PIL.Image.new('RGB', (width, height), tuple(digest[:3])).save(buf, format='PNG')
    return buf.getvalue()


def decode_image(text: Any) -> PIL.Image.Image | None:
    """The image in base64 ``text``, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        img = PIL.Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
        img.load()
    except Exception:
        return None
    return img


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def shorten(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields for the log: long base64 strings replaced by their length."""
    return {
        k: (f'<{len(v)} chars>' if isinstance(v, str) and len(v) > 200 else v)
        for k, v in fields.items()
    }


def letter_vector(text: str, size: int) -> list[float]:
    """A deterministic stand-in embedding: letter counts (folded into ``size``), unit length."""
    v = [0.01] * size
    for ch in text.lower():
        if 'a' <= ch <= 'z':
            v[(ord(ch) - 97) % size] += 1.0
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v]
