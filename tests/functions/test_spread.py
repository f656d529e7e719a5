"""Requests spread over small connection pools (issue 20), seen from a server on loopback.

The server counts the connections it accepts and the requests it holds at once. It holds
the requests of a wave until as many as it expects are in flight together, so the counts do
not depend on how fast a loaded machine sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import httpx
import pytest

from reverie.functions.images.spread import SpreadClient


class CountingServer:
    """HTTP/1.1 keep-alive answers, held until ``expect(n)`` requests are in flight at once."""

    def __init__(self) -> None:
        self.connections = 0
        self.in_flight = 0
        self.peak = 0
        self.url = ''
        self._all_in = asyncio.Event()
        self._hold = 0

    def expect(self, n: int) -> None:
        """Hold the next requests until ``n`` are in flight (then answer them all at once)."""
        self._all_in, self._hold, self.peak = asyncio.Event(), n, 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b'\r\n\r\n'):
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                if self.in_flight >= self._hold:
                    self._all_in.set()
                # a wave that never gathers is answered anyway; its counts then say so
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_in.wait(), 10)
                self.in_flight -= 1
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _serving(test: Callable[[CountingServer], Awaitable[None]]) -> None:
    """Run ``test`` against a fresh server on loopback, in an event loop of its own."""

    async def main() -> None:
        counting = CountingServer()
        listening = await asyncio.start_server(counting.handle, '127.0.0.1', 0)
        counting.url = f'http://127.0.0.1:{listening.sockets[0].getsockname()[1]}/'
        async with listening:
            await test(counting)

    asyncio.run(main())


def _client(max_connections: int, per_pool: int) -> SpreadClient:
    return SpreadClient(lambda limits: httpx.AsyncClient(limits=limits), max_connections, per_pool)


async def _wave(client: SpreadClient, url: str, n: int) -> list[bytes]:
    async def one() -> bytes:
        async with client.stream('GET', url) as response:
            return await response.aread()

    return await asyncio.gather(*(one() for _ in range(n)))


def test_a_wave_spreads_over_pools_made_as_needed_and_keeps_its_connections() -> None:
    _serving(_spread_and_kept)


async def _spread_and_kept(server: CountingServer) -> None:
    client = _client(max_connections=64, per_pool=4)
    try:
        assert client.pools == 1  # the first, for its timeout
        server.expect(10)
        assert await _wave(client, server.url, 10) == [b'ok'] * 10
        assert client.pools == 3  # 4 + 4 + 2: a pool is made only when the others are full
        assert server.peak == 10  # none waited for a connection
        assert server.connections == 10
        server.expect(10)
        assert await _wave(client, server.url, 10) == [b'ok'] * 10
        assert server.connections == 10  # the second wave reused them (keep-alive)
        assert client.pools == 3
    finally:
        await client.aclose()
    assert client.is_closed
    with pytest.raises(RuntimeError, match='closed'):
        async with client.stream('GET', server.url):
            pass


def test_past_max_connections_requests_wait_for_a_free_one() -> None:
    _serving(_queued)


async def _queued(server: CountingServer) -> None:
    client = _client(max_connections=6, per_pool=4)
    try:
        server.expect(6)  # the first 6 wait for each other; the other 9 wait for them
        assert await _wave(client, server.url, 15) == [b'ok'] * 15
        assert client.pools == 2  # 4 + 2
        assert server.peak == 6
        assert server.connections == 6
    finally:
        await client.aclose()
