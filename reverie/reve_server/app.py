"""HTTP handling: routing, auth, credits, limits, faults and JSON or raw-image answers.

`ReveHTTPServer` is a `ThreadingHTTPServer` (HTTP/1.1 with keep-alive, one thread per
connection). Its handler threads share one `ServerState`: the options, the credit balance,
the in-flight count and the request records, all behind one lock. `server.py` wraps it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from reverie.reve_server import faults as faults_mod
from reverie.reve_server import render
from reverie.reve_server.backend import Backend, DeterministicBackend
from reverie.reve_server.options import (
    BUDGET_ID,
    CLOSED_STATUS,
    MAX_BODY_BYTES,
    ApiError,
    RequestRecord,
    ServerOptions,
    invalid,
)
from reverie.reve_server.validate import ImageRequest, parse_json_body, parse_request, text_of

IMAGE_ENDPOINTS = {
    '/v1/image/create': 'create',
    '/v1/image/edit': 'edit',
    '/v1/image/remix': 'remix',
}
EFFECT_PATH, BALANCE_PATH = '/v1/image/effect', '/api/misc/balance'
ROUTES = {**dict.fromkeys(IMAGE_ENDPOINTS, 'POST'), EFFECT_PATH: 'GET', BALANCE_PATH: 'GET'}
_RAW_TYPES: dict[str, render.ImageFormat] = {
    'image/png': 'png',
    'image/*': 'png',
    'image/jpeg': 'jpeg',
    'image/jpg': 'jpeg',
    'image/webp': 'webp',
}
_JSON_TYPES = frozenset({'application/json', 'application/*', '*/*'})


def negotiate(accept: str | None) -> render.ImageFormat | None:
    """Return the raw image format `Accept` asks for, or None for JSON (§5)."""
    best: render.ImageFormat | None = None
    best_q = 0.0
    for part in (accept or '').split(','):
        media, *params = (piece.strip().lower() for piece in part.split(';'))
        if media not in _RAW_TYPES and media not in _JSON_TYPES:
            continue
        q = 1.0
        for param in params:
            if param.startswith('q='):
                with contextlib.suppress(ValueError):
                    q = float(param[2:])
        if q > best_q:
            best, best_q = _RAW_TYPES.get(media), q
    return best


@dataclass
class _Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None  # an answer fault applied when sending (drip, reset)


def _json_answer(status: int, payload: object, headers: dict[str, str]) -> _Answer:
    text = json.dumps(payload).replace('Infinity', '1e400')  # an absurd credits figure
    return _Answer(status, 'application/json', text.encode(), headers)


def _error_answer(err: ApiError, request_id: str, fmt: render.ImageFormat | None) -> _Answer:
    headers = {'X-Reve-Request-Id': request_id, 'X-Reve-Error-Code': err.code, **err.headers}
    if fmt is not None:
        return _Answer(err.status, f'image/{fmt}', render.placeholder(fmt), headers)
    payload = {'error_code': err.code, 'message': err.message, 'params': err.params}
    return _json_answer(err.status, payload, headers)


def _rate_limited(options: ServerOptions) -> ApiError:
    until = datetime.now(UTC) + timedelta(seconds=options.retry_after)
    if until.microsecond:  # round up: never tell a client to come back too early
        until = until.replace(microsecond=0) + timedelta(seconds=1)
    return ApiError(
        429,
        'PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED',
        'Too many requests for this API key; retry later.',
        {'retry_after': until.strftime('%Y-%m-%dT%H:%M:%SZ')},
        headers={'Retry-After': str(options.retry_after)},
    )


@dataclass(frozen=True)
class _Faults:
    fail: bool
    stall: bool
    answer: str | None = None


class ServerState:
    """Mutable server state shared by the handler threads."""

    def __init__(self, options: ServerOptions) -> None:
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.stopping = threading.Event()
        self.options = options
        self.backend = self._backend(options)
        self.credits = options.credits
        self.rng = random.Random(options.seed)
        self.in_flight = 0
        self.peak = 0
        self.records: list[RequestRecord] = []

    @staticmethod
    def _backend(options: ServerOptions) -> Backend:
        return options.backend or DeterministicBackend(options.megapixels)

    def configure(self, changes: dict[str, Any]) -> None:
        with self.lock:
            if {'host', 'port'} & set(changes):
                raise ValueError('host and port cannot change while the server runs.')
            self.options = replace(self.options, **changes)
            if {'backend', 'megapixels'} & set(changes):
                self.backend = self._backend(self.options)
            if 'credits' in changes:
                self.credits = self.options.credits
            if 'seed' in changes:
                self.rng = random.Random(self.options.seed)

    @contextlib.contextmanager
    def admitted(self, options: ServerOptions) -> Iterator[_Faults]:
        """Count an image call as in flight, or raise 429; draw its injected faults."""
        with self.lock:
            draw_429, draw_500, draw_stall, draw_fault = (self.rng.random() for _ in range(4))
            limit = options.max_concurrency
            if draw_429 < options.rate_429_rate or (limit is not None and self.in_flight >= limit):
                raise _rate_limited(options)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            answer = options.answer_fault if draw_fault < options.answer_fault_rate else None
            yield _Faults(draw_500 < options.fail_500_rate, draw_stall < options.stall_rate, answer)
        finally:
            with self.lock:
                self.in_flight -= 1

    def charge(self, cost: int) -> int:
        """Take `cost` credits and return the balance left, or raise 402."""
        with self.lock:
            if cost > self.credits:
                raise ApiError(
                    402,
                    'PARTNER_API_BUDGET_EXHAUSTED',
                    'The credit budget is exhausted.',
                    {'requested_amount': cost, 'available_amount': self.credits},
                )
            self.credits -= cost
            return self.credits

    def refund(self, cost: int) -> None:
        with self.lock:
            self.credits += cost

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, returning early when the server stops."""
        if seconds > 0:
            self.stopping.wait(seconds)

    def log_sent(self, request_id: str, log: Path | None) -> None:
        """Note when an answer was handed over whole (``ServerOptions.sent_log``)."""
        if log is not None:
            line = json.dumps({'request_id': request_id, 't_sent': time.time()})
            with self.log_lock, open(log, 'a', encoding='utf-8') as file:
                file.write(line + '\n')

    def record(self, entry: RequestRecord, log: Path | None) -> None:
        with self.lock:
            self.records.append(entry)
        if log is not None:
            with self.log_lock, open(log, 'a', encoding='utf-8') as file:
                file.write(json.dumps(asdict(entry)) + '\n')


