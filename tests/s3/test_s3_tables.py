"""Tables whose media live in an object store: queries, display, export, gc, other hosts,
paid answers whose upload fails, and credentials that never leak."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.config import Config
from reverie.functions import reve
from reverie.store.s3 import S3MediaStore
from tests.paid.conftest import ledger_credits
from tests.s3.servers import ACCESS_KEY, SECRET_KEY

IMAGE_SUFFIXES = {'.png', '.jpg', '.jpeg', '.webp', '.gif', '.tiff', '.bmp', '.avif'}


def _images(n: int, size: int = 24) -> list[PIL.Image.Image]:
    return [
        PIL.Image.effect_noise((size, size), 30 + i).convert('RGB').rotate(i * 7) for i in range(n)
    ]


def _open(tmp_path: Path, bucket_url: str) -> rv.Catalog:
    return rv.init({'db_url': f'sqlite:///{tmp_path / "shared.db"}', 'media_url': bucket_url})


def _image_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob('*') if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def test_queries_read_images_lazily_through_the_cache(tmp_path, bucket_url, proxy):
    catalog = _open(tmp_path, bucket_url)
    assert isinstance(catalog.media, S3MediaStore)
    cache = catalog.media.cache.folder
    assert cache == Path(os.environ['REVERIE_HOME']) / 'cache' / 'media'
    t = rv.create_table('pics', {'name': rv.String, 'img': rv.Image})
    images = _images(5)
    t.insert([{'name': f'p{i}', 'img': img} for i, img in enumerate(images)], print_stats=False)
    assert _image_files(tmp_path) == []  # nothing local: the bucket holds them
    gets = proxy.seen['GET']

    rs = t.select(t.name, t.img).order_by(t.name).collect()
    assert proxy.seen['GET'] == gets and _image_files(cache) == []  # collect() fetched nothing
    assert rs[2, 'img'].tobytes() == images[2].tobytes()  # read: fetched once, into the cache
    assert len(_image_files(cache)) == 1

    urls = t.select(t.img.fileurl, t.img.localpath).order_by(t.name).collect()
    assert all(u.startswith(f'{bucket_url}/') for u in urls['fileurl'])
    assert all(Path(p).is_relative_to(cache) for p in urls['localpath'])
    assert '<img' in rs._repr_html_() and 'Image 24x24 RGB' in repr(rs)
    out = rv.io.export_images(t.select(t.img, t.name), tmp_path / 'export')
    exported = sorted(_image_files(out))
    assert len(exported) == 5
    pixels = {PIL.Image.open(p).tobytes() for p in exported}
    assert pixels == {img.tobytes() for img in images}
    catalog.close()


def test_gc_on_a_bucket_removes_what_no_row_refers_to(tmp_path, bucket_url, capsys):
    from reverie import cli

    catalog = _open(tmp_path, bucket_url)
    t = rv.create_table('pics', {'img': rv.Image})
    t.insert([{'img': img} for img in _images(3)], print_stats=False)
    stray = catalog.media.put_image(_images(4)[3])
    assert cli.main(['gc', '--grace', '0']) == 0
    assert 'Removed 1 unreferenced media file' in capsys.readouterr().out
    assert not catalog.media.exists(stray)
    assert len(list(catalog.media.refs())) == 3
    assert len(t.collect()) == 3
    catalog.close()


_WRITER = """
import hashlib, PIL.Image, reverie as rv
rv.init()
t = rv.create_table('shared', {'i': rv.Int, 'img': rv.Image})
t.insert([{'i': i, 'img': PIL.Image.effect_noise((40, 30), 20 + i).convert('RGB')}
          for i in range(4)], print_stats=False)
t.add_computed_column(turned=t.img.rotate(90), print_stats=False)
for r in t.select(t.i, t.img, t.turned).order_by(t.i).collect():
    print(r['i'], hashlib.sha256(r['img'].tobytes() + r['turned'].tobytes()).hexdigest())
"""

_READER = """
import hashlib, reverie as rv
rv.init()
t = rv.get_table('shared')
for r in t.select(t.i, t.img, t.turned).order_by(t.i).collect():
    print(r['i'], hashlib.sha256(r['img'].tobytes() + r['turned'].tobytes()).hexdigest())
