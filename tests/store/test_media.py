"""The media store: content-addressed files, kept as given, never outside its root."""

from __future__ import annotations

import hashlib
import io
import os
import time

import PIL.Image
import pytest

import reverie as rv
from reverie.store.media import LocalMediaStore


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