def _generate(backend: Backend, req: ImageRequest) -> Image.Image:
    if req.endpoint == 'create':
        return backend.create(req.text, req.aspect_ratio or '3:2', req.version)
    if req.endpoint == 'edit':
        return backend.edit(req.text, req.images[0], req.aspect_ratio, req.version)
    return backend.remix(req.text, list(req.images), req.aspect_ratio, req.version)


class _Stopped(Exception):
    """The server stopped while an image call waited; it ends without an answer."""


@dataclass
class _Call:
    """What the request log needs to know about one image request."""

    request_id: str
    prompt: str | None = None
    credits_used: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'reve-compatible/1.0'
    timeout = 120.0  # idle keep-alive connections close after this
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: ReveHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; `ServerOptions.request_log` records image requests."""

    def do_GET(self) -> None:
        """Handle every method the same way; routing decides what is allowed."""
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol-level errors (bad request line, unknown method) in JSON."""
        self.close_connection = True
        err = ApiError(code, 'INVALID_REQUEST', message or 'The HTTP request is malformed.')
        self._send(_error_answer(err, f'rsid-{uuid.uuid4()}', None))

    def _handle(self) -> None:
        state = self.server.state
        options = state.options
        url = urlsplit(self.path)
        path = url.path.rstrip('/') or '/'
        endpoint = IMAGE_ENDPOINTS.get(path) if self.command == 'POST' else None
        fmt = negotiate(self.headers.get('Accept')) if endpoint else None
        if endpoint and options.raw_answers:
            fmt = fmt or 'png'
        call = _Call(f'rsid-{uuid.uuid4()}')
        t_start = time.time()
        try:
            body = self._read_body()
            answer = self._route(path, url.query, endpoint, body, options, fmt, call)
        except _Stopped:  # the server stopped while the call waited: no answer, no charge
            self.close_connection = True
            return
        except ApiError as err:
            answer = _error_answer(err, call.request_id, fmt)
        except Exception:
            traceback.print_exc()
            failure = ApiError(
                500, 'INTERNAL_SERVER_ERROR', 'The server failed to handle the request.'
            )
            answer = _error_answer(failure, call.request_id, fmt)
        if endpoint is not None:
            code = answer.headers.get('X-Reve-Error-Code')
            entry = RequestRecord(
                endpoint, answer.status, code, call.request_id, call.prompt,
                call.credits_used, t_start, time.time(),
            )  # fmt: skip
            state.record(entry, options.request_log)
        self._send(answer)
        if endpoint is not None and answer.status == 200 and answer.fault != 'reset':
            state.log_sent(call.request_id, options.sent_log)

    def _read_body(self) -> bytes:
        if 'Transfer-Encoding' in self.headers:
            self.close_connection = True
            raise invalid('Transfer-Encoding', 'not supported; send a Content-Length body')
        try:
            length = int(self.headers.get('Content-Length', '0'))
        except ValueError:
            self.close_connection = True
            raise invalid('Content-Length', 'must be an integer') from None
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True  # the unread body makes the connection unusable
            raise invalid('body', f'must be at most {MAX_BODY_BYTES} bytes')
        return self.rfile.read(length) if length else b''

    def _route(
        self,
        path: str,
        query: str,
        endpoint: str | None,
        body: bytes,
        options: ServerOptions,
        fmt: render.ImageFormat | None,
        call: _Call,
    ) -> _Answer:
        if options.closed:
            message = 'The Reve API was retired on 2026-08-14; this service is closed.'
            raise ApiError(CLOSED_STATUS, 'PARTNER_API_CLOSED', message)
        method = ROUTES.get(path)
        if method is None:
            raise ApiError(404, 'NOT_FOUND', f'There is no endpoint at {path!r}.')
        if self.command != method:
            message = f'{path} accepts {method}, not {self.command}.'
            raise ApiError(405, 'METHOD_NOT_ALLOWED', message, headers={'Allow': method})
        self._authenticate(options)
        headers = {'X-Reve-Request-Id': call.request_id}
        if endpoint is not None:
            return self._image(endpoint, body, options, fmt, call)
        if path == EFFECT_PATH:
            source = parse_qs(query).get('source', ['all'])[-1]
            if source not in ('all', 'project', 'preset'):
                raise invalid('source', 'must be one of all, project, preset')
            effects = [e.describe() for e in render.EFFECTS.values() if source in ('all', e.source)]
            return _json_answer(200, {'effects': effects}, headers)
        balance = self.server.state.credits
        return _json_answer(200, {'budget_id': BUDGET_ID, 'new_balance': balance}, headers)

    def _authenticate(self, options: ServerOptions) -> None:
        scheme, _, token = self.headers.get('Authorization', '').partition(' ')
        token = token.strip()
        known = options.api_keys is None or token in options.api_keys
        if scheme.lower() != 'bearer' or not token or not known:
            raise ApiError(
                401,
                'INVALID_API_KEY',
                'Missing or invalid API key; send "Authorization: Bearer <key>".',
                headers={'WWW-Authenticate': 'Bearer'},
            )

    def _image(
        self,
        endpoint: str,
        body: bytes,
        options: ServerOptions,
        fmt: render.ImageFormat | None,
        call: _Call,
    ) -> _Answer:
        state = self.server.state
        began = time.monotonic()
        data = parse_json_body(self.headers.get('Content-Type'), body)
        call.prompt = text_of(endpoint, data)
        req = parse_request(endpoint, data)
        if 'content-violation' in req.text.lower():
            return _success(req.version, None, 0, state.credits, call.request_id, fmt)
        cost = req.cost
        # The call takes its latency in all, reading and drawing included, as a real
        # service's does: the picture is drawn while the call waits, not after.
        due = began + options.latency_for(req.version)
        with state.admitted(options) as faults:
            remaining = state.charge(cost)
            try:
                if faults.stall:
                    state.sleep(options.stall_seconds)
                    due += options.stall_seconds
                if faults.fail:
                    raise ApiError(500, 'INTERNAL_SERVER_ERROR', 'Injected server error.')
                image = render.postprocess(_generate(state.backend, req), req.steps)
                payload = render.encode(image, fmt or 'png')
                state.sleep(due - time.monotonic())
                if state.stopping.is_set():
                    raise _Stopped
            except BaseException:
                state.refund(cost)
                raise
        call.credits_used = cost
        if faults.answer is not None and (fmt or 'png') == 'png':
            payload = faults_mod.corrupt_png(payload, faults.answer)
        reported: object = cost
        if options.reported_credits is not None:
            reported = _json_literal(options.reported_credits)
        answer = _success(req.version, payload, reported, remaining, call.request_id, fmt)
        answer.fault = faults.answer
        return answer

    def _send(self, answer: _Answer) -> None:
        if answer.fault == 'reset':
            # Charged and logged; the client gets a reset instead of an answer.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)
                )
                self.connection.close()
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header('Content-Type', answer.content_type)
        self.send_header('Content-Length', str(len(answer.body)))
        if self.close_connection:
            self.send_header('Connection', 'close')
        self.end_headers()
        if self.command == 'HEAD':
            return
        if answer.fault == 'drip':
            self.wfile.flush()
            state = self.server.state
            for i in range(len(answer.body)):
                if state.stopping.is_set():
                    break
                self.wfile.write(answer.body[i : i + 1])
                self.wfile.flush()
                state.sleep(state.options.drip_interval)
            return
        self.wfile.write(answer.body)


