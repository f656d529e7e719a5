"""Catalog behaviours ported from Pixeltable 0.7's own tests (issue 22), one test each."""

from __future__ import annotations

import inspect

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.errors import AlreadyExistsError, InvalidValueError, NotFoundError


def test_dir_names_starting_with_underscore_are_refused(sqlite_catalog: Catalog) -> None:
    with pytest.raises(InvalidValueError, match="'_dir1' is not a valid name"):
        rv.create_dir('_dir1')
    with pytest.raises(InvalidValueError, match='not a valid name'):
        rv.create_table('d/_t', {'a': rv.Int})
    assert rv.list_dirs() == []


def test_replace_of_a_non_empty_dir_is_already_exists(sqlite_catalog: Catalog) -> None:
    rv.create_dir('d')
    rv.create_table('d/t', {'a': rv.Int})
    with pytest.raises(AlreadyExistsError, match='already exists and is not empty'):
        rv.create_dir('d', if_exists='replace')
    assert rv.list_tables('d') == ['d/t']


def test_drop_of_a_missing_path_with_force_is_a_no_op(sqlite_catalog: Catalog) -> None:
    rv.drop_dir('nope', force=True)
    rv.drop_dir('nope', force=True, if_not_exists='error')
    rv.drop_table('nope', force=True)
    rv.drop_table('no_dir/nope', force=True)
    with pytest.raises(NotFoundError):
        rv.drop_table('nope')


def test_replace_of_a_column_with_dependents_is_already_exists(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'c1': rv.Int, 'c2': rv.Int})
    t.insert([{'c1': 1, 'c2': 2}], print_stats=False)
    t.add_computed_column(c3=t.c1 + 10, print_stats=False)
    with pytest.raises(AlreadyExistsError, match='the following columns depend on it: c3'):
        t.add_column(c1=rv.Int | None, if_exists='replace')
    with pytest.raises(AlreadyExistsError, match='already exists'):
        t.add_computed_column(c1=t.c2 * 2, if_exists='replace')
    assert t.select(t.c1, t.c3).collect()[0] == {'c1': 1, 'c3': 11}


def test_a_dropped_tables_handle_raises_not_found(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'c1': rv.Int})
    rv.drop_table('t')
    with pytest.raises(NotFoundError, match='no longer exists'):
        _ = t.c1
    with pytest.raises(NotFoundError):
        _ = t['c1']


def test_a_missing_column_is_still_an_attribute_error(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'c1': rv.Int})
    assert not hasattr(t, 'nope')


def test_dropping_another_tables_column_is_not_found(sqlite_catalog: Catalog) -> None:
    t1 = rv.create_table('t1', {'c1': rv.Int, 'c2': rv.Int})
    t2 = rv.create_table('t2', {'c1': rv.Int, 'c2': rv.Int})
    with pytest.raises(NotFoundError, match='Unknown column: c2'):
        t1.drop_column(t2.c2)
    t1.drop_column(t2.c2, if_not_exists='ignore')
    assert t1.columns() == ['c1', 'c2'] and t2.columns() == ['c1', 'c2']


def test_recompute_columns_counts_rows(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'i': rv.Int})
    t.insert([{'i': i} for i in range(5)], print_stats=False)
    t.add_computed_column(i1=t.i + 1, print_stats=False)
    t.add_computed_column(i2=t.i * 2, print_stats=False)
    assert t.recompute_columns('i1', print_stats=False).num_rows == 5
    assert t.recompute_columns(t.i1, where=t.i < 2, print_stats=False).num_rows == 2
    assert t.recompute_columns('i1', 'i2', print_stats=False).num_rows == 5


def test_errors_only_with_several_columns_is_refused(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'i': rv.Int})
    t.add_computed_column(i1=t.i + 1, print_stats=False)
    t.add_computed_column(i2=t.i * 2, print_stats=False)
    with pytest.raises(InvalidValueError, match='errors_only=True with multiple columns'):
        t.recompute_columns(t.i1, t.i2, errors_only=True)
    t.recompute_columns(t.i1, errors_only=True, print_stats=False)


def test_describe_takes_what_pixeltable_takes(
    sqlite_catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pixeltable 0.7: ``Table.describe()`` and ``Query.describe()`` take no argument and
    show the description (print, or display in a notebook), returning None."""
    t = rv.create_table('t', {'c1': rv.Int, 'c2': rv.String | None})
    capsys.readouterr()
    assert list(inspect.signature(rv.Table.describe).parameters) == ['self']
    assert t.describe() is None
    assert 'String | None' in capsys.readouterr().out
    q = t.where(t.c1 > 1).select(t.c2)
    assert q.describe() is None
    out = capsys.readouterr().out
    assert 'where:' in out and 'c1 > 1' in out
    with pytest.raises(TypeError):
        t.describe(True)  # type: ignore[call-arg]
