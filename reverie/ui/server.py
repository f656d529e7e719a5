"""Serve the UI with uvicorn: bind, print the URL, run until stopped.

The socket is bound here (port 0 picks a free port) so the URL printed is the real one
before the first request. uvicorn's access log is off: a URL can carry the token once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

import uvicorn

from reverie.errors import check_keywords
from reverie.ui.app import create_app
from reverie.ui.security import is_loopback, new_token

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog


@dataclass(frozen=True)
class Bound:
    """A bound listening socket and what a browser should open."""

    sock: socket.socket
    url: str  # the address to open (with ?token=... when a token is required)
    token: str | None


def bind(host: str, port: int, token: str | None) -> Bound:
    """Bind ``host:port``; a host that is not loopback gets a token (a new one if None)."""
    if not is_loopback(host) and token is None:
        token = new_token()
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it a response written in two parts waits for a delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    real_port = sock.getsockname()[1]
    shown = '127.0.0.1' if host in ('0.0.0.0', '') else host
    if ':' in shown:
        shown = f'[{shown}]'
    url = f'http://{shown}:{real_port}/'
    return Bound(sock, url + (f'?token={token}' if token else ''), token)


def make_server(
    catalog: Catalog,
    bound: Bound,
    *,
    allow_writes: bool = False,
) -> uvicorn.Server:
    app = create_app(catalog, allow_writes=allow_writes, token=bound.token)
    config = uvicorn.Config(
        app,
        access_log=False,
        log_level='warning',
        timeout_graceful_shutdown=2,
        lifespan='off',
    )
    return uvicorn.Server(config)


class ServeOptions(TypedDict, total=False):
    """Where and how the UI listens.

    ``host`` (default ``'127.0.0.1'``), ``port`` (0, the default: a free one),
    ``allow_writes`` (False), ``token`` (None: a new one when the host is not loopback).
    """

    host: str
    port: int
    allow_writes: bool
    token: str | None


def _start(catalog: Catalog, options: ServeOptions) -> tuple[Bound, uvicorn.Server]:
    check_keywords('serve', options, ServeOptions)
    bound = bind(options.get('host', '127.0.0.1'), options.get('port', 0), options.get('token'))
    return bound, make_server(catalog, bound, allow_writes=options.get('allow_writes', False))


def serve(catalog: Catalog, **options: Unpack[ServeOptions]) -> None:
    """Serve until Ctrl-C, printing the URL to open first."""
    bound, server = _start(catalog, options)
    mode = 'writes allowed' if options.get('allow_writes') else 'read-only'
    print(f'reverie ui ({mode}) on {catalog.store!r}', flush=True)
    print(f'Open {bound.url}', flush=True)
    if bound.token:
        if options.get('host') in ('0.0.0.0', '::', ''):
            other = bound.url.replace('127.0.0.1', socket.gethostname(), 1)
            print(f'From another machine: {other}', flush=True)
        print('Anyone with this URL (it holds the token) can read these tables.', flush=True)
    server.run(sockets=[bound.sock])


@contextlib.contextmanager
def serve_in_thread(catalog: Catalog, **options: Unpack[ServeOptions]) -> Iterator[Bound]:
    """Serve in a background thread (tests, benchmarks); stopped on exit."""
    bound, server = _start(catalog, options)
    thread = threading.Thread(
        target=server.run, kwargs={'sockets': [bound.sock]}, name='reverie-ui', daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError('The UI server stopped while starting.')
            threading.Event().wait(0.01)
        yield bound
    finally:
        server.should_exit = True
        thread.join(10)
        bound.sock.close()
