"""Bad input is refused before anything is written, with a message naming table, column, row."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import PIL.Image
import pytest

import reverie as rv


def _png(size=(6, 4), color=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', size, color).save(buf, format='PNG')
    return buf.getvalue()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def scenes(catalog):
    return _make_scenes()


@pytest.fixture
def sqlite_scenes(sqlite_catalog):
    return _make_scenes()


def _make_scenes():
    @rv.udf
    def shout(s: str) -> str:
        return s.upper()

    t = rv.create_table('scenes', {'prompt': rv.String, 'n': rv.Int | None, 'img': rv.Image | None})
    t.insert([{'prompt': 'ok', 'n': 1, 'img': _png()}], print_stats=False)
    t.add_computed_column(loud=shout(t.prompt), print_stats=False)
    return t


def _media_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / 'media').rglob('*') if p.is_file())


BAD_ROWS = [
    pytest.param(
        {'prompt': 'x', 'n': 'three'},
        rv.InvalidValueError,
        r"Column 'n' \(table 'scenes', row 1\) expects Int, got str 'three'",
        id='wrong-type',
    ),
    pytest.param(
        {'prompt': 'x', 'n': 2**70},
        rv.InvalidValueError,
        r"Column 'n' \(table 'scenes', row 1\) expects an integer within the 64-bit range",
        id='int-overflow',
    ),
    pytest.param(
        {'n': 2},
        rv.InvalidValueError,
        r"Column 'prompt' \(table 'scenes', row 1\) is missing; every row needs a value",
        id='missing-required',
    ),
    pytest.param(
        {'prompt': None},
        rv.InvalidValueError,
        r"Column 'prompt' \(table 'scenes', row 1\) cannot be None: it is String, which is "
        'required',
        id='required-none',
    ),
    pytest.param(
        {'prompt': 'x', 'colour': 'red'},
        rv.InvalidValueError,
        r"Table 'scenes' has no column 'colour' \(row 1\)",
        id='unknown-column',
    ),
    pytest.param(
        {'prompt': 'x', 'loud': 'X'},
        rv.InvalidValueError,
        r"Column 'loud' \(table 'scenes', row 1\) is computed",
        id='computed-column',
    ),
    pytest.param(
        {'prompt': 'x', 'img': b'not an image at all'},
        rv.InvalidValueError,
        r"Column 'img' \(table 'scenes', row 1\)",
        id='corrupt-image',
    ),
    pytest.param(
        {'prompt': 'x', 'img': _png((64, 64))[:120]},
        rv.InvalidValueError,
        r"Column 'img' \(table 'scenes', row 1\)",
        id='truncated-image',
    ),
    pytest.param(
        {'prompt': 'x', 'img': b''},
        rv.InvalidValueError,
        r"Column 'img' \(table 'scenes', row 1\)",
        id='zero-byte-image',
    ),
    pytest.param(
        {'prompt': 'x', 'img': 42},
        rv.InvalidValueError,
        r"Column 'img' \(table 'scenes', row 1\) expects Image, got int 42",
        id='image-wrong-type',
    ),
    pytest.param(
        {'prompt': 'x\x00y'},
        rv.InvalidValueError,
        r"Column 'prompt' \(table 'scenes', row 1\) expects a string without NUL",
        id='nul-in-string',
    ),
]


def _check_refused(t, tmp_path, bad, error, match):
    before = t.collect()
    files = _media_files(tmp_path)
    good = {'prompt': 'good', 'n': 5, 'img': _png(color=(1, 2, 3))}
    with pytest.raises(error, match=match):
        t.insert([good, bad])
    assert t.collect() == before
    assert _media_files(tmp_path) == files  # nothing written for the good row either


@pytest.mark.parametrize(('bad', 'error', 'match'), BAD_ROWS)
def test_bad_row_refuses_whole_insert(sqlite_scenes, tmp_path, bad, error, match):
    _check_refused(sqlite_scenes, tmp_path, bad, error, match)


def test_bad_rows_refused_on_every_backend(scenes, tmp_path):
    # The same cases on PostgreSQL too, in one test to keep the suite quick.
    for case in BAD_ROWS:
        _check_refused(scenes, tmp_path, *case.values)


def test_zero_byte_file_path(scenes, tmp_path):
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    truncated = tmp_path / 'trunc.png'
    truncated.write_bytes(_png((50, 50))[:80])
    before = scenes.collect()
    for path in (empty, truncated):
        with pytest.raises(rv.InvalidValueError, match=r"Column 'img' \(table 'scenes', row 0\)"):
            scenes.insert(prompt='x', img=str(path))
    assert scenes.collect() == before


def test_missing_file_path(scenes, tmp_path):
    before = scenes.collect()
    missing = tmp_path / 'nope.png'
    with pytest.raises(
        rv.InvalidValueError, match=r"Column 'img' \(table 'scenes', row 0\).*nope\.png"
    ):
        scenes.insert(prompt='x', img=str(missing))
    assert scenes.collect() == before


def test_unreachable_url(scenes, catalog):
    catalog.media.allow_private_urls = True  # a closed loopback port: unreachable, not private
    before = scenes.collect()
    url = f'http://127.0.0.1:{_closed_port()}/x.png'
    with pytest.raises(
        rv.InvalidValueError, match=r"Column 'img' \(table 'scenes', row 0\)"
    ) as info:
        scenes.insert(prompt='x', img=url)
    assert '127.0.0.1' in str(info.value)
    assert scenes.collect() == before


def test_errors_are_rv_errors_and_builtins(scenes):
    with pytest.raises(ValueError, match='expects Int'):
        scenes.insert(prompt='x', n=1.5)
    with pytest.raises(rv.Error):
        scenes.insert(prompt='x', n=[1])


def test_on_error_ignore_inserts_good_rows(scenes, tmp_path):
    rows = [
        {'prompt': 'a', 'n': 10},
        {'prompt': 'b', 'n': 'bad'},
        {'prompt': 'c', 'img': b'\x89PNG garbage'},
        {'prompt': 'd', 'img': str(tmp_path / 'missing.png')},
        {'prompt': 'e', 'n': 11, 'img': _png(color=(9, 9, 9))},
    ]
    status = scenes.insert(rows, on_error='ignore')
    assert status.num_rows == 2
    assert status.rejected_rows == 3
    assert status.num_excs == 3
    assert len(status.errors) == 3
    assert 'row 1' in status.errors[0] and "'n'" in status.errors[0]
    assert 'row 2' in status.errors[1] and "'img'" in status.errors[1]
    rs = scenes.order_by(scenes.n).select(scenes.prompt, scenes.n, scenes.loud).collect()
    assert rs['prompt'] == ['ok', 'a', 'e']
    assert rs['loud'] == ['OK', 'A', 'E']


def test_on_error_value_checked(scenes):
    with pytest.raises(rv.InvalidValueError, match="on_error must be 'abort' or 'ignore'"):
        scenes.insert(prompt='x', on_error='skip')


def test_image_constraint(catalog):
    t = rv.create_table('thumbs', {'img': rv.Image[(4, 4), 'RGB']})
    t.insert(img=PIL.Image.new('RGB', (4, 4)), print_stats=False)
    with pytest.raises(
        rv.InvalidValueError,
        match=r"Column 'img' \(table 'thumbs', row 0\) expects Image\[\(4, 4\), 'RGB'\]",
    ):
        t.insert(img=PIL.Image.new('L', (4, 4)))
    assert t.count() == 1


def test_row_not_a_dict(scenes):
    with pytest.raises(rv.InvalidValueError, match=r"Row 0 of the insert into 'scenes' is a list"):
        scenes.insert([['x']])
    with pytest.raises(rv.InvalidValueError, match='not both'):
        scenes.insert([{'prompt': 'x'}], n=1)
