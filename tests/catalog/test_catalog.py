"""Directories and tables: create, list, get, move, drop; paths and names."""

from __future__ import annotations

import re

import pytest

import reverie as rv


def test_create_dir_nested_needs_parents(catalog, capsys):
    with pytest.raises(rv.NotFoundError, match=r"Parent directory 'a' of 'a/b/c' does not exist"):
        rv.create_dir('a/b/c')
    assert rv.list_dirs() == []
    rv.create_dir('a/b/c', parents=True)
    assert rv.list_dirs() == ['a', 'a/b', 'a/b/c']
    assert rv.list_dirs('a', recursive=False) == ['a/b']
    assert "Created directory 'a/b/c'." in capsys.readouterr().out


def test_create_dir_if_exists(catalog):
    rv.create_dir('d')
    with pytest.raises(rv.AlreadyExistsError, match="Directory 'd' already exists"):
        rv.create_dir('d')
    rv.create_dir('d', if_exists='ignore')
    assert rv.list_dirs() == ['d']


def test_drop_dir_refuses_non_empty_without_force(catalog):
    rv.create_dir('d')
    rv.create_dir('d.sub')
    rv.create_table('d/sub/t', {'x': rv.Int})
    with pytest.raises(rv.InvalidValueError, match=r"Directory 'd' is not empty.*force=True"):
        rv.drop_dir('d')
    assert rv.list_tables() == ['d/sub/t']
    rv.drop_dir('d', force=True)
    assert rv.list_dirs() == []
    assert rv.list_tables() == []
    with pytest.raises(rv.NotFoundError, match="Directory 'd' does not exist"):
        rv.drop_dir('d')
    rv.drop_dir('d', if_not_exists='ignore')


def test_create_table_prints_and_if_exists(catalog, capsys):
    rv.create_dir('reve_demo')
    t = rv.create_table('reve_demo/scenes', {'prompt': rv.String})
    assert "Created table 'scenes'." in capsys.readouterr().out
    t.insert(prompt='a')
    with pytest.raises(rv.AlreadyExistsError, match="Table 'reve_demo/scenes' already exists"):
        rv.create_table('reve_demo/scenes', {'prompt': rv.String})
    kept = rv.create_table('reve_demo/scenes', {'other': rv.Int}, if_exists='ignore')
    assert kept.columns() == ['prompt']
    assert kept.count() == 1
    replaced = rv.create_table('reve_demo/scenes', {'other': rv.Int}, if_exists='replace')
    assert replaced.columns() == ['other']
    assert replaced.count() == 0


def test_insert_prints_summary(catalog, capsys):
    t = rv.create_table('scenes', {'prompt': rv.String})
    capsys.readouterr()
    t.insert(prompt='a')
    out = capsys.readouterr().out
    assert re.search(r'Inserted 1 row with 0 errors in \d+\.\d\d s', out), out
    t.insert([{'prompt': 'b'}, {'prompt': 'c'}])
    assert 'Inserted 2 rows with 0 errors in' in capsys.readouterr().out


@pytest.mark.parametrize('path', ['a/b/t', 'a.b.t'], ids=['slash', 'dot'])
def test_paths_with_slashes_or_dots(catalog, path):
    rv.create_dir('a.b', parents=True)
    t = rv.create_table(path, {'x': rv.Int})
    assert t.get_metadata()['path'] == 'a/b/t'
    assert t.get_metadata()['name'] == 't'
    assert rv.get_table('a.b.t').get_metadata()['path'] == 'a/b/t'
    assert rv.list_tables('a') == ['a/b/t']
    assert rv.list_tables('a', recursive=False) == []
    assert rv.list_tables('a/b', recursive=False) == ['a/b/t']


def test_table_in_missing_dir(catalog):
    with pytest.raises(
        rv.NotFoundError, match=r"Directory 'nope' does not exist.*rv.create_dir\('nope'\)"
    ):
        rv.create_table('nope/t', {'x': rv.Int})


