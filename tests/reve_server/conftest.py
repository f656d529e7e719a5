from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from reverie.reve_server import ReveServer, ServerOptions, serve_in_thread
from tests.reve_server.util import make_client

MakeServer = Callable[..., ReveServer]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """Start servers (small images by default) that stop when the test ends."""
    with contextlib.ExitStack() as stack:

        def make(**options: object) -> ReveServer:
            options.setdefault('megapixels', 0.01)
            return stack.enter_context(serve_in_thread(ServerOptions(**options)))  # type: ignore[arg-type]

        yield make


@pytest.fixture
def server(make_server: MakeServer) -> ReveServer:
    return make_server()


@pytest.fixture
def client(server: ReveServer) -> Iterator[httpx.Client]:
    with make_client(server) as c:
        yield c
