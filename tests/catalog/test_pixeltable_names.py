"""Issue 22: what a Pixeltable 0.7 user types works under the same names and meaning.

get_versions() keys, schema_overrides on CSV text, sample()/distinct() as queries,
Query.update()/delete(), get_dir_contents, JSON attribute access, t.col.recompute(),
rv.io.import_*, methods reverie lacks, and insert(on_error='abort') keeping its rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reverie as rv
from reverie.functions import reve
from tests.catalog import _view_helpers as h


@rv.udf
def inverse(n: int) -> float:
    return 1 / n


def _numbers(n: int = 20) -> rv.Table:
    t = rv.create_table('t', {'k': rv.String, 'n': rv.Int})
    t.insert([{'k': 'a' if i % 3 else 'b', 'n': i} for i in range(n)], print_stats=False)
    return t


def test_get_versions_has_pixeltables_keys_beside_reveries(catalog):
    t = _numbers(3)
    t.update({'k': 'z'}, where=t.n == 1)
    t.add_column(extra=rv.Int | None)
    t.delete(where=t.n == 2)
    deleted, added, updated, inserted, created = t.get_versions()
    assert (deleted['change_type'], deleted['deletes'], deleted['deleted']) == ('data', 1, 1)
    assert added['change_type'] == 'schema' and added['kind'] == 'add_column'
    assert (updated['change_type'], updated['updates']) == ('data', 1)
    assert (inserted['change_type'], inserted['inserts'], inserted['inserted']) == ('data', 3, 3)
    assert created['change_type'] == 'schema'
    assert {'inserts', 'updates', 'deletes', 'change_type'} <= set(created)


def test_a_string_override_keeps_csv_digits_as_written(catalog, tmp_path: Path):
    csv = tmp_path / 'codes.csv'
    csv.write_text('code,n\n007,1\n42,2\n')
    t = rv.create_table('codes', source=csv, schema_overrides={'code': rv.String})
    assert t.select(t.code, t.n).collect()['code'] == ['007', '42']
    u = rv.io.import_csv('codes2', str(csv), schema_overrides={'code': rv.String})
    assert u.collect()['code'] == ['007', '42']


def test_sample_is_a_query(catalog):
    t = _numbers()
    q = t.sample(n=5, seed=7)
    assert 'sample:   n=5, seed=7' in repr(q)  # described, not run
    rows = q.collect()
    assert len(rows) == 5 and rows == t.sample(n=5, seed=7).collect()
    assert q.count() == 5
    assert q.show() == rows  # the sample's rows, not a sample of the first 20
    assert q.head(2)['n'] == rows['n'][:2] and q.tail(2)['n'] == rows['n'][3:]
    assert t.limit(3, offset=2).collect()['n'] == [2, 3, 4]
    picked = t.select(t.n).sample(3, seed=1).collect()
    assert picked.column_names == ['n'] and len(picked) == 3
    assert picked['n'] == sorted(picked['n'])


def test_distinct(catalog):
    t = _numbers()
    assert sorted(t.select(t.k).distinct().collect()['k']) == ['a', 'b']
    assert len(t.distinct().collect()) == 20


def test_query_update_and_delete(catalog):
    t = _numbers()
    status = t.where(t.n > 15).update({'k': 'z'})
    assert status.num_rows == 4 and t.where(t.k == 'z').count() == 4
    assert t.where(t.n < 2).delete().num_rows == 2 and t.count() == 18
    with pytest.raises(rv.InvalidValueError, match=r'takes t.where\(...\) only'):
        t.select(t.n).update({'k': 'y'})
    with pytest.raises(rv.InvalidValueError, match='read-only'):
        rv.get_table('t:1').where(t.n > 1).delete()


def test_get_dir_contents(catalog):
    rv.create_dir('d')
    rv.create_dir('d/sub')
    rv.create_table('d/sub/t', {'x': rv.Int})
    rv.create_table('d/u', {'x': rv.Int})
    assert rv.get_dir_contents('d') == {'dirs': ['d/sub'], 'tables': ['d/sub/t', 'd/u']}
    assert rv.get_dir_contents('d', recursive=False) == {'dirs': ['d/sub'], 'tables': ['d/u']}


def test_json_attribute_access_is_a_key(catalog):
    t = rv.create_table('j', {'meta': rv.Json})
    t.insert(meta={'f5': 3, 'g': {'h': 'x'}}, print_stats=False)
    row = t.select(a=t.meta.f5, b=t.meta.g.h, c=t.meta['f5']).collect()[0]
    assert row == {'a': 3, 'b': 'x', 'c': 3}


def test_column_recompute(catalog):
    t = rv.create_table('r', {'n': rv.Int})
    t.add_computed_column(r=inverse(t.n), print_stats=False)
    t.insert([{'n': 1}, {'n': 0}], on_error='ignore', print_stats=False)
    t.update({'n': 4}, where=t.n == 0, cascade=False)
    status = t.r.recompute(errors_only=True, print_stats=False)
    assert status.num_computed_values == 1 and status.num_excs == 0
    assert sorted(t.collect()['r']) == [0.25, 1.0]


def test_io_imports_create_tables(catalog, tmp_path: Path):
    pd = pytest.importorskip('pandas')
    t = rv.io.import_pandas('p', pd.DataFrame({'a': [1, 2]}))
    assert t.collect()['a'] == [1, 2]
    path = tmp_path / 'rows.json'
    path.write_text(json.dumps([{'a': 'x'}, {'a': 'y'}]))
    assert rv.io.import_json('js', str(path)).collect()['a'] == ['x', 'y']
    rv.io.export_parquet(t, tmp_path / 'p.parquet')
    assert rv.io.import_parquet('pq', parquet_path=tmp_path / 'p.parquet').count() == 2
    with pytest.raises(rv.InvalidValueError, match='no primary key'):
        rv.io.import_pandas('k', pd.DataFrame({'a': [1]}), primary_key='a')


@pytest.mark.parametrize('method', ['join', 'batch_update', 'link_external_store'])
def test_a_method_reverie_lacks_is_not_called_a_missing_column(catalog, method):
    t = _numbers(1)
    with pytest.raises(AttributeError, match=f"Table has no method '{method}'") as info:
        getattr(t, method)
    assert 'column' not in str(info.value) and 'divergences.md' in str(info.value)


def test_abort_keeps_the_inserted_rows_and_says_how_to_finish(catalog):
    t = rv.create_table('a', {'n': rv.Int})
    t.add_computed_column(r=inverse(t.n), print_stats=False)
    with pytest.raises(rv.ExecutionError, match='2 inserted rows were kept') as info:
        t.insert([{'n': 1}, {'n': 0}], print_stats=False)
    assert 'do not run the insert again' in str(info.value)
    assert 'recompute_columns(errors_only=True)' in str(info.value)
    assert t.count() == 2  # kept on purpose (docs/divergences.md)


def test_reve_model_kwargs(catalog, reve_log: Path):
    t = rv.create_table('m', {'prompt': rv.String})
    t.add_computed_column(
        img=reve.create(t.prompt, model_kwargs={'aspect_ratio': '16:9'}), print_stats=False
    )
    t.insert(prompt='a fox', print_stats=False)
    size = t.select(w=t.img.width, h=t.img.height).collect()[0]
    assert size['w'] / size['h'] > 1.6  # 16:9 (rounded at the stand-in's tiny size)
    assert len(h.requests(reve_log)) == 1
    with pytest.raises(rv.InvalidValueError, match='model_kwargs takes a dict with keys'):
        reve.create(t.prompt, model_kwargs={'seed': 1})
