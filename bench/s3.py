"""Issue 18: media in an S3-compatible object store (moto's server, in its own process).

Two figures: uploads per second to the store (one writer, then 8 threads, as the paid-call
layer uploads answers from worker threads), and the object store's overhead on the Reve
seed workflow: the same ``reve.seed('insert')`` run with media in a local folder and in
the bucket, alternated (local, bucket, local, bucket), best of 2 each.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import PIL.Image

from bench import reve
from bench.common import Timer, free_port, wait_for_port

N_UPLOADS = 200
THREADS = 8
_AWS = {
    'AWS_ACCESS_KEY_ID': 'bench',
    'AWS_SECRET_ACCESS_KEY': 'bench-secret',
    'AWS_DEFAULT_REGION': 'us-east-1',
}


@contextlib.contextmanager
def moto_process() -> Iterator[str]:
    """moto's S3 server in its own interpreter on a free loopback port; yields its URL."""
    port = free_port()
    cmd = [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(proc, port, 'moto server', 30)
        yield f'http://127.0.0.1:{port}'
    finally:
        proc.terminate()
        proc.wait(10)


def _bucket(name: str) -> str:
    from reverie.store.s3 import make_client

    make_client().create_bucket(Bucket=name)
    return f's3://{name}/media'


def _pngs(n: int) -> list[bytes]:
    """``n`` distinct 512x512 PNGs (noise, so they do not compress away: ~790 KB each)."""
    out = []
    base = PIL.Image.effect_noise((512, 512), 60).convert('RGB')
    for i in range(n):
        buf = io.BytesIO()
        img = base.copy()
        img.putpixel((i % 512, i // 512), (i % 256, 0, 0))
        img.save(buf, format='PNG', compress_level=1)
        out.append(buf.getvalue())
    return out


def _uploads(url: str) -> dict[str, Any]:
    from reverie.store.cache import ReadCache
    from reverie.store.media import reference
    from reverie.store.s3 import S3MediaStore

    cache = Path(tempfile.mkdtemp(prefix='reverie-bench-cache-'))
    store = S3MediaStore(url, ReadCache(cache, 1 << 30))
    images = _pngs(2 * N_UPLOADS)
    store.put(b'warm up', 'png')
    with Timer() as one:
        for data in images[:N_UPLOADS]:
            store.put(data, 'png')
    with Timer() as many, ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda d: store.put(d, 'png'), images[N_UPLOADS:]))
    refs = [reference(hashlib.sha256(d).hexdigest(), 'png') for d in images[:50]]
    with Timer() as reads:
        for ref in refs:
            store.local_path(ref)
    mib = sum(len(d) for d in images[:N_UPLOADS]) / 2**20
    return {
        'uploads': N_UPLOADS,
        'upload_mib': mib,
        'uploads_per_s_1': N_UPLOADS / one.seconds,
        'uploads_per_s_8': N_UPLOADS / many.seconds,
        'mib_per_s_1': mib / one.seconds,
        'mib_per_s_8': mib / many.seconds,
        'cold_reads_per_s': 50 / reads.seconds,
    }


def _seed(media_url: str | None) -> float:
    """Wall time of the seed insert (20 rows, create + edit + remix), media where told."""
    if media_url:
        os.environ['REVERIE_MEDIA_URL'] = media_url
    else:
        os.environ.pop('REVERIE_MEDIA_URL', None)
    out = reve.seed('insert', None)
    assert out['remixed_cells'] == reve.N_ROWS, out
    return float(out['wall_s'])


def s3_piece() -> dict[str, Any]:
    """Uploads per second to moto, and the seed workflow local folder vs bucket."""
    with moto_process() as endpoint:
        os.environ.update(_AWS, AWS_ENDPOINT_URL=endpoint)
        out = _uploads(_bucket('bench-uploads'))
        local, bucket = [], []
        for i in range(2):
            local.append(_seed(None))
            bucket.append(_seed(_bucket(f'bench-seed-{i}')))
        out.update(
            seed_local_s=min(local),
            seed_bucket_s=min(bucket),
            seed_local_runs=local,
            seed_bucket_runs=bucket,
        )
        os.environ.pop('REVERIE_MEDIA_URL', None)
        return out
