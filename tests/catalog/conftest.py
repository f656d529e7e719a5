"""Fixtures of the catalog tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reverie.reve_server import ServerOptions, serve_in_thread


@pytest.fixture
def reve_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The local Reve server on loopback; yields the file it logs each image request to."""
    log = tmp_path / 'requests.jsonl'
    with serve_in_thread(ServerOptions(request_log=log, megapixels=0.01)) as server:
        monkeypatch.setenv('REVE_API_KEY', 'papi.view-tests')
        monkeypatch.setenv('REVE_API_URL', server.url)
        yield log
