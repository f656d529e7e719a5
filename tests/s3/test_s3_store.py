"""The S3 media store against a real object store (moto's server) behind a faulty proxy."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import urllib.request

import PIL.Image
import pytest

from reverie.store import s3
from reverie.store.cache import ReadCache
from reverie.store.s3 import ObjectStoreError, S3MediaStore
from tests.s3.servers import ACCESS_KEY, SECRET_KEY, FaultProxy, MotoS3


def _png(seed: int, size: int = 16) -> bytes:
    buf = io.BytesIO()
    PIL.Image.effect_noise((size, size), 40 + seed).convert('RGB').save(buf, format='PNG')
    return buf.getvalue()


def _keys(moto_s3: MotoS3, url: str) -> list[str]:
    bucket = url.removeprefix('s3://').split('/')[0]
    listing = moto_s3.client().list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    return sorted(o['Key'] for o in listing.get('Contents', []))


def test_an_image_goes_up_once_and_comes_back_the_same(store, moto_s3, proxy, bucket_url):
    data = _png(1)
    ref = store.put(data, 'png')
    digest = hashlib.sha256(data).hexdigest()
    assert ref == f'{digest[:2]}/{digest}.png'
    assert _keys(moto_s3, bucket_url) == [f'media/{ref}']
    puts = proxy.seen['PUT']
    assert store.put(data, 'png') == ref  # already there: a HEAD, no second upload
    assert proxy.seen['PUT'] == puts
    assert store.exists(ref) and list(store.refs()) == [ref]
    assert store.url(ref) == f'{bucket_url}/{ref}'
    assert store.read_bytes(ref) == data
    assert store.local_path(ref).is_relative_to(store.cache.folder)
    gets = proxy.seen['GET']
    assert store.open(ref).tobytes() == PIL.Image.open(io.BytesIO(data)).tobytes()
    assert proxy.seen['GET'] == gets  # the second read comes from the cache


def test_a_key_is_never_overwritten(store, moto_s3, bucket_url):
    """The PUT is conditional (If-None-Match: *): a racing writer's object stays as it is."""
    data = _png(2)
    ref = store.put(data, 'png')
    bucket = bucket_url.removeprefix('s3://').split('/')[0]
    store._write(ref, io.BytesIO(b'other bytes'))  # as if a HEAD had missed it
    body = moto_s3.client().get_object(Bucket=bucket, Key=f'media/{ref}')['Body'].read()  # type: ignore[attr-defined]
    assert body == data


_UPLOAD = """
import sys, tracemalloc
from pathlib import Path
from reverie.store import s3
from reverie.store.cache import ReadCache
s3.MULTIPART_BYTES = 5 << 20
store = s3.S3MediaStore(sys.argv[1], ReadCache(Path(sys.argv[2]), 1 << 30))
store.put(b'warm up the client', 'png')
tracemalloc.start()  # this process holds no server: what it allocates is the upload's
ref = store.put_file(Path(sys.argv[3]), 'png')
print(ref, tracemalloc.get_traced_memory()[1])
"""


