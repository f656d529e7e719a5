"""Fixtures that give real things: a temp SQLite catalog, a real PostgreSQL cluster,
the local Reve-compatible server and the providers' stand-ins on loopback."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from tests.functions.providers.bfl_server import BFLStandIn
from tests.functions.providers.gemini_server import GeminiStandIn
from tests.functions.providers.openai_server import OpenAIStandIn
from tests.pg import PgCluster, find_pg_bin

_SETTINGS_PREFIXES = ('REVERIE_', 'REVE_')
_db_counter = itertools.count()
# REVERIE_TEST_MEDIA=s3: the catalog fixtures keep media in moto's S3 server (tests/s3).
_TEST_MEDIA = os.environ.get('REVERIE_TEST_MEDIA', '')


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No REVERIE_*/REVE_* settings leak in; REVERIE_HOME is a fresh temp dir."""
    for key in list(os.environ):
        if key.startswith(_SETTINGS_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.setenv('REVERIE_HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('REVERIE_PROGRESS', '0')
    yield


@pytest.fixture(scope='session')
def pg_cluster() -> Iterator[PgCluster | None]:
    """A throwaway PostgreSQL server; None when PostgreSQL is not installed (outside CI)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        if os.environ.get('REVERIE_REQUIRE_POSTGRES') or os.environ.get('CI'):
            pytest.fail('PostgreSQL is required here (CI) but initdb was not found.')
        yield None
        return
    cluster = PgCluster(bin_dir)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=['sqlite', pytest.param('postgres', marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == 'sqlite':
        return f'sqlite:///{tmp_path / "reverie.db"}'
    cluster = request.getfixturevalue('pg_cluster')
    if cluster is None:
        pytest.skip('PostgreSQL is not installed (initdb not found); CI runs these.')
    return str(cluster.create_database(f'rv_test_{os.getpid()}_{next(_db_counter)}'))


@pytest.fixture(scope='session')
def moto_s3() -> Iterator[Any]:
    """moto's S3 server on loopback (a real object store over HTTP), for the session."""
    from tests.s3.servers import MotoS3

    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def media_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Where the catalog fixtures keep media: tmp_path/media, or a new bucket in moto."""
    if _TEST_MEDIA != 's3':
        return {'media_dir': str(tmp_path / 'media')}
    server = request.getfixturevalue('moto_s3')
    monkeypatch = request.getfixturevalue('monkeypatch')
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    return {'media_url': f's3://{server.new_bucket()}/media'}


@pytest.fixture
def catalog(db_url: str, media_settings: dict[str, str]) -> Iterator[Catalog]:
    """The process-wide catalog, opened on ``db_url`` with media under tmp_path."""
    cat = rv.init({'db_url': db_url, **media_settings})
    yield cat
    cat.close()


@pytest.fixture
def sqlite_catalog(tmp_path: Path, media_settings: dict[str, str]) -> Iterator[Catalog]:
    """Like ``catalog``, SQLite only (for tests about SQLite files themselves)."""
    cat = rv.init({'db_url': f'sqlite:///{tmp_path / "reverie.db"}', **media_settings})
    yield cat
    cat.close()


# Each provider's stand-in on loopback (tests/functions/providers), reverie pointed at it.
def _pointed_at(
    monkeypatch: pytest.MonkeyPatch, server: Any, key_var: str, url_var: str, path: str = ''
) -> Iterator[Any]:
    """Start ``server``, set its key and URL (plus ``path``) in the environment, yield it."""
    with server:
        monkeypatch.setenv(key_var, server.key)
        monkeypatch.setenv(url_var, f'{server.url}{path}')
        yield server


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStandIn]:
    yield from _pointed_at(monkeypatch, OpenAIStandIn(), 'OPENAI_API_KEY', 'OPENAI_BASE_URL', '/v1')


@pytest.fixture
def gemini_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[GeminiStandIn]:
    yield from _pointed_at(monkeypatch, GeminiStandIn(), 'GEMINI_API_KEY', 'GEMINI_BASE_URL')


@pytest.fixture
def bfl_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BFLStandIn]:
    yield from _pointed_at(monkeypatch, BFLStandIn(), 'BFL_API_KEY', 'BFL_API_URL')
