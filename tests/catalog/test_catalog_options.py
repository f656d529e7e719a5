"""Catalog options and lifecycles: ids never reused, option values checked, moves, drops."""

from __future__ import annotations

import pytest

import reverie as rv


def test_dropped_table_handle_never_reaches_a_newer_table(catalog):
    """Bug 1: ids were reused, so ``a.delete()`` emptied ``b`` created after ``a`` was dropped."""
    a = rv.create_table('a', {'x': rv.Int})
    rv.drop_table('a')
    b = rv.create_table('b', {'x': rv.Int})
    b.insert([{'x': 1}, {'x': 2}])
    with pytest.raises(rv.NotFoundError, match='no longer exists'):
        a.delete()
    with pytest.raises(rv.NotFoundError, match='no longer exists'):
        a.insert(x=5)
    with pytest.raises(rv.NotFoundError, match='no longer exists'):
        a.count()
    assert b.count() == 2
    assert sorted(b.collect()['x']) == [1, 2]


def test_column_ids_are_not_reused_after_a_drop(catalog):
    t = rv.create_table('t', {'x': rv.Int, 'y': rv.String})
    old_y = t.y
    t.drop_column('y')
    t.add_column(z=rv.String | None)
    assert old_y.node.column_id != t.z.node.column_id


@pytest.mark.parametrize(
    'call',
    [
        pytest.param(lambda: rv.create_table('t', {'x': rv.Int}, if_exists='invalid'), id='table'),
        pytest.param(lambda: rv.create_dir('d', if_exists='invalid'), id='dir'),
        pytest.param(lambda: rv.drop_table('t', if_not_exists='nope'), id='drop_table'),
        pytest.param(lambda: rv.drop_dir('d', if_not_exists='nope'), id='drop_dir'),
        pytest.param(lambda: rv.move('t', 'u', if_exists='replace'), id='move-if_exists'),
        pytest.param(lambda: rv.move('t', 'u', if_not_exists='x'), id='move-if_not_exists'),
        pytest.param(
            lambda: rv.get_table('t').add_column(y=rv.Int | None, if_exists='x'), id='add'
        ),
        pytest.param(
            lambda: rv.get_table('t').add_computed_column(y=rv.get_table('t').x, if_exists='x'),
            id='add_computed',
        ),
        pytest.param(lambda: rv.get_table('t').drop_column('x', if_not_exists='x'), id='drop'),
    ],
)
def test_option_values_are_checked(catalog, call):
    """Bug 2: if_exists='invalid' dropped and recreated the table."""
    rv.create_dir('d')
    t = rv.create_table('t', {'x': rv.Int})
    t.insert(x=1)
    with pytest.raises(rv.InvalidValueError, match=r"must be one of 'error', 'ignore'"):
        call()
    assert rv.get_table('t').count() == 1
    assert rv.list_dirs() == ['d']


def test_create_dir_replace_and_replace_force(catalog):
    """Bug 2: 'replace' and 'replace_force' acted like 'ignore'."""
    rv.create_dir('d')
    rv.create_table('d/t', {'x': rv.Int})
    with pytest.raises(rv.AlreadyExistsError, match=r'not empty.*replace_force'):
        rv.create_dir('d', if_exists='replace')
    assert rv.list_tables('d') == ['d/t']
    rv.create_dir('d', if_exists='replace_force')
    assert rv.list_tables('d') == []
    rv.create_dir('d/sub')
    rv.drop_dir('d/sub')
    rv.create_dir('d', if_exists='replace')  # empty: dropped and created again
    assert rv.list_dirs() == ['d']


def test_create_table_replace_force(catalog):
    t = rv.create_table('t', {'x': rv.Int})
    t.insert(x=1)
    t2 = rv.create_table('t', {'y': rv.String}, if_exists='replace_force')
    assert t2.columns() == ['y']
    with pytest.raises(rv.NotFoundError):
        t.count()


