"""The public server object: start, reconfigure, inspect and stop a Reve-compatible server."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from reverie.reve_server.app import ReveHTTPServer, ServerState
from reverie.reve_server.options import RequestRecord, ServerOptions


class ReveServer:
    """A local Reve-compatible HTTP server; binds its port when created.

    Examples:
        >>> server = ReveServer(ServerOptions(port=0))
        >>> server.url.startswith('http://127.0.0.1:')
        True
        >>> server.shutdown()
    """

    def __init__(self, options: ServerOptions | None = None) -> None:
        self._state = ServerState(options or ServerOptions())
        self._httpd = ReveHTTPServer(
            (self._state.options.host, self._state.options.port), self._state
        )
        self._lifecycle = threading.Lock()
        self._serving = threading.Event()
        self._closed = False

    def __repr__(self) -> str:
        return f'<ReveServer {self.url}>'

    @property
    def url(self) -> str:
        """Base URL, e.g. `'http://127.0.0.1:54321'`."""
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f'http://[{host}]:{port}' if ':' in host else f'http://{host}:{port}'

    @property
    def options(self) -> ServerOptions:
        """Current options (see `configure`)."""
        return self._state.options

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the image requests seen so far."""
        with self._state.lock:
            return list(self._state.records)

    @property
    def peak_concurrency(self) -> int:
        """Most image calls admitted and in flight at once."""
        with self._state.lock:
            return self._state.peak

    @property
    def credits_remaining(self) -> int:
        """Credits left in the budget."""
        with self._state.lock:
            return self._state.credits

    def configure(self, **changes: object) -> None:
        """Change `ServerOptions` fields while running; `credits=` resets the balance."""
        self._state.configure(changes)

    def reset_stats(self) -> None:
        """Forget the request records and the peak concurrency."""
        with self._state.lock:
            self._state.records.clear()
            self._state.peak = self._state.in_flight

    def serve_forever(self) -> None:
        """Answer requests until `shutdown()` is called (blocking)."""
        with self._lifecycle:
            if self._closed:
                return
            self._serving.set()
        self._httpd.serve_forever(poll_interval=0.02)

    def shutdown(self) -> None:
        """Stop serving, wake sleeping calls, close connections and the socket."""
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
        if self._serving.is_set():
            self._httpd.shutdown()
        self._state.stopping.set()
        self._httpd.close_connections()
        self._httpd.server_close()


@contextlib.contextmanager
def serve_in_thread(options: ServerOptions | None = None) -> Iterator[ReveServer]:
    """Run a `ReveServer` in a daemon thread for the duration of the block.

    Examples:
        >>> with serve_in_thread(ServerOptions(megapixels=0.01)) as server:
        ...     server.url.startswith('http://')
        True
    """
    server = ReveServer(options)
    thread = threading.Thread(target=server.serve_forever, name='reve-server', daemon=True)
    thread.start()
    server._serving.wait()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
