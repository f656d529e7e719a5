"""Workers on many hosts with media in a bucket (issue 18), simulated on one machine.

Each worker is its own process with its own ``REVERIE_HOME`` and an empty read cache; they
share only PostgreSQL and the bucket (moto behind the fault proxy). The Reve stand-in logs
every request. Then a reader with yet another home opens every image.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path
from typing import Any

import PIL.Image
import pytest

import reverie as rv
from tests.reliability._util import PYTHON, ROOT, child_env, read_log
from tests.reliability.test_workers_cluster import (  # noqa: F401  (pg_url: a fixture)
    LIMIT,
    _setup,
    _stand_in,
    _stop,
    _wait_done,
    _worker,
    pg_url,
)
from tests.s3.servers import MotoS3

IMAGE_SUFFIXES = {'.png', '.jpg', '.jpeg', '.webp', '.gif', '.tiff', '.bmp', '.avif'}

READER = r"""
import hashlib
import reverie as rv
t = rv.get_table('w.scenes')
for r in t.select(t.prompt, t.img.fileurl, t.img).order_by(t.prompt).collect():
    print(r['prompt'], r['fileurl'], hashlib.sha256(r['img'].tobytes()).hexdigest(), sep='|')
"""


def _stray_images(home: Path) -> list[Path]:
    """Image files under ``home`` outside its read cache."""
    cache = home / 'cache'
    return [
        p
        for p in home.rglob('*')
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.is_relative_to(cache)
    ]


def _cached(home: Path) -> list[Path]:
    return [p for p in (home / 'cache').rglob('*') if p.is_file() and p.suffix in IMAGE_SUFFIXES]


def _pixels_of_object(moto_s3: MotoS3, url: str) -> tuple[str, str]:
    """(sha256 of the object's bytes, sha256 of its pixels), read from moto directly."""
    bucket, _, key = url.removeprefix('s3://').partition('/')
    body: Any = moto_s3.client().get_object(Bucket=bucket, Key=key)['Body'].read()  # type: ignore[attr-defined]
    pixels = PIL.Image.open(io.BytesIO(body)).tobytes()
    return hashlib.sha256(body).hexdigest(), hashlib.sha256(pixels).hexdigest()


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_with_a_bucket_lose_nothing_and_keep_no_local_media(
    pg_url: str,  # noqa: F811  (the fixture imported above)
    bucket_url: str,
    moto_s3: MotoS3,
    tmp_path: Path,
) -> None:
    n_workers, cells = 3, 30
    log = tmp_path / 'requests.jsonl'
    with _stand_in(log, latency=0.3) as server:
        media = {'REVERIE_MEDIA_URL': bucket_url}
        shared = _setup(tmp_path, pg_url, server.url, cells, media)
        homes = [tmp_path / f'home-{i}' for i in range(n_workers)]
        assert not any(h.exists() for h in homes)  # every worker starts with an empty cache
        cat = rv.init({'db_url': pg_url, 'media_url': bucket_url})
        workers = [_worker(tmp_path, shared, i) for i in range(n_workers)]
        try:
            t = rv.get_table('w.scenes')
            _wait_done(t, cells, workers)
            assert t.where(t.img == None).count() == 0  # noqa: E711  (0 cells lost)
        finally:
            outs = _stop(workers)
        assert [w.returncode for w in workers] == [143] * n_workers, outs
        cat.close()
    statuses = [r['status'] for r in read_log(log)]
    assert statuses.count(200) == cells and statuses.count(429) == 0

    # Another host: a new home, an empty cache; it reads every image from the bucket.
    reader_home = tmp_path / 'home-reader'
    out = subprocess.run(
        [PYTHON, '-c', READER],
        env=child_env(reader_home, **shared),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    lines = [line.split('|') for line in out.splitlines() if line.count('|') == 2]
    assert len(lines) == cells
    for _, url, pixels in lines:
        assert url.startswith(f'{bucket_url}/')
        digest, stored_pixels = _pixels_of_object(moto_s3, url)
        assert url.rsplit('/', 1)[1].startswith(digest)  # the key is the content's sha256
        assert pixels == stored_pixels  # the reader's pixels are the stored image's
    assert len(_cached(reader_home)) == cells

    every_home = [tmp_path / 'home-setup', *homes, reader_home]
    assert {str(h): _stray_images(h) for h in every_home} == {str(h): [] for h in every_home}
    assert not (tmp_path / 'media').exists()
    print(
        f'S3 WORKERS {n_workers} workers, PostgreSQL + bucket: {cells} cells, 0 lost, '
        f'0 paid twice; a reader on another home read {cells} images, pixels identical; '
        f'no image outside a read cache under any of {len(every_home)} homes'
    )
