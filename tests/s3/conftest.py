"""Fixtures of the object-store tests: a fresh bucket in moto's S3 server, reached through a
fault-injecting proxy by the standard AWS settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.retries import standard

from reverie.store.cache import ReadCache
from reverie.store.s3 import S3MediaStore, make_client
from tests.paid.conftest import fast_backoff, service  # noqa: F401  (the Reve stand-in)
from tests.s3.servers import FaultProxy, MotoS3


@pytest.fixture(autouse=True)
def fast_store_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's backoff scaled down (up to 20 s a wait); its retry policy is unchanged."""
    original = standard.ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        standard.ExponentialBackoff,
        'delay_amount',
        lambda self, context: original(self, context) / 50,
    )


@pytest.fixture
def proxy(moto_s3: MotoS3) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of moto (no faults until told)."""
    server = FaultProxy(('127.0.0.1', moto_s3.port)).start()
    yield server
    server.stop()


@pytest.fixture
def bucket_url(moto_s3: MotoS3, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<new bucket>/media``; AWS_ENDPOINT_URL and the keys point at the proxy."""
    for key, value in moto_s3.env(proxy.url).items():
        monkeypatch.setenv(key, value)
    return f's3://{moto_s3.new_bucket()}/media'


@pytest.fixture
def store(bucket_url: str, tmp_path: Path) -> S3MediaStore:
    """An S3 media store on the bucket, its read cache under tmp_path."""
    return S3MediaStore(bucket_url, ReadCache(tmp_path / f'cache-{uuid.uuid4().hex[:6]}', 1 << 30))


@pytest.fixture
def quick_store(bucket_url: str, tmp_path: Path) -> S3MediaStore:
    """Like ``store``, with a 1 s read timeout (for slow-read faults)."""
    return S3MediaStore(
        bucket_url, ReadCache(tmp_path / 'quick-cache', 1 << 30), client=make_client(timeout=1.0)
    )
