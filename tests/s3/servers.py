"""A real object store for the tests: moto's S3 server on loopback, and a proxy in front of it
that injects the store's faults (503 SlowDown, 500, resets, slow reads)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

import boto3
from botocore.config import Config as BotoConfig
from moto.server import ThreadedMotoServer

ACCESS_KEY = 'AKIATESTKEYREVERIE01'  # distinctive, so a test can find them anywhere they leak
SECRET_KEY = 'sEcReT/rEvErIe+TeSt+KeY+0123456789abcdefg'
REGION = 'us-east-1'


class MotoS3:
    """moto's S3 in server mode on 127.0.0.1 (a free port)."""

    def __init__(self) -> None:
        self.server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f'http://{host}:{port}'
        self.port = port

    def env(self, url: str | None = None) -> dict[str, str]:
        """The standard AWS settings that point a client at this server (or ``url``)."""
        return {
            'AWS_ENDPOINT_URL': url or self.url,
            'AWS_ACCESS_KEY_ID': ACCESS_KEY,
            'AWS_SECRET_ACCESS_KEY': SECRET_KEY,
            'AWS_DEFAULT_REGION': REGION,
        }

    def client(self) -> object:
        """A plain boto3 client of the server (no proxy), for checking what is stored."""
        return boto3.client(
            's3',
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=BotoConfig(s3={'addressing_style': 'path'}),
        )

    def new_bucket(self) -> str:
        name = f'rv-{uuid.uuid4().hex[:12]}'
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def stop(self) -> None:
        self.server.stop()


@dataclass
class Fault:
    """What to do to the next ``count`` requests whose method is ``method`` (None: any)."""

    kind: str  # '503', '500', '501', 'reset', 'reset-after' (forwarded, then cut), 'slow'
    count: int = 1
    method: str | None = None
    delay: float = 0.0  # 'slow': seconds before the body is sent


_SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b'<Message>Please reduce your request rate.</Message></Error>'
)
_NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
    b'<Message>A header you provided implies functionality that is not implemented.</Message>'
    b'</Error>'
)
_INTERNAL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b'<Message>We encountered an internal error. Please try again.</Message></Error>'
)


@dataclass
class FaultProxy:
    """An HTTP proxy on loopback in front of ``upstream`` (host, port), in its own thread.

    Each request is read whole, then either answered with a fault or forwarded on a fresh
    upstream connection and its answer relayed. ``faults`` are used in order; ``down``
    answers every request with 500 until cleared. ``seen`` counts requests by method.
    """

    upstream: tuple[str, int]
    faults: list[Fault] = field(default_factory=list)
    down: bool = False
    seen: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def inject(self, kind: str, count: int = 1, method: str | None = None, delay: float = 0.0):
        self.faults.append(Fault(kind, count, method, delay))

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._serve, '127.0.0.1', 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            for writer in list(self._open):
                writer.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _take(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.method in (None, method):
                fault.count -= 1
                self.injected[fault.kind] += 1
                return fault
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._requests(reader, writer)
        finally:
            self._open.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, OSError):
            while True:
                try:
                    head = await reader.readuntil(b'\r\n\r\n')
                except asyncio.IncompleteReadError:
                    break
                lines = head.decode('latin-1').split('\r\n')
                method = lines[0].split(' ', 1)[0]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(':') for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get('content-length', 0)))
                self.seen[method] += 1
                fault = _DOWN if self.down else self._take(method)
                if fault is not None and fault.kind == 'reset':
                    break  # nothing answered: the client sees the connection closed
                if fault is not None and fault.kind in _ERRORS:
                    payload, reason = _ERRORS[fault.kind]
                    writer.write(
                        f'HTTP/1.1 {fault.kind} {reason}\r\nContent-Type: application/xml\r\n'
                        f'Content-Length: {len(payload)}\r\n\r\n'.encode()
                        + (payload if method != 'HEAD' else b'')
                    )
                    await writer.drain()
                    continue
                answer = await self._forward(head, body)
                if fault is not None and fault.kind == 'reset-after':
                    break  # the store did the work; the client never hears of it
                split = answer.find(b'\r\n\r\n') + 4
                writer.write(answer[:split])
                await writer.drain()
                if fault is not None and fault.kind == 'slow':
                    await asyncio.sleep(fault.delay)
                writer.write(answer[split:])
                await writer.drain()
                if b'connection: close' in answer[:split].lower():
                    break

    async def _forward(self, head: bytes, body: bytes) -> bytes:
        lines = [
            line
            for line in head.decode('latin-1').split('\r\n')
            if line and not line.lower().startswith(('connection:', 'keep-alive:'))
        ]
        request = '\r\n'.join([*lines, 'Connection: close', '', '']).encode('latin-1') + body
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            up_writer.write(request)
            await up_writer.drain()
            answer = await up_reader.read()
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()
        # Relay as a keep-alive answer: moto closes after each request we sent it.
        return answer.replace(b'Connection: close\r\n', b'')


_DOWN = Fault('500', count=1 << 30)
_ERRORS = {
    '503': (_SLOWDOWN, 'Slow Down'),
    '500': (_INTERNAL, 'Internal Server Error'),
    '501': (_NOT_IMPLEMENTED, 'Not Implemented'),
}
