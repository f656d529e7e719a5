"""Fixtures for the paid-call tests: the local Reve server with a request log (the ground
truth: what was charged), and the books to compare it with the ledger."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reverie.catalog.catalog import Catalog
from reverie.exec import pools
from reverie.reve_server import ReveServer, ServerOptions, serve_in_thread


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter backoff so the suite stays fast (the retry policy itself is unchanged)."""
    monkeypatch.setattr(pools, 'BASE_BACKOFF', 0.05)


@dataclass
class Reve:
    """A running server and the path of its request log."""

    server: ReveServer
    log: Path

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The log once it holds ``n`` requests (handler threads may still be finishing)."""
        deadline = time.monotonic() + timeout
        while len(self.entries()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.entries()

    def calls_per_prompt(self) -> collections.Counter[str]:
        return collections.Counter(e['prompt'] for e in self.entries())

    def charged(self) -> int:
        """Credits the server charged: the ground truth."""
        return sum(int(e['credits_used']) for e in self.entries())


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Reve]]:
    """Start the local Reve server with ``ServerOptions(**kw)``; settings point at it."""
    with ExitStack() as stack:

        def start(**kw: Any) -> Reve:
            log = tmp_path / f'requests-{time.monotonic_ns()}.jsonl'
            kw.setdefault('megapixels', 0.01)
            server = stack.enter_context(serve_in_thread(ServerOptions(request_log=log, **kw)))
            monkeypatch.setenv('REVE_API_KEY', 'papi.paid-tests')
            monkeypatch.setenv('REVE_API_URL', server.url)
            return Reve(server, log)

        yield start


def ledger_credits(catalog: Catalog) -> float:
    assert catalog.exec.ledger is not None
    return catalog.exec.ledger.report.spent()