def test_move_into_own_subdirectory_is_refused(catalog):
    """Bug 3: moving a dir into its own subdir orphaned the subtree."""
    rv.create_dir('a/b', parents=True)
    rv.create_table('a/b/t', {'x': rv.Int})
    with pytest.raises(rv.InvalidValueError, match="Cannot move 'a' into its own subdirectory"):
        rv.move('a', 'a/b/c')
    assert rv.list_dirs() == ['a', 'a/b']
    assert rv.list_tables() == ['a/b/t']


def test_move_if_exists_if_not_exists(catalog):
    rv.create_table('t', {'x': rv.Int})
    rv.create_table('u', {'x': rv.Int})
    with pytest.raises(rv.AlreadyExistsError, match="'u' already exists"):
        rv.move('t', 'u')
    rv.move('t', 'u', if_exists='ignore')
    assert rv.list_tables() == ['t', 'u']
    with pytest.raises(rv.NotFoundError, match="No table or directory 'nope'"):
        rv.move('nope', 'v')
    rv.move('nope', 'v', if_not_exists='ignore')
    assert rv.list_tables() == ['t', 'u']


def test_names_with_hyphens(catalog):
    rv.create_dir('my-dir')
    t = rv.create_table('my-dir/my-table', {'x': rv.Int})
    t.insert(x=1)
    assert rv.list_tables('my-dir') == ['my-dir/my-table']
    rv.move('my-dir/my-table', 'my-dir/other-name')
    assert rv.get_table('my-dir.other-name').count() == 1
    with pytest.raises(rv.InvalidValueError, match='Invalid column name'):
        t.add_column(**{'bad-col': rv.Int | None})
    with pytest.raises(rv.InvalidValueError, match='not a valid name'):
        rv.create_table('-lead', {'x': rv.Int})


def test_drop_table_force_and_by_handle(catalog):
    t = rv.create_table('t', {'x': rv.Int})
    rv.drop_table('t', force=True)
    assert rv.list_tables() == []
    t = rv.create_table('t', {'x': rv.Int})
    rv.drop_table(t)
    assert rv.list_tables() == []


def test_drop_last_column_is_refused(catalog):
    """Bug 18: dropping the last column was allowed; inserts then failed with raw SQL."""
    t = rv.create_table('t', {'x': rv.Int})
    with pytest.raises(rv.InvalidValueError, match="Cannot drop 'x', the last column"):
        t.drop_column('x')
    t.insert(x=1)
    assert t.count() == 1


def test_drop_column_by_reference_and_if_not_exists(catalog):
    t = rv.create_table('t', {'x': rv.Int, 'y': rv.Int, 'z': rv.Int})
    t.drop_column(t.y)
    assert t.columns() == ['x', 'z']
    t.drop_column('y', if_not_exists='ignore')
    with pytest.raises(rv.NotFoundError, match="no column 'y'"):
        t.drop_column('y')
    other = rv.create_table('o', {'x': rv.Int})
    with pytest.raises(rv.NotFoundError, match='Unknown column: x'):  # as in Pixeltable
        t.drop_column(other.x)


def test_add_column_replace_and_add_columns(catalog):
    t = rv.create_table('t', {'x': rv.Int, 'y': rv.String})
    t.insert(x=1, y='a')
    t.add_column(y=rv.Int | None, if_exists='replace')
    assert t.columns() == ['x', 'y']
    assert t.collect()['y'] == [None]
    t.add_computed_column(w=t.y + 1)
    with pytest.raises(rv.AlreadyExistsError, match='following columns depend on it: w'):
        t.add_column(y=rv.Float | None, if_exists='replace')
    t.add_column(y=rv.Float | None, if_exists='replace_force')
    assert t.columns() == ['x', 'y']
    status = t.add_columns({'a': rv.Int | None, 'b': rv.Json | None})
    assert status.updated_cols == ['a', 'b']
    assert t.columns() == ['x', 'y', 'a', 'b']
    assert t.add_columns({'a': rv.Int | None}, if_exists='ignore').updated_cols == []
