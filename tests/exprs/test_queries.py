"""Queries: select, where, order_by, limit, head/tail, count, pandas, image props, JSON paths."""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import pytest

import reverie as rv


@pytest.fixture
def pets(catalog):
    t = rv.create_table(
        'pets',
        {
            'kind': rv.String | None,
            'n': rv.Int,
            'w': rv.Float | None,
            'meta': rv.Json | None,
            'img': rv.Image | None,
        },
    )
    t.insert(
        [
            {
                'kind': 'cat',
                'n': 3,
                'w': 4.5,
                'meta': {'a': [10, 11], 'k': 'x'},
                'img': PIL.Image.new('RGB', (8, 6)),
            },
            {
                'kind': 'dog',
                'n': 1,
                'w': 20.0,
                'meta': {'a': [20]},
                'img': PIL.Image.new('L', (5, 7)),
            },
            {'kind': 'eel', 'n': 2, 'w': None, 'meta': None},
            {'kind': None, 'n': 5, 'w': 1.0, 'meta': {'a': []}},
        ],
        print_stats=False,
    )
    return t


def test_select_columns_and_expressions(pets):
    rs = pets.select(pets.kind, pets.n * 10, double=pets.n + pets.n, ratio=pets.w / 2).collect()
    assert rs.column_names == ['kind', 'col_1', 'double', 'ratio']
    assert rs['kind'] == ['cat', 'dog', 'eel', None]
    assert rs['col_1'] == [30, 10, 20, 50]
    assert rs['double'] == [6, 2, 4, 10]
    assert rs['ratio'] == [2.25, 10.0, None, 0.5]


@pytest.mark.parametrize(
    ('make', 'expected'),
    [
        pytest.param(lambda t: t.n > 2, ['cat', None], id='gt'),
        pytest.param(lambda t: t.n >= 2, ['cat', 'eel', None], id='ge'),
        pytest.param(lambda t: t.n == 1, ['dog'], id='eq'),
        pytest.param(lambda t: t.n != 1, ['cat', 'eel', None], id='ne'),
        pytest.param(lambda t: t.n < 2, ['dog'], id='lt'),
        pytest.param(lambda t: (t.n > 1) & (t.w < 10), ['cat', None], id='and'),
        pytest.param(lambda t: (t.n == 1) | (t.n == 5), ['dog', None], id='or'),
        pytest.param(lambda t: ~(t.n > 1), ['dog'], id='not'),
        pytest.param(lambda t: t.kind.isin(['cat', 'eel', 'yak']), ['cat', 'eel'], id='isin'),
        pytest.param(lambda t: t.kind == None, [None], id='eq-none'),  # noqa: E711
        pytest.param(lambda t: t.w != None, ['cat', 'dog', None], id='ne-none'),  # noqa: E711
        pytest.param(lambda t: t.meta == None, ['eel'], id='json-none'),  # noqa: E711
        pytest.param(lambda t: t.img.width > 6, ['cat'], id='image-prop'),
        pytest.param(lambda t: t.meta['a'][0] == 20, ['dog'], id='json-path'),
    ],
)
def test_where(pets, make, expected):
    assert pets.where(make(pets)).select(pets.kind).collect()['kind'] == expected
    assert pets.where(make(pets)).count() == len(expected)


def test_where_combined(pets):
    q = pets.where((pets.n > 1) & (pets.kind != None))  # noqa: E711 (one where(), as in Pixeltable)
    assert q.select(pets.kind).collect()['kind'] == ['cat', 'eel']


def test_expr_bool_refused(pets):
    with pytest.raises(rv.Error, match=r'use &, \|, ~'):
        bool(pets.n > 1)


def test_order_by_and_limit(pets):
    assert pets.order_by(pets.n).select(pets.n).collect()['n'] == [1, 2, 3, 5]
    assert pets.order_by(pets.n, asc=False).select(pets.n).collect()['n'] == [5, 3, 2, 1]
    assert pets.order_by(pets.n, asc=False).limit(2).select(pets.kind).collect()['kind'] == [
        None,
        'cat',
    ]
    assert pets.order_by(pets.img.height, asc=False).limit(1).select(pets.kind).collect()[
        'kind'
    ] == ['dog']
    with pytest.raises(rv.InvalidValueError, match='non-negative int'):
        pets.limit(-1)