def _json_literal(text: str) -> object:
    """A JSON literal as Python (``1e400`` becomes inf, which json.dumps writes back)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _success(
    version: str,
    payload: bytes | None,
    used: object,
    remaining: int,
    request_id: str,
    fmt: render.ImageFormat | None,
) -> _Answer:
    """Build a 200 answer; `payload` None means a content violation (no image)."""
    violation = payload is None
    headers = {
        'X-Reve-Request-Id': request_id,
        'X-Reve-Version': version,
        'X-Reve-Content-Violation': 'true' if violation else 'false',
        'X-Reve-Credits-Used': _header_number(used),
        'X-Reve-Credits-Remaining': str(remaining),
    }
    if fmt is not None:
        return _Answer(200, f'image/{fmt}', payload or b'', headers)
    body = {
        'image': None if payload is None else base64.b64encode(payload).decode('ascii'),
        'version': version,
        'content_violation': violation,
        'request_id': request_id,
        'credits_used': used,
        'credits_remaining': remaining,
    }
    return _json_answer(200, body, headers)


def _header_number(value: object) -> str:
    if isinstance(value, float) and value == float('inf'):
        return '1e400'
    return str(value)


class ReveHTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that can close idle keep-alive connections on shutdown."""

    daemon_threads = True
    request_queue_size = 256  # many clients connect at once; a short backlog drops SYNs

    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ':' in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Shut down open client connections so their handler threads end."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client went away
        super().handle_error(request, client_address)
