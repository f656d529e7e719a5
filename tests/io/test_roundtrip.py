"""Data in and out, round trips on SQLite and PostgreSQL: DataFrame, CSV, Parquet, image folder."""

from __future__ import annotations

import datetime
import io
import json

import PIL.Image
import pytest

import reverie as rv

UTC = datetime.UTC


def _png(color, size=(6, 4)) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', size, color).save(buf, format='PNG')
    return buf.getvalue()


def _rows():
    return [
        {
            'name': 'fox',
            'n': 1,
            'k': 10,
            'x': 1.5,
            'ok': True,
            'at': datetime.datetime(2024, 5, 1, 10, 30, tzinfo=UTC),
            'day': datetime.date(2024, 5, 1),
            'meta': {'tags': ['a', 'b'], 'depth': 2},
            'img': _png((200, 10, 10)),
        },
        {
            'name': 'cat',
            'n': 2,
            'k': None,
            'x': None,
            'ok': False,
            'at': None,
            'day': None,
            'meta': None,
            'img': None,
        },
        {
            'name': None,
            'n': 3,
            'k': 30,
            'x': -2.25,
            'ok': None,
            'at': datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
            'day': datetime.date(2025, 1, 2),
            'meta': [1, 'two', None],
            'img': _png((10, 10, 200), (3, 7)),
        },
    ]


SCHEMA = {
    'name': rv.String | None,
    'n': rv.Int,
    'k': rv.Int | None,
    'x': rv.Float | None,
    'ok': rv.Bool | None,
    'at': rv.Timestamp | None,
    'day': rv.Date | None,
    'meta': rv.Json | None,
    'img': rv.Image | None,
}


@pytest.fixture
def original(catalog):
    t = rv.create_table('original', SCHEMA)
    t.insert(_rows(), print_stats=False)
    return t


def _plain(t, *names):
    return t.select(*(t[n] for n in names)).order_by(t.n).collect()


def test_dataframe_round_trip(original):
    df = original.select(*(original[c] for c in SCHEMA if c != 'img')).collect().to_pandas()
    copy = rv.create_table(
        'copy', source=df, schema_overrides={'k': rv.Int | None, 'day': rv.Date | None}
    )
    names = [c for c in SCHEMA if c != 'img']
    assert copy.columns() == names
    md = copy.get_metadata()['columns']
    assert {c: md[c]['type_'] for c in names} == {  # inferred: nullable, as in Pixeltable
        'name': 'String | None',
        'n': 'Int | None',
        'k': 'Int | None',
        'x': 'Float | None',
        'ok': 'Bool | None',
        'at': 'Timestamp | None',
        'day': 'Date | None',
        'meta': 'Json | None',
    }
    assert _plain(copy, *names) == _plain(original, *names)
    copy.insert(df, print_stats=False)  # and insert() takes the DataFrame too
    assert copy.count() == 6


def test_dataframe_with_image_column_by_override(catalog, tmp_path):
    pd = pytest.importorskip('pandas')
    (tmp_path / 'a.png').write_bytes(_png((1, 2, 3)))
    df = pd.DataFrame({'photo': [str(tmp_path / 'a.png'), None], 'label': ['a', 'b']})
    t = rv.create_table('pics', source=df, schema_overrides={'photo': rv.Image | None})
    assert t.get_metadata()['columns']['photo']['type_'] == 'Image | None'
    assert t.select(w=t.photo.width).collect()['w'] == [6, None]


def test_csv_round_trip(original, tmp_path):
    names = ['name', 'n', 'k', 'x', 'ok', 'at', 'day']
    path = tmp_path / 'rows.csv'
    original.select(*(original[c] for c in names)).collect().to_pandas().to_csv(path, index=False)
    # to_pandas() gives an Int column with nulls as float (10.0 in the CSV): say it is Int.
    copy = rv.create_table('copy', source=str(path), schema_overrides={'k': rv.Int | None})
    md = copy.get_metadata()['columns']
    assert [md[c]['type_'] for c in names] == [  # inferred: nullable, as in Pixeltable
        'String | None',
        'Int | None',
        'Int | None',
        'Float | None',
        'Bool | None',
        'Timestamp | None',
        'Date | None',
    ]
    assert _plain(copy, *names) == _plain(original, *names)
    copy.insert(path, print_stats=False)
    assert copy.count() == 6


def test_csv_json_column_and_relative_image_paths(catalog, tmp_path):
    (tmp_path / 'photos').mkdir()
    (tmp_path / 'photos' / 'a.png').write_bytes(_png((9, 9, 9)))
    path = tmp_path / 'data.csv'
    path.write_text('photo,meta\nphotos/a.png,"{""k"": [1, 2]}"\n,\n')
    t = rv.create_table(
        'pics', source=path, schema_overrides={'photo': rv.Image | None, 'meta': rv.Json | None}
    )
    assert t.select(t.meta, w=t.photo.width).collect().raw_rows() == [
        ({'k': [1, 2]}, 6),
        (None, None),
    ]