@pytest.mark.parametrize(
    'path',
    [
        pytest.param('1abc', id='leading-digit'),
        pytest.param('-ab', id='leading-dash'),
        pytest.param('a b', id='space'),
        pytest.param('a//b', id='empty-part'),
        pytest.param("x'; DROP TABLE t; --", id='injection'),
        pytest.param('a' * 64, id='too-long'),
        pytest.param('', id='empty'),
    ],
)
def test_invalid_table_paths(catalog, path):
    with pytest.raises(rv.InvalidValueError, match='Invalid table path'):
        rv.create_table(path, {'x': rv.Int})
    assert rv.list_tables() == []


@pytest.mark.parametrize(
    'name',
    [
        pytest.param('1x', id='leading-digit'),
        pytest.param('_x', id='underscore'),
        pytest.param('a b', id='space'),
        pytest.param('select', id='reserved'),
        pytest.param('x"y', id='quote'),
    ],
)
def test_invalid_column_names(catalog, name):
    with pytest.raises(rv.InvalidValueError, match=re.escape(repr(name))):
        rv.create_table('t', {name: rv.Int})
    assert rv.list_tables() == []


def test_missing_table_suggests_closest(catalog):
    rv.create_dir('reve_demo')
    rv.create_table('reve_demo/scenes', {'x': rv.Int})
    with pytest.raises(rv.NotFoundError, match="Did you mean 'reve_demo/scenes'"):
        rv.get_table('reve_demo.scnes')
    with pytest.raises(rv.NotFoundError, match=r'does not exist\. See rv\.list_tables\(\)'):
        rv.get_table('zzzzzz')
    with pytest.raises(rv.NotFoundError, match='Did you mean'):
        rv.drop_table('reve_demo/scene')
    rv.drop_table('reve_demo/scene', if_not_exists='ignore')


def test_drop_table(catalog):
    t = rv.create_table('t', {'x': rv.Int})
    t.insert(x=1)
    rv.drop_table('t')
    assert rv.list_tables() == []
    with pytest.raises(rv.NotFoundError, match='no longer exists'):
        t.count()
    t2 = rv.create_table('t', {'y': rv.String})
    assert t2.count() == 0


def test_move_table_and_dir(catalog):
    rv.create_dir('a')
    rv.create_dir('b')
    t = rv.create_table('a/t', {'x': rv.Int})
    t.insert(x=7)
    rv.move('a/t', 'b/u')
    assert rv.list_tables() == ['b/u']
    assert t.get_metadata()['path'] == 'b/u'
    assert rv.get_table('b.u').collect()['x'] == [7]
    rv.move('b', 'c')
    assert rv.list_dirs() == ['a', 'c']
    assert rv.list_tables() == ['c/u']
    with pytest.raises(rv.AlreadyExistsError, match="'a' already exists"):
        rv.move('c', 'a')
    with pytest.raises(rv.NotFoundError, match="Directory 'nope' does not exist"):
        rv.move('c/u', 'nope/u')
    with pytest.raises(rv.NotFoundError, match="No table or directory 'zz'"):
        rv.move('zz', 'yy')


def test_table_dir_name_clash(catalog):
    rv.create_dir('d')
    rv.create_table('t', {'x': rv.Int})
    with pytest.raises(rv.AlreadyExistsError, match="'t' is a table"):
        rv.create_dir('t')
    with pytest.raises(rv.AlreadyExistsError, match="'d' is a directory"):
        rv.create_table('d', {'x': rv.Int})


def test_empty_schema_refused(catalog):
    with pytest.raises(rv.InvalidValueError, match='schema must be a non-empty dict'):
        rv.create_table('t', {})


def test_reopen_sees_tables(db_url, tmp_path):
    cfg = {'db_url': db_url, 'media_dir': str(tmp_path / 'media')}
    rv.init(cfg)
    rv.create_dir('d')
    rv.create_table('d/t', {'x': rv.Int}).insert(x=3)
    cat = rv.init(cfg)
    try:
        assert rv.list_dirs() == ['d']
        assert rv.list_tables() == ['d/t']
        assert rv.get_table('d.t').collect()['x'] == [3]
    finally:
        cat.close()
