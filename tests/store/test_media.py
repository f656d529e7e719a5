"""The media store: content-addressed files, kept as given, never outside its root."""

from __future__ import annotations

import hashlib
import io
import os
import time

import PIL.Image
import pytest

import reverie as rv
from reverie.store.locations import open_media_store
from reverie.store.media import SPILL_DIR, LocalMediaStore
from reverie.store.s3 import S3MediaStore


def _png(color=(1, 2, 3)) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', (5, 5), color).save(buf, format='PNG')
    return buf.getvalue()


def test_put_is_content_addressed(tmp_path):
    store = LocalMediaStore(tmp_path / 'm')
    data = _png()
    ref = store.put(data, 'png')
    digest = hashlib.sha256(data).hexdigest()
    assert ref == f'{digest[:2]}/{digest}.png'
    assert store.path(ref).read_bytes() == data
    assert store.put(data, 'png') == ref
    assert list(store.refs()) == [ref]
    assert not [p for p in store.root.rglob('*') if p.is_file() and p.name != f'{digest}.png']


@pytest.mark.parametrize(
    'ref',
    [
        pytest.param('../../etc/passwd', id='dotdot'),
        pytest.param('/etc/passwd', id='absolute'),
        pytest.param('ab/../../x.png', id='nested-dotdot'),
        pytest.param('ab/' + 'g' * 64 + '.png', id='not-hex'),
    ],
)
def test_paths_never_escape_root(tmp_path, ref):
    store = LocalMediaStore(tmp_path / 'm')
    with pytest.raises(rv.InvalidValueError, match='is not a reference this store made'):
        store.path(ref)


def test_jpeg_kept_as_given_png_lossless(sqlite_catalog, tmp_path):
    jpeg = io.BytesIO()
    PIL.Image.new('RGB', (9, 7), (200, 100, 50)).save(jpeg, format='JPEG', quality=70)
    src = tmp_path / 'photo.jpg'
    src.write_bytes(jpeg.getvalue())
    t = rv.create_table('imgs', {'img': rv.Image})
    pixels = PIL.Image.effect_noise((9, 7), 50).convert('RGB')
    t.insert([{'img': str(src)}, {'img': pixels}], print_stats=False)
    paths = t.select(t.img.localpath).collect()['localpath']
    with open(paths[0], 'rb') as f:
        assert f.read() == jpeg.getvalue()  # the original bytes, not re-encoded
    assert paths[1].endswith('.png')
    assert t.collect()['img'][1].tobytes() == pixels.tobytes()


def test_gc_keeps_referenced_and_young_files(tmp_path):
    store = LocalMediaStore(tmp_path / 'm')
    keep = store.put(_png((1, 1, 1)), 'png')
    drop = store.put(_png((2, 2, 2)), 'png')
    young = store.put(_png((3, 3, 3)), 'png')
    old = time.time() - 7200
    for ref in (keep, drop):
        os.utime(store.path(ref), (old, old))
    done = store.gc({keep})
    assert done.removed == 1 and done.freed > 0 and done.young == 1
    assert sorted(store.refs()) == sorted([keep, young])


def test_the_interface_of_the_local_store(tmp_path):
    """What layers above store/ use: no path layout, only references and these calls."""
    store = LocalMediaStore(tmp_path / 'm')
    src = tmp_path / 'big.png'
    src.write_bytes(_png((9, 9, 9)))
    ref = store.put_file(src, 'png')  # streamed, same reference as put()
    assert ref == store.put(src.read_bytes(), 'png')
    assert store.exists(ref) and store.read_bytes(ref) == src.read_bytes()
    assert store.url(ref) == store.local_path(ref).as_uri()
    with store.open(ref) as img:
        assert img.size == (5, 5)
    missing = 'ab/' + 'a' * 64 + '.png'
    assert not store.exists(missing)
    with pytest.raises(rv.InvalidValueError, match='is not a reference'):
        store.exists('../x.png')
    where = store.spill('17', {'call_id': 17, 'media_ref': ref})
    assert SPILL_DIR in where
    assert list(store.spilled()) == [('17', {'call_id': 17, 'media_ref': ref})]
    store.unspill('17')
    assert list(store.spilled()) == []
    assert list(store.refs()) == [ref]  # the spill and the probe are not media


def test_the_writability_probe_runs_once_per_process_per_store(tmp_path, monkeypatch):
    store = LocalMediaStore(tmp_path / 'm')
    probes = []
    real = LocalMediaStore._probe
    monkeypatch.setattr(LocalMediaStore, '_probe', lambda self: probes.append(real(self)))
    store.check_writable()
    LocalMediaStore(tmp_path / 'm').check_writable()  # another handle on the same folder
    assert len(probes) == 1
    LocalMediaStore(tmp_path / 'other').check_writable()
    assert len(probes) == 2


def test_a_failed_probe_is_tried_again(tmp_path):
    store = LocalMediaStore(tmp_path / 'm')
    (tmp_path / 'm' / '00').write_text('a file where the probe wants a folder')
    with pytest.raises(OSError):
        store.check_writable()
    (tmp_path / 'm' / '00').unlink()
    store.check_writable()
    assert list(store.refs()) == []


def test_a_location_names_its_store(tmp_path):
    with pytest.raises(rv.InvalidValueError, match='gs:// stores are not supported'):
        open_media_store('gs://bucket/prefix')
    assert isinstance(open_media_store(f'file://{tmp_path}/m'), LocalMediaStore)
    s3 = open_media_store('s3://bucket/pre/fix/', cache_dir=tmp_path / 'c', cache_size=10)
    assert isinstance(s3, S3MediaStore)
    assert (s3.bucket, s3.prefix, s3.location) == ('bucket', 'pre/fix', 's3://bucket/pre/fix')
