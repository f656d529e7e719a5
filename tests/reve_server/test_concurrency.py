"""Latency, concurrency limits, injected faults, runtime configuration and request records."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image

from reverie.reve_server import ReveServer, ServerOptions, serve_in_thread
from tests.reve_server.conftest import MakeServer
from tests.reve_server.util import error_of, make_client, png_b64


def post_many(
    server: ReveServer, count: int, body: dict[str, object] | None = None
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    with make_client(server, limits=limits) as client, ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(client.post, '/v1/image/create', json=body or {'prompt': f'p{i}'})
            for i in range(count)
        ]
        return [f.result() for f in futures]


def test_sixty_concurrent_calls_overlap(make_server: MakeServer) -> None:
    server = make_server(latency=1.0)
    start = time.perf_counter()
    responses = post_many(server, 60)
    elapsed = time.perf_counter() - start
    assert [r.status_code for r in responses] == [200] * 60
    assert 1.0 <= elapsed < 2.5
    assert server.peak_concurrency == 60
    assert len({r.json()['request_id'] for r in responses}) == 60
    assert server.credits_remaining == 1_000_000 - 60 * 18


def test_max_concurrency_rejects_the_excess_with_429(make_server: MakeServer) -> None:
    server = make_server(latency=0.6, max_concurrency=3, retry_after=7)
    before = datetime.now(UTC).replace(microsecond=0)
    responses = post_many(server, 8)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 3 + [429] * 5
    assert server.peak_concurrency == 3
    for response in responses:
        if response.status_code == 429:
            _, code, params = error_of(response)
            assert code == 'PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED'
            assert response.headers['retry-after'] == '7'
            retry_at = datetime.strptime(str(params['retry_after']), '%Y-%m-%dT%H:%M:%SZ')
            delay = (retry_at.replace(tzinfo=UTC) - before).total_seconds()
            assert 6 <= delay <= 9
    assert server.credits_remaining == 1_000_000 - 3 * 18
    assert sorted(r.status for r in server.requests) == statuses


def test_fast_versions_take_half_the_latency(make_server: MakeServer) -> None:
    server = make_server(latency=0.4)
    with make_client(server) as client:
        body: dict[str, object] = {'edit_instruction': 'e', 'reference_image': png_b64()}
        start = time.perf_counter()
        client.post('/v1/image/edit', json={**body, 'version': 'latest-fast'})
        fast = time.perf_counter() - start
        start = time.perf_counter()
        client.post('/v1/image/edit', json=body)
        standard = time.perf_counter() - start
        assert 0.2 <= fast < 0.35 and 0.4 <= standard < 0.55
        server.configure(fast_latency=0.0)
        start = time.perf_counter()
        client.post('/v1/image/edit', json={**body, 'version': 'latest-fast'})
        assert time.perf_counter() - start < 0.15


class _SlowDrawing:
    """A backend whose drawing takes ``seconds`` (a model's own compute)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def create(self, prompt: str, aspect_ratio: str, version: str) -> Image.Image:
        time.sleep(self.seconds)
        return Image.new('RGB', (8, 8), 'white')

    def edit(self, *args: object) -> Image.Image:
        raise NotImplementedError

    def remix(self, *args: object) -> Image.Image:
        raise NotImplementedError


@pytest.mark.parametrize(('drawing', 'latency', 'takes'), [(0.3, 0.6, 0.6), (0.6, 0.3, 0.6)])
def test_a_call_takes_its_latency_with_the_drawing_inside_it(
    make_server: MakeServer, drawing: float, latency: float, takes: float
) -> None:
    """The latency is the whole call (what ``1 s per call`` means), not latency + drawing."""
    server = make_server(latency=latency, backend=_SlowDrawing(drawing))
    with make_client(server) as client:
        start = time.perf_counter()
        assert client.post('/v1/image/create', json={'prompt': 'p'}).status_code == 200
        elapsed = time.perf_counter() - start
    assert takes <= elapsed < takes + 0.15, elapsed
    (record,) = server.requests
    assert takes - 0.01 <= record.t_end - record.t_start < takes + 0.1


def test_injected_500_refunds_credits(make_server: MakeServer) -> None:
    server = make_server(fail_500_rate=1.0)
    with make_client(server) as client:
        status, code, _ = error_of(client.post('/v1/image/create', json={'prompt': 'p'}))
        assert (status, code) == (500, 'INTERNAL_SERVER_ERROR')
        assert server.credits_remaining == 1_000_000
        assert server.requests[0].status == 500
        assert server.requests[0].credits_used == 0


def test_injected_429(make_server: MakeServer) -> None:
    server = make_server(rate_429_rate=1.0, retry_after=2)
    with make_client(server) as client:
        response = client.post('/v1/image/create', json={'prompt': 'p'})
        assert error_of(response)[:2] == (429, 'PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED')
        assert response.headers['retry-after'] == '2'
        assert server.peak_concurrency == 0


def test_injected_faults_are_reproducible_with_a_seed() -> None:
    def statuses(seed: int) -> list[int]:
        options = ServerOptions(megapixels=0.01, fail_500_rate=0.3, rate_429_rate=0.3, seed=seed)
        with serve_in_thread(options) as server, make_client(server) as client:
            return [
                client.post('/v1/image/create', json={'prompt': 'p'}).status_code for _ in range(20)
            ]

    first = statuses(3)
    assert first == statuses(3)
    assert {200, 429, 500} <= set(first)
    assert first != statuses(4)


def test_stalls(make_server: MakeServer) -> None:
    server = make_server(stall_rate=1.0, stall_seconds=0.3)
    with make_client(server) as client:
        start = time.perf_counter()
        assert client.post('/v1/image/create', json={'prompt': 'p'}).status_code == 200
        assert time.perf_counter() - start >= 0.3


def test_configure_at_runtime(server: ReveServer, client: httpx.Client) -> None:
    server.configure(latency=0.3)
    start = time.perf_counter()
    client.post('/v1/image/create', json={'prompt': 'p'})
    assert time.perf_counter() - start >= 0.3
    server.configure(latency=0.0, closed=True)
    assert client.get('/api/misc/balance').status_code == 410
    server.configure(closed=False, credits=100)
    assert client.get('/api/misc/balance').json()['new_balance'] == 100
    server.configure(megapixels=0.02)
    assert server.options.megapixels == 0.02
    server.configure(api_keys=frozenset({'other'}))
    assert client.get('/api/misc/balance').status_code == 401
    with pytest.raises(ValueError, match='cannot change'):
        server.configure(port=1)
    with pytest.raises(TypeError):
        server.configure(colour='red')
    with pytest.raises(ValueError, match='fail_500_rate'):
        server.configure(fail_500_rate=2.0)


def test_requests_and_reset_stats(server: ReveServer, client: httpx.Client) -> None:
    client.post('/v1/image/create', json={'prompt': 'first'})
    client.post('/v1/image/edit', json={'edit_instruction': 'second'})
    client.get('/api/misc/balance')
    records = server.requests
    assert [(r.endpoint, r.status, r.prompt) for r in records] == [
        ('create', 200, 'first'),
        ('edit', 400, 'second'),
    ]
    assert records[0].credits_used == 18 and records[0].error_code is None
    assert records[1].error_code == 'INVALID_PARAMETER_VALUE'
    assert all(r.t_start <= r.t_end for r in records)
    assert server.peak_concurrency == 1
    server.reset_stats()
    assert server.requests == [] and server.peak_concurrency == 0
    assert server.credits_remaining == 1_000_000 - 18


def test_request_log(make_server: MakeServer, tmp_path: Path) -> None:
    log = tmp_path / 'requests.jsonl'
    server = make_server(request_log=log)
    with make_client(server) as client:
        ok = client.post('/v1/image/create', json={'prompt': 'logged'})
        client.post('/v1/image/remix', json={'prompt': 'r', 'reference_images': []})
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 2
    assert set(lines[0]) == {
        'endpoint', 'status', 'error_code', 'request_id', 'prompt', 'credits_used',
        't_start', 't_end',
    }  # fmt: skip
    assert lines[0]['request_id'] == ok.json()['request_id']
    assert (lines[0]['prompt'], lines[0]['credits_used'], lines[0]['status']) == ('logged', 18, 200)
    assert (lines[1]['endpoint'], lines[1]['status']) == ('remix', 400)


def test_keep_alive_reuses_one_connection(server: ReveServer) -> None:
    host, port = server.url.removeprefix('http://').split(':')
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {'Authorization': 'Bearer k', 'Content-Type': 'application/json'}
        connection.request('POST', '/v1/image/create', body=b'{"prompt": "a"}', headers=headers)
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        connection.request('POST', '/v1/image/create', body=b'{"prompt": ""}', headers=headers)
        second = connection.getresponse()
        second.read()
        assert (first.status, second.status) == (200, 400)
        assert connection.sock is sock and sock is not None
        assert first.getheader('Content-Length') is not None
    finally:
        connection.close()


def test_shutdown_with_idle_and_sleeping_connections() -> None:
    options = ServerOptions(megapixels=0.01, latency=30.0)
    with serve_in_thread(options) as server, make_client(server) as client:

        def call_cut_short() -> None:
            with pytest.raises(httpx.HTTPError):
                client.post('/v1/image/create', json={'prompt': 'p'})

        thread = threading.Thread(target=call_cut_short)
        with make_client(server) as idle:
            assert idle.get('/api/misc/balance').status_code == 200  # keeps a connection open
            thread.start()
            while server.peak_concurrency == 0:
                time.sleep(0.01)
            start = time.perf_counter()
            server.shutdown()
            assert time.perf_counter() - start < 2
            thread.join(5)
            assert not thread.is_alive()