def test_a_large_file_goes_up_in_parts_held_once(bucket_url, tmp_path):
    """60 MiB in parts of 5 MiB: the uploader holds a few parts at most, never the file."""
    big = tmp_path / 'big.png'
    big.write_bytes(os.urandom(60 << 20))
    out = subprocess.run(
        [sys.executable, '-c', _UPLOAD, bucket_url, str(tmp_path / 'c'), str(big)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    ref, peak = out[0], int(out[1])
    assert peak < 3 * (5 << 20), f'peak {peak / 2**20:.1f} MiB for a 60 MiB file'
    store = S3MediaStore(bucket_url, ReadCache(tmp_path / 'check', 1 << 30))
    assert store.local_path(ref).read_bytes() == big.read_bytes()
    print(f'S3 multipart: 60 MiB in 12 parts, peak traced memory {peak / 2**20:.1f} MiB')


@pytest.mark.parametrize(
    ('kind', 'method'),
    [
        pytest.param('503', 'PUT', id='slowdown-on-put'),
        pytest.param('500', 'PUT', id='500-on-put'),
        pytest.param('reset', 'PUT', id='reset-before-put'),
        pytest.param('reset-after', 'PUT', id='reset-after-put-was-stored'),
        pytest.param('503', 'HEAD', id='slowdown-on-head'),
        pytest.param('503', 'GET', id='slowdown-on-get'),
        pytest.param('500', 'GET', id='500-on-get'),
        pytest.param('reset', 'GET', id='reset-on-get'),
    ],
)
def test_faults_of_the_store_are_retried(store, proxy, kind, method):
    data = _png(3)
    proxy.inject(kind, count=2, method=method)
    ref = store.put(data, 'png')
    assert store.read_bytes(ref) == data
    assert proxy.injected[kind] == 2


def test_a_store_without_conditional_writes_gets_plain_puts(store, proxy):
    """A store that refuses If-None-Match (501) is written without it (same bytes anyway)."""
    data = _png(12)
    proxy.inject('501', count=1, method='PUT')
    ref = store.put(data, 'png')
    assert proxy.injected['501'] == 1 and not store._conditional
    assert store.read_bytes(ref) == data


def test_a_slow_read_past_the_timeout_is_read_again(quick_store, proxy):
    data = _png(4)
    ref = quick_store.put(data, 'png')
    proxy.inject('slow', count=1, method='GET', delay=2.5)  # the body comes after 2.5 s
    start = time.monotonic()
    assert quick_store.read_bytes(ref) == data
    assert proxy.injected['slow'] == 1
    assert time.monotonic() - start < 10


def test_a_store_that_stays_down_fails_with_a_clean_oserror(store, proxy, moto_s3, bucket_url):
    proxy.down = True
    with pytest.raises(
        ObjectStoreError, match=r'HEAD of s3://.* failed after retries: HTTP 500'
    ) as info:
        store.put(_png(5), 'png')
    assert isinstance(info.value, OSError)  # the paid-call layer's storage failure
    text = f'{info.value} {store!r} {store.cache!r}'
    assert ACCESS_KEY not in text and SECRET_KEY not in text
    proxy.down = False
    assert _keys(moto_s3, bucket_url) == []  # nothing half written


def test_an_unreachable_store_names_the_endpoint_problem_not_the_keys(tmp_path, monkeypatch):
    monkeypatch.setenv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9')  # nothing listens there
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', ACCESS_KEY)
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', SECRET_KEY)
    monkeypatch.setenv('AWS_DEFAULT_REGION', 'us-east-1')
    store = S3MediaStore(
        's3://nowhere/m', ReadCache(tmp_path / 'c', 1 << 20), client=s3.make_client(max_attempts=2)
    )
    with pytest.raises(ObjectStoreError, match='EndpointConnectionError') as info:
        store.check_writable()
    assert ACCESS_KEY not in str(info.value) and SECRET_KEY not in str(info.value)


def test_presigned_url_opens_in_a_browser(store, proxy):
    data = _png(6)
    ref = store.put(data, 'png')
    url = store.presigned_url(ref, expires=60)
    assert url.startswith(proxy.url) and 'X-Amz-Signature=' in url and 'X-Amz-Expires=60' in url
    assert SECRET_KEY not in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data


def test_the_read_cache_is_bounded_and_keeps_the_recently_used(bucket_url, tmp_path):
    cache = ReadCache(tmp_path / 'cache', 3000)
    store = S3MediaStore(bucket_url, cache)
    refs = [store.put(os.urandom(1000) + b'\x89PNG', 'png') for _ in range(6)]
    store.local_path(refs[0])
    for ref in refs[1:]:
        time.sleep(0.01)
        store.local_path(ref)
        store.local_path(refs[0])  # read again and again: the most recently used
    held = [p for p in cache.folder.rglob('*') if p.is_file()]
    assert sum(p.stat().st_size for p in held) <= 3000
    assert cache.path(refs[0]) in held and cache.path(refs[1]) not in held


def test_an_object_that_changed_is_refused_not_cached(store, moto_s3, bucket_url):
    data = _png(7)
    ref = store.put(data, 'png')
    bucket = bucket_url.removeprefix('s3://').split('/')[0]
    moto_s3.client().put_object(Bucket=bucket, Key=f'media/{ref}', Body=b'tampered')  # type: ignore[attr-defined]
    with pytest.raises(OSError, match='read back with other content'):
        store.local_path(ref)
    assert not store.cached_path(ref).exists()


def test_gc_removes_old_unreferenced_objects_and_abandoned_uploads(store, moto_s3, bucket_url):
    keep, drop = store.put(_png(8), 'png'), store.put(_png(9), 'png')
    young = store.gc({keep})
    assert (young.removed, young.young) == (0, 1)
    bucket = bucket_url.removeprefix('s3://').split('/')[0]
    # (moto dates every upload 2010-11-10, so this one counts as old at once)
    moto_s3.client().create_multipart_upload(Bucket=bucket, Key='media/ab/abandoned')  # type: ignore[attr-defined]
    done = store.gc({keep}, grace_seconds=0)
    assert done.removed == 2  # the object and the abandoned upload
    assert list(store.refs()) == [keep] and not store.exists(drop)
    assert _keys(moto_s3, bucket_url) == [f'media/{keep}']


def test_a_reused_old_object_is_kept_by_gc(store, monkeypatch):
    """Reuse marks the object for gc (a marker object), never rewrites it."""
    data = _png(10)
    ref = store.put(data, 'png')
    monkeypatch.setattr(s3, 'REUSE_MARK_AFTER', -1.0)  # the object counts as old
    created = store._stat(ref)
    assert created is not None
    time.sleep(1.1)  # S3 times have whole seconds
    store.put(data, 'png')
    stat = store._stat(ref)
    assert stat is not None and stat.modified > created.modified
    assert store.remove([ref], unused_since=created.modified) == (0, 0)


def test_the_spill_keeps_entries_in_the_bucket(store):
    where = store.spill('42', {'call_id': 42, 'media_ref': 'x'})
    assert where.endswith('/.journal-pending/42.json')
    assert list(store.spilled()) == [('42', {'call_id': 42, 'media_ref': 'x'})]
    store.unspill('42')
    assert list(store.spilled()) == []


def test_a_proxy_fault_is_what_the_client_sees(proxy: FaultProxy, store: S3MediaStore) -> None:
    """The proxy itself: faults are used in order and only on their method."""
    proxy.inject('503', count=1, method='DELETE')
    store.put(_png(11), 'png')
    assert proxy.injected['503'] == 0 and proxy.seen['PUT'] >= 1