@pytest.mark.parametrize('images', ['files', 'bytes'])
def test_parquet_round_trip(original, tmp_path, images):
    path = rv.io.export_parquet(original, tmp_path / 'out' / 'rows.parquet', images=images)
    assert path == tmp_path / 'out' / 'rows.parquet'
    beside = sorted(p.name for p in (tmp_path / 'out' / 'rows_images').glob('*'))
    assert len(beside) == (2 if images == 'files' else 0)
    copy = rv.create_table('copy', source=str(path))

    def types(t):
        return {c: m['type_'] for c, m in t.get_metadata()['columns'].items()}

    assert types(copy) == types(original)  # Int, Image | None, Json | None ... exactly
    assert _plain(copy, *SCHEMA) == _plain(original, *SCHEMA)  # same images, same media refs
    # A query exports too, expressions included.
    q = original.select(original.name, w=original.img.width).where(original.n > 1)
    q_copy = rv.create_table('q', source=rv.io.export_parquet(q, tmp_path / 'q.parquet'))
    assert types(q_copy) == {'name': 'String | None', 'w': 'Int | None'}
    assert sorted(q_copy.collect().raw_rows(), key=repr) == [('cat', None), (None, 3)]


def test_parquet_images_survive_a_moved_folder(original, tmp_path):
    path = rv.io.export_parquet(
        original.select(original.img, original.n), tmp_path / 'a' / 'p.parquet'
    )
    moved = tmp_path / 'b'
    (tmp_path / 'a').rename(moved)
    copy = rv.create_table('copy', source=moved / path.name)
    assert _plain(copy, 'img', 'n') == _plain(original, 'img', 'n')


def test_image_folder_round_trip(original, tmp_path):
    folder = rv.io.export_images(
        original.select(original.img, original.name, original.n, original.meta, original.at),
        tmp_path / 'folder',
    )
    lines = [json.loads(x) for x in (folder / 'metadata.jsonl').read_text().splitlines()]
    assert [x['file_name'] for x in lines] == ['00000.png', '00002.png']  # row 1 has no image
    assert lines[0]['at'] == '2024-05-01T10:30:00+00:00'
    copy = rv.create_table(
        'copy',
        source=folder / 'metadata.jsonl',
        schema_overrides={'file_name': rv.Image, 'at': rv.Timestamp},
    )
    got = copy.select(copy.file_name, copy.name, copy.n, copy.meta, copy.at).collect()
    want = original.select(original.img, original.name, original.n, original.meta, original.at)
    assert got.raw_rows() == want.where(original.img != None).collect().raw_rows()  # noqa: E711


def test_image_folder_loads_in_hugging_face_datasets(sqlite_catalog, tmp_path):
    datasets = pytest.importorskip('datasets')
    t = rv.create_table(
        'pics', {'img': rv.Image | None, 'label': rv.String | None, 'n': rv.Int | None}
    )
    t.insert(
        [{'img': _png((i * 40, 0, 0)), 'label': f'l{i}', 'n': i} for i in range(3)],
        print_stats=False,
    )
    folder = rv.io.export_images(t, tmp_path / 'hf')
    ds = datasets.load_dataset(
        'imagefolder', data_dir=str(folder), split='train', cache_dir=str(tmp_path / 'cache')
    )
    assert ds.column_names == ['image', 'label', 'n']
    assert sorted(ds['label']) == ['l0', 'l1', 'l2']
    assert {img.size for img in ds['image']} == {(6, 4)}


def test_insert_from_json_and_jsonl(catalog, tmp_path):
    t = rv.create_table('t', {'s': rv.String | None, 'meta': rv.Json | None})
    (tmp_path / 'rows.json').write_text(json.dumps([{'s': 'a', 'meta': {'x': 1}}, {'s': 'b'}]))
    (tmp_path / 'rows.jsonl').write_text('{"s": "c", "meta": [1]}\n\n{"s": "d"}\n')
    t.insert(str(tmp_path / 'rows.json'), print_stats=False)
    t.insert(tmp_path / 'rows.jsonl', print_stats=False)
    assert t.collect().raw_rows() == [('a', {'x': 1}), ('b', None), ('c', [1]), ('d', None)]
    inferred = rv.create_table('u', source=str(tmp_path / 'rows.json'))
    assert inferred.get_metadata()['columns']['meta']['type_'] == 'Json | None'