def test_head_tail_count(pets):
    assert pets.head(2)['kind'] == ['cat', 'dog']
    assert pets.tail(2)['kind'] == ['eel', None]
    assert pets.count() == 4
    assert len(pets.collect()) == 4
    assert pets.where(pets.n > 100).count() == 0
    assert len(pets.where(pets.n > 100).collect()) == 0


def test_to_pandas(pets):
    df = pets.select(pets.kind, pets.n).to_pandas()
    assert list(df.columns) == ['kind', 'n']
    assert df['n'].tolist() == [3, 1, 2, 5]
    assert df['kind'].tolist()[:3] == ['cat', 'dog', 'eel']
    assert len(pets.to_pandas()) == 4


def test_image_properties(pets, tmp_path):
    rs = (
        pets.where(pets.img != None)  # noqa: E711
        .select(
            pets.img.width, pets.img.height, pets.img.mode, pets.img.fileurl, pets.img.localpath
        )
        .collect()
    )
    assert rs['width'] == [8, 5]
    assert rs['height'] == [6, 7]
    assert rs['mode'] == ['RGB', 'L']
    for url, local in zip(rs['fileurl'], rs['localpath'], strict=True):
        path = Path(local)
        assert path.is_file()
        assert path.resolve().is_relative_to((tmp_path / 'media').resolve())
        assert url == path.as_uri()
    img = pets.select(pets.img).head(1)['img'][0]
    assert isinstance(img, PIL.Image.Image)
    assert img.size == (8, 6)


def test_image_props_of_null_are_null(pets):
    rs = pets.where(pets.img == None).select(pets.img.width, pets.img.mode).collect()  # noqa: E711
    assert rs['width'] == [None, None]
    assert rs['mode'] == [None, None]


def test_json_paths(pets):
    rs = pets.select(first=pets.meta['a'][0], k=pets.meta['k']).collect()
    assert rs['first'] == [10, 20, None, None]
    assert rs['k'] == ['x', None, None, None]
    with pytest.raises(rv.TypeMismatchError, match='only Json and Array values can be indexed'):
        pets.n['a']


def test_resultset_indexing(pets):
    rs = pets.select(pets.kind, pets.n).collect()
    assert rs[0] == {'kind': 'cat', 'n': 3}
    assert rs[-1] == {'kind': None, 'n': 5}
    assert rs['n'] == [3, 1, 2, 5]
    assert rs[1, 'kind'] == 'dog'
    assert list(rs)[2] == {'kind': 'eel', 'n': 2}
    with pytest.raises(IndexError, match='out of range'):
        rs[4]
    with pytest.raises(KeyError, match="No column 'zz'"):
        rs['zz']


def test_unknown_column_attribute(pets):
    with pytest.raises(
        AttributeError, match="Table 'pets' has no column 'nope'; its columns are 'kind'"
    ):
        _ = pets.nope


def test_comparison_type_mismatch(pets):
    with pytest.raises(rv.TypeMismatchError):
        _ = pets.n > 'three'
    with pytest.raises(rv.TypeMismatchError, match='where\\(\\) needs a Bool'):
        pets.where(pets.n + 1)


def test_nulls_sort_last_both_ways_on_every_backend(pets):
    # SQL path (stored column) and Python path (image property) agree: nulls last.
    assert pets.order_by(pets.w).select(pets.w).collect()['w'] == [1.0, 4.5, 20.0, None]
    assert pets.order_by(pets.w, asc=False).select(pets.w).collect()['w'] == [20.0, 4.5, 1.0, None]
    by_height = pets.order_by(pets.img.height).select(pets.kind).collect()['kind']
    assert by_height == ['cat', 'dog', 'eel', None]
    by_height_desc = pets.order_by(pets.img.height, asc=False).select(pets.kind).collect()['kind']
    assert by_height_desc == ['dog', 'cat', 'eel', None]
