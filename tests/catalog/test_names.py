"""Pixeltable's names and semantics: reserved column names, columns(), get_metadata(),
sample(), expr.apply(), get_table(if_not_exists=), Table objects where paths go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reverie as rv
from reverie.catalog.paths import RESERVED_NAMES
from tests.child import OPEN_CATALOG, run_python

ROOT = Path(__file__).resolve().parents[2]


def test_name_and_path_are_ordinary_column_names(catalog):
    t = rv.create_table('files', {'name': rv.String, 'path': rv.String})
    t.insert(name='fox', path='photos/fox.jpg', print_stats=False)
    assert t.select(t.name, t.path).collect()[0] == {'name': 'fox', 'path': 'photos/fox.jpg'}
    assert t.where(t.name == 'fox').count() == 1


@pytest.mark.parametrize('name', ['columns', 'insert', 'select', 'count', 'get_metadata'])
def test_table_method_names_are_reserved(catalog, name):
    with pytest.raises(rv.InvalidValueError, match=f"Column name '{name}' is reserved"):
        rv.create_table('t', {name: rv.Int})


def test_every_public_table_attribute_is_reserved():
    public = {a for a in dir(rv.Table) if not a.startswith('_')}
    assert public <= RESERVED_NAMES, public - RESERVED_NAMES
    assert not {'name', 'path'} & RESERVED_NAMES


def test_columns_is_a_method_and_get_metadata(catalog):
    rv.create_dir('d')
    t = rv.create_table('d.t', {'prompt': rv.String, 'n': rv.Required[rv.Int]})

    @rv.udf
    def shout(s: str) -> str:
        return s.upper()

    t.add_computed_column(loud=shout(t.prompt), print_stats=False)
    assert t.columns() == ['prompt', 'n', 'loud']
    md = t.get_metadata()
    assert md['name'] == 't' and md['path'] == 'd/t' and md['kind'] == 'table'
    assert md['is_view'] is False and md['version'] >= 1
    assert md['columns']['n'] == {
        'name': 'n',
        'type_': 'Int',
        'computed_with': None,
        'is_stored': True,
        'is_primary_key': False,
        'defined_in': 't',
    }
    assert md['columns']['loud']['computed_with'] == 'shout(prompt)'
    json.dumps(md)  # plain data


def test_sample_is_reproducible_and_bounded(catalog):
    t = rv.create_table('t', {'x': rv.Int})
    t.insert([{'x': i} for i in range(50)], print_stats=False)
    a, b = t.sample(5, seed=7).collect(), t.sample(5, seed=7).collect()
    assert a == b and len(a) == 5
    assert a['x'] == sorted(a['x']) and set(a['x']) <= set(range(50))
    assert t.sample(5, seed=8).collect()['x'] != a['x']
    assert len(t.sample(500).collect()) == 50
    with pytest.raises(rv.InvalidValueError, match='non-negative int'):
        t.sample(-1)


def test_apply_in_queries_and_computed_columns(catalog):
    t = rv.create_table('t', {'s': rv.String, 'meta': rv.Json | None})
    t.insert([{'s': 'ab', 'meta': {'k': 1}}, {'s': 'xyz', 'meta': None}], print_stats=False)
    rs = t.select(t.s.apply(len, col_type=rv.Int), t.s.apply(lambda s: s * 2, col_type=rv.String))
    assert rs.collect().raw_rows() == [(2, 'abab'), (3, 'xyzxyz')]
    t.add_computed_column(dumped=t.meta.apply(json.dumps, col_type=rv.String), print_stats=False)
    assert t.select(t.dumped).collect()['dumped'] == ['{"k": 1}', None]
    with pytest.raises(rv.InvalidValueError, match='pass col_type='):
        t.s.apply(lambda s: s)
    with pytest.raises(rv.InvalidValueError, match='takes a function'):
        t.s.apply(3)


def test_apply_column_is_computed_in_a_new_process(catalog, db_url, tmp_path):
    t = rv.create_table('t', {'s': rv.String})
    t.add_computed_column(n=t.s.apply(len, col_type=rv.Int), print_stats=False)
    script = OPEN_CATALOG + (
        "t = rv.get_table('t')\n"
        "t.insert(s='four', print_stats=False)\n"
        "print(t.select(t.n).collect()['n'])\n"
    )
    proc = run_python(script, db_url, str(tmp_path / 'media'))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[4]'


def test_get_table_if_not_exists(catalog):
    assert rv.get_table('nope', if_not_exists='ignore') is None
    with pytest.raises(rv.NotFoundError, match="'nope' does not exist"):
        rv.get_table('nope')
    with pytest.raises(
        rv.InvalidValueError, match="if_not_exists must be one of 'error', 'ignore'"
    ):
        rv.get_table('nope', if_not_exists='maybe')


def test_table_objects_accepted_where_paths_are(catalog):
    rv.create_dir('d')
    t = rv.create_table('t', {'x': rv.Int})
    assert rv.get_table(t).columns() == ['x']
    rv.move(t, 'd/u')
    assert rv.list_tables() == ['d/u']
    rv.drop_table(t)
    assert rv.list_tables() == []
    rv.drop_table(t, if_not_exists='ignore')  # already gone: the handle still knows no path


def test_wrong_kind_of_path_does_not_paste_a_schema(catalog):
    t = rv.create_table('t', {'x': rv.Int})
    with pytest.raises(rv.InvalidValueError) as info:
        rv.create_table(t, {'y': rv.Int})
    assert str(info.value) == 'A table path must be a string such as "dir/table", got a Table.'


def test_add_computed_column_messages(catalog):
    t = rv.create_table('t', {'x': rv.Int})
    with pytest.raises(rv.InvalidValueError, match=r'destination= is not supported'):
        t.add_computed_column(y=t.x + 1, destination='s3://b/p')
    with pytest.raises(rv.InvalidValueError, match=r"one column at a time; got 2: 'y', 'z'"):
        t.add_computed_column(y=t.x + 1, z=t.x + 2)
    with pytest.raises(rv.InvalidValueError, match=r'needs a name=expression'):
        t.add_computed_column()
    assert t.columns() == ['x']


def test_a_table_in_a_value_position_is_named_not_printed(catalog):
    t = rv.create_table('t', {'x': rv.Int})
    for call in (lambda: t.select(t), lambda: t.insert(x=t), lambda: t.where(t.x == t)):
        with pytest.raises(rv.InvalidValueError, match='<Table>') as info:
            call()
        assert '\n' not in str(info.value) and 'Column Name' not in str(info.value)
