"""Every column type survives insert, reopen (fresh catalog, new process) and collect."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import subprocess
import sys
import textwrap

import PIL.Image
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv

_names = itertools.count()

_text = st.text(
    alphabet=st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00'), max_size=30
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_naive_ts = st.datetimes(
    min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30)
)
_aware_ts = st.datetimes(
    min_value=datetime.datetime(1, 1, 2),
    max_value=datetime.datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [
            datetime.UTC,
            datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
            datetime.timezone(-datetime.timedelta(hours=8)),
        ]
    ),
)


def _utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


@st.composite
def _images(draw):
    mode = draw(st.sampled_from(['RGB', 'RGBA', 'L']))
    w = draw(st.integers(1, 12))
    h = draw(st.integers(1, 12))
    channels = len(mode)
    data = draw(st.binary(min_size=w * h * channels, max_size=w * h * channels))
    return PIL.Image.frombytes(mode, (w, h), data)


def _image_key(img):
    return None if img is None else (img.mode, img.size, img.tobytes())


_array_1d = st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), max_size=6)
_array_2d = st.integers(1, 3).flatmap(
    lambda k: st.lists(
        st.lists(st.integers(-1000, 1000), min_size=k, max_size=k), min_size=1, max_size=3
    )
)

# type id -> (column type, strategy, expected-value function)
CASES = {
    'String': (rv.String | None, _text, lambda v: v),
    'Int': (rv.Int | None, st.integers(-(2**63), 2**63 - 1), lambda v: v),
    'Float': (rv.Float | None, st.floats(allow_nan=False), lambda v: v),
    'Bool': (rv.Bool | None, st.booleans(), lambda v: v),
    'Timestamp': (rv.Timestamp | None, _naive_ts | _aware_ts, _utc),
    'Date': (rv.Date | None, st.dates(), lambda v: v),
    'Json': (rv.Json | None, _json, lambda v: v),
    'Array': (rv.Array | None, _array_1d | _array_2d, lambda v: v),
    'Image': (rv.Image | None, _images(), _image_key),
}


def _reopen(db_url, tmp_path):
    return rv.init({'db_url': db_url, 'media_dir': str(tmp_path / 'media')})


@pytest.mark.parametrize('type_name', list(CASES))
def test_roundtrip_through_fresh_catalog(catalog, db_url, tmp_path, type_name):
    col_type, strategy, expected = CASES[type_name]

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(values=st.lists(strategy, min_size=1, max_size=5))
    def check(values):
        _reopen(db_url, tmp_path)
        path = f't{next(_names)}'
        t = rv.create_table(path, {'v': col_type})
        rows = [{'v': v} for v in values] + [{'v': None}]
        t.insert(rows, print_stats=False)
        _reopen(db_url, tmp_path)
        got = rv.get_table(path).head(len(rows))['v']
        if type_name == 'Image':
            got = [_image_key(g) for g in got]
        assert got == [expected(v) for v in values] + [None]

    check()
    rv.init({'db_url': db_url, 'media_dir': str(tmp_path / 'media')}).close()


_CHILD = textwrap.dedent(
    """
    import json, reverie as rv
    rs = rv.get_table('d/all').head(5)
    out = []
    for row in rs:
        img = row['img']
        row['img'] = None if img is None else [img.mode, list(img.size), img.getpixel((1, 1))]
        row['ts'] = None if row['ts'] is None else row['ts'].isoformat()
        row['day'] = None if row['day'] is None else row['day'].isoformat()
        out.append(row)
    print(json.dumps(out))
    """
)


def test_roundtrip_through_new_process(catalog, db_url, tmp_path):
    rv.create_dir('d')
    t = rv.create_table(
        'd/all',
        {
            's': rv.String | None,
            'i': rv.Int | None,
            'f': rv.Float | None,
            'b': rv.Bool | None,
            'ts': rv.Timestamp | None,
            'day': rv.Date | None,
            'j': rv.Json | None,
            'a': rv.Array | None,
            'img': rv.Image | None,
        },
    )
    img = PIL.Image.new('RGB', (4, 3), (10, 20, 30))
    ts = datetime.datetime(
        2026, 1, 31, 12, 30, 15, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    t.insert(
        [
            {
                's': 'héllo ✓',
                'i': -(2**63),
                'f': 1.5e-300,
                'b': True,
                'ts': ts,
                'day': datetime.date(1999, 12, 31),
                'j': {'a': [1, 'x', None, 2.5]},
                'a': [[1.0, 2.0], [3.0, 4.0]],
                'img': img,
            },
            {'s': None},
        ],
        print_stats=False,
    )
    env = {
        **os.environ,
        'REVERIE_DB_URL': db_url,
        'REVERIE_MEDIA_DIR': str(tmp_path / 'media'),
    }
    proc = subprocess.run(
        [sys.executable, '-c', _CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows == [
        {
            's': 'héllo ✓',
            'i': -(2**63),
            'f': 1.5e-300,
            'b': True,
            'ts': '2026-01-31T10:30:15.123456+00:00',
            'day': '1999-12-31',
            'j': {'a': [1, 'x', None, 2.5]},
            'a': [[1.0, 2.0], [3.0, 4.0]],
            'img': ['RGB', [4, 3], [10, 20, 30]],
        },
        {
            's': None,
            'i': None,
            'f': None,
            'b': None,
            'ts': None,
            'day': None,
            'j': None,
            'a': None,
            'img': None,
        },
    ]
