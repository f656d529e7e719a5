"""Reve is one entry of the providers' settings; ``[reve]`` and the REVE_* variables still work."""

from __future__ import annotations

from pathlib import Path

import pytest

from reverie.config import Config
from reverie.functions.images.calls import pool_settings


def test_reve_is_one_entry_of_the_providers_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ('REVE_API_KEY', 'REVE_API_URL', 'REVE_MAX_CONCURRENCY', 'REVE_TIMEOUT'):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / 'config.toml').write_text(
        '[reve]\napi_key = "papi.file"\nbase_url = "http://127.0.0.1:9/"\n'
        'max_concurrency = 5\nrequests_per_minute = 30\ntimeout = 20\n'
    )
    config = Config.load({'home': str(tmp_path)})
    reve = config.providers['reve']
    assert config.reve == reve
    assert (reve.api_key, reve.base_url, reve.max_concurrency) == (
        'papi.file',
        'http://127.0.0.1:9',
        5,
    )
    assert (reve.requests_per_minute, reve.timeout) == (30.0, 20.0)
    assert 'papi.file' not in repr(reve)
    pool = pool_settings('reve', config)
    assert (pool.name, pool.max_concurrency, pool.requests_per_minute) == ('reve', 5, 30.0)

    monkeypatch.setenv('REVE_API_KEY', 'papi.env')
    monkeypatch.setenv('REVE_API_URL', 'http://127.0.0.1:8765')
    monkeypatch.setenv('REVE_MAX_CONCURRENCY', '7')
    monkeypatch.setenv('REVE_TIMEOUT', '3')
    reve = Config.load({'home': str(tmp_path)}).reve  # the environment wins over the file
    assert (reve.api_key, reve.base_url, reve.max_concurrency, reve.timeout) == (
        'papi.env',
        'http://127.0.0.1:8765',
        7,
        3.0,
    )


def test_without_settings_reve_has_its_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ('REVE_API_KEY', 'REVE_API_URL', 'REVE_MAX_CONCURRENCY', 'REVE_TIMEOUT'):
        monkeypatch.delenv(name, raising=False)
    reve = Config.load({'home': str(tmp_path)}).reve
    assert (reve.api_key, reve.base_url, reve.max_concurrency, reve.timeout) == (
        None,
        'https://api.reve.com',
        64,
        180.0,
    )