"""


def test_an_image_written_on_one_host_is_read_on_another(tmp_path, bucket_url):
    """Two processes, two REVERIE_HOMEs: only the database and the bucket are shared."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('REVERIE_')}
    env.update(
        REVERIE_DB_URL=f'sqlite:///{tmp_path / "shared.db"}',
        REVERIE_MEDIA_URL=bucket_url,
        REVERIE_PROGRESS='0',
    )
    homes = [tmp_path / 'host-a', tmp_path / 'host-b']

    def run(script: str, home: Path) -> str:
        done = subprocess.run(
            [sys.executable, '-c', script],
            env={**env, 'REVERIE_HOME': str(home)},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    written = run(_WRITER, homes[0])
    read = run(_READER, homes[1])
    written = written.removeprefix("Created table 'shared'.\n")
    assert read == written and len(read.splitlines()) == 4  # pixels identical
    for home in homes:
        stray = [p for p in _image_files(home) if not p.is_relative_to(home / 'cache' / 'media')]
        assert stray == [], f'image files outside the cache of {home}: {stray}'
    assert len(_image_files(homes[1] / 'cache' / 'media')) == 8  # what host b read
    print('S3 two hosts: 8 images written by host a, read by host b, pixels identical')


def test_a_paid_answer_whose_upload_fails_is_stored_by_resume_without_paying_again(
    tmp_path, bucket_url, proxy, service, monkeypatch, caplog
):
    server = service()
    monkeypatch.setenv('REVE_MAX_CONCURRENCY', '4')
    catalog = _open(tmp_path, bucket_url)
    t = rv.create_table('scenes', {'prompt': rv.String})
    t.insert([{'prompt': f'prompt {i}'} for i in range(6)], print_stats=False)
    catalog.media.check_writable()  # the store was fine when the run began...
    proxy.inject('500', count=10**6, method='HEAD')  # ...and takes no image once answers come
    proxy.inject('500', count=10**6, method='PUT')
    with caplog.at_level(logging.INFO), pytest.raises(rv.RunStoppedError) as info:
        t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert info.value.reason == 'storage'
    assert 'object store' in str(info.value) and 'AWS_ENDPOINT_URL' in str(info.value)
    paid = len(server.entries())
    assert paid == 6  # every call answered and paid
    proxy.faults.clear()
    rows = t.select(t.img, t.img.errortype).collect()
    assert all(r['img'] is None and r['img_errortype'] is None for r in rows)  # pending
    catalog.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith('REVERIE_')}
    env.update(
        REVERIE_HOME=str(tmp_path / 'resumer'),
        REVERIE_DB_URL=f'sqlite:///{tmp_path / "shared.db"}',
        REVERIE_MEDIA_URL=bucket_url,
        REVERIE_PROGRESS='0',
    )
    done = subprocess.run(
        [sys.executable, '-m', 'reverie.cli', 'resume'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(server.entries()) == paid  # stored from the journal, nothing paid again
    catalog = _open(tmp_path, bucket_url)
    t = rv.get_table('scenes')
    refs = [r['img'] for r in t.select(t.img).collect()]
    assert all(r is not None for r in refs)
    stored = set(catalog.media.refs())
    assert len(stored) == 6  # every cell points at an object in the bucket
    assert ledger_credits(catalog) == server.charged()
    words = f'{info.value} {done.stdout} {done.stderr} {caplog.text} {catalog!r} {catalog.media!r}'
    assert ACCESS_KEY not in words and SECRET_KEY not in words
    catalog.close()
    database = (tmp_path / 'shared.db').read_bytes()
    assert ACCESS_KEY.encode() not in database and SECRET_KEY.encode() not in database
    print(f'S3 upload failure: {paid} answers paid once, stored by `reverie resume`, 0 re-paid')


def test_a_store_down_before_the_first_call_stops_the_run_unpaid(
    tmp_path, bucket_url, proxy, service
):
    server = service()
    _open(tmp_path, bucket_url)
    t = rv.create_table('scenes', {'prompt': rv.String})
    t.insert([{'prompt': 'a fox'}], print_stats=False)
    proxy.down = True
    with pytest.raises(rv.RunStoppedError, match='object store') as info:
        t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert info.value.reason == 'storage'
    assert server.entries() == []  # nothing was sent, nothing paid
    proxy.down = False
    t.recompute_columns()
    assert t.select(t.img).collect()[0, 'img'] is not None
    assert len(server.entries()) == 1


def test_credentials_never_reach_errors_logs_or_reprs(tmp_path, bucket_url, proxy, caplog):
    catalog = _open(tmp_path, bucket_url)
    t = rv.create_table('pics', {'img': rv.Image})
    proxy.down = True
    with caplog.at_level(logging.DEBUG), pytest.raises(OSError) as info:  # as a full disk
        t.insert([{'img': _images(1)[0]}], print_stats=False)
    proxy.down = False
    text = f'{info.value!s} {info.value!r} {catalog!r} {catalog.media!r} {catalog.config!r}'
    assert 's3://' in str(info.value)
    assert ACCESS_KEY not in text and SECRET_KEY not in text
    assert SECRET_KEY not in caplog.text  # botocore's own DEBUG lines name the key id only
    reverie_lines = [r.getMessage() for r in caplog.records if r.name.startswith('reverie')]
    assert not [line for line in reverie_lines if ACCESS_KEY in line]
    catalog.close()


def test_the_media_url_comes_from_the_environment_or_the_config_file(tmp_path, monkeypatch):
    home = Path(os.environ['REVERIE_HOME'])
    home.mkdir(parents=True, exist_ok=True)
    (home / 'config.toml').write_text('[media]\nurl = "s3://from-file/p"\ncache_size = "5MB"\n')
    config = Config.load()
    assert (config.media_url, config.media_cache_size) == ('s3://from-file/p', 5 << 20)
    monkeypatch.setenv('REVERIE_MEDIA_URL', 's3://from-env/q')
    assert Config.load().media_location == 's3://from-env/q'
    assert Config.load({'media_dir': str(tmp_path / 'm')}).media_url is None  # explicit folder
    monkeypatch.setenv('REVERIE_MEDIA_URL', 'https://bucket.example/x')
    with pytest.raises(rv.InvalidValueError, match='must look like s3://bucket/prefix'):
        Config.load()
    monkeypatch.delenv('REVERIE_MEDIA_URL')
    monkeypatch.setenv('REVERIE_MEDIA_CACHE_SIZE', 'lots')
    with pytest.raises(rv.InvalidValueError, match='cache_size must be a size'):
        Config.load()
