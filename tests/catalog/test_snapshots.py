"""Snapshots: the rows of a table or query as they were, unchanged by later writes, read-only."""

from __future__ import annotations

import PIL.Image
import pytest

import reverie as rv
from tests.catalog import _view_helpers as h


@pytest.fixture
def base(catalog):
    """t(a, b, img) with rows a = 0..4, and computed column s = a + 1."""
    h.reset_calls()
    t = rv.create_table('t', {'a': rv.Int, 'b': rv.String | None, 'img': rv.Image | None})
    t.insert(
        [{'a': i, 'b': f'b{i}', 'img': PIL.Image.new('RGB', (10 + i, 5))} for i in range(5)],
        print_stats=False,
    )
    t.add_computed_column(s=h.salted(t.a), print_stats=False)
    return t


def _frozen(snap: rv.Table) -> tuple:
    """Everything a snapshot holds: columns, rows by id with cell states, and the collect()."""
    names = snap.columns()
    return names, h.stored(snap, *names), snap.collect()


def test_snapshot_of_table_unchanged_by_later_writes(base):
    snap = rv.create_snapshot('snap', base)
    assert snap.columns() == ['a', 'b', 'img', 's']
    assert h.stored(snap, 'a', 'b', 'img', 's') == h.stored(base, 'a', 'b', 'img', 's')
    before = _frozen(snap)
    base.insert(a=10, b='new', img=PIL.Image.new('RGB', (3, 3)), print_stats=False)
    base.update({'b': 'changed', 'img': PIL.Image.new('RGB', (7, 7))}, where=base.a < 3)
    base.delete(where=base.a == 4)
    h.SALT[0] = 50
    try:
        base.recompute_columns('s', print_stats=False)
    finally:
        h.SALT[0] = 1
    base.add_column(extra=rv.Int | None)
    base.revert()  # the add_column
    base.revert()  # the recompute
    assert _frozen(snap) == before
    assert sorted(snap.select(snap.img.width).collect()['width']) == [10, 11, 12, 13, 14]
    assert [v['kind'] for v in snap.get_versions()] == ['create']


def test_snapshot_of_query(base):
    snap = rv.create_snapshot('small', base.where(base.a < 3).select(base.a, label=base.b))
    assert snap.columns() == ['a', 'label']
    assert sorted(snap.collect()['a']) == [0, 1, 2]
    before = _frozen(snap)
    base.insert(a=1, b='would match', print_stats=False)
    base.update({'a': 0}, where=base.a == 4)  # would enter the filter
    base.update({'b': 'zz'})
    base.delete(where=base.a == 1)
    assert _frozen(snap) == before
    assert sorted(snap.collect()['label']) == ['b0', 'b1', 'b2']
    assert repr(snap).startswith("Snapshot 'small' of 't' where a < 3 at version 2")


def test_snapshot_is_read_only(base):
    snap = rv.create_snapshot('snap', base.where(base.a > 2))
    before = _frozen(snap)
    attempts = {
        'insert': lambda: snap.insert(a=1),
        'update': lambda: snap.update({'a': 1}),
        'delete': lambda: snap.delete(),
        'add_computed_column': lambda: snap.add_computed_column(x=snap.a + 1),
        'add_column': lambda: snap.add_column(x=rv.Int | None),
        'drop_column': lambda: snap.drop_column('b'),
        'rename_column': lambda: snap.rename_column('b', 'c'),
        'recompute_columns': lambda: snap.recompute_columns('s'),
        'revert': lambda: snap.revert(),
    }
    for what, attempt in attempts.items():
        with pytest.raises(rv.InvalidValueError, match="Snapshot 'snap' is read-only"):
            attempt()
        assert _frozen(snap) == before, what
    with pytest.raises(rv.InvalidValueError, match='read-only: it takes no additional_columns'):
        rv.create_snapshot('snap2', base, additional_columns={'x': base.a + 1})
    assert rv.get_table('snap2', if_not_exists='ignore') is None


def test_revert_past_a_snapshot_refused(base):
    base.insert(a=5, print_stats=False)  # version 3
    rv.create_snapshot('snap', base)
    base.insert(a=6, print_stats=False)  # version 4: after the snapshot
    base.revert()
    with pytest.raises(
        rv.InvalidValueError,
        match="Cannot revert version 3 of 't': snapshot 'snap' was taken at version 3",
    ):
        base.revert()
    assert sorted(base.collect()['a']) == [0, 1, 2, 3, 4, 5]
    rv.drop_table('snap')
    base.revert()
    assert sorted(base.collect()['a']) == [0, 1, 2, 3, 4]


def test_snapshot_pins_base_against_drop(base):
    rv.create_snapshot('snap', base)
    with pytest.raises(rv.InvalidValueError, match="snapshot 'snap' depends on it"):
        rv.drop_table('t')
    rv.drop_table('t', force=True)
    assert rv.list_tables() == []


def test_snapshot_of_a_view_and_view_of_a_snapshot(base):
    v = rv.create_view('v', base.where(base.a >= 2))
    v.add_computed_column(x=h.times10(v.a), print_stats=False)
    snap = rv.create_snapshot('vsnap', v)
    assert sorted(snap.collect()['x']) == [20, 30, 40]
    sv = rv.create_view('of_snap', snap.where(snap.a > 2))
    base.insert(a=9, print_stats=False)
    base.delete(where=base.a == 3)
    assert sorted(v.collect()['x']) == [20, 40, 90]
    assert sorted(snap.collect()['x']) == [20, 30, 40]
    assert sorted(sv.collect()['a']) == [3, 4]
    assert snap.get_metadata()['base'] == 'v' and sv.get_metadata()['base'] == 'vsnap'


def test_snapshot_survives_reopening(base, db_url, tmp_path):
    snap = rv.create_snapshot('snap', base.where(base.a < 2))
    before = _frozen(snap)
    rv.init({'db_url': db_url, 'media_dir': str(tmp_path / 'media')})
    again = rv.get_table('snap')
    rv.get_table('t').insert(a=0, print_stats=False)
    assert _frozen(again) == before
    assert again.get_metadata()['is_snapshot']
