"""revert(): each kind of operation undone exactly (rows, columns, error cells, media files),
repeated reverts back to version 0, paid columns redone for free, snapshots that pin."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import PIL.Image
import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.cli import main
from reverie.functions import reve
from reverie.reve_server import DeterministicBackend
from tests.catalog._versions_util import SEED, contents, inverse, picture, plus_1000
from tests.paid import conftest as paid

service = paid.service  # the local Reve server and its request log (ground truth)
fast_backoff = paid.fast_backoff


def _table(name: str) -> rv.Table:
    """k, x, note; y = plus_1000(x) and z = inverse(x), both with error cells."""
    t = rv.create_table(name, {'k': rv.Int, 'x': rv.Int, 'note': rv.String | None})
    t.insert(
        [{'k': k, 'x': x, 'note': f'n{k}'} for k, x in enumerate([0, 1, 7, 3, 14, 5])],
        print_stats=False,
    )
    t.add_computed_column(y=plus_1000(t.x), on_error='ignore', print_stats=False)
    t.add_computed_column(z=inverse(t.x), on_error='ignore', print_stats=False)
    return t


def _sql_columns(catalog: Catalog, path: str, prefix: str = 'rvt') -> set[str]:
    table_id = catalog.table_id(path)
    return {c['name'] for c in sa.inspect(catalog.store.engine).get_columns(f'{prefix}_{table_id}')}


OPERATIONS: dict[str, Callable[[rv.Table], Any]] = {
    'insert': lambda t: t.insert(
        [{'k': 10, 'x': 21, 'note': 'new'}, {'k': 11, 'x': 2}], on_error='ignore'
    ),
    'update_cascade': lambda t: t.update({'x': t.x + 7}, where=t.k < 3),
    'update_plain': lambda t: t.update({'note': 'changed'}),
    'delete': lambda t: t.delete(t.x > 4),
    'delete_all': lambda t: t.delete(),
    'add_column': lambda t: t.add_column(extra=rv.Float | None),
    'add_computed_column': lambda t: t.add_computed_column(w=plus_1000(t.k), on_error='ignore'),
    'drop_column': lambda t: t.drop_column('note'),
    'drop_computed_column': lambda t: t.drop_column('z'),
    'rename_column': lambda t: t.rename_column('note', 'remark'),
    'rename_computed_column': lambda t: t.rename_column('y', 'yy'),
    'recompute': lambda t: t.recompute_columns('y'),
    'recompute_errors_only': lambda t: t.recompute_columns('z', errors_only=True),
}


@pytest.mark.parametrize('op', list(OPERATIONS), ids=list(OPERATIONS))
def test_revert_restores_the_previous_version_exactly(catalog: Catalog, op: str) -> None:
    t = _table('rev')
    before = contents(t)
    versions = t.get_versions()
    sql_before = _sql_columns(catalog, 'rev')
    OPERATIONS[op](t)
    assert t.get_metadata()['version'] == versions[0]['version'] + 1
    assert contents(t) != before or op in ('recompute', 'recompute_errors_only')
    t.revert()
    assert contents(t) == before
    assert t.get_versions() == versions
    assert _sql_columns(catalog, 'rev') == sql_before
    # A fresh handle (as another process would open it) agrees.
    assert contents(rv.get_table('rev')) == before
    # The table keeps working: the next version takes the reverted one's number.
    t.insert([{'k': 20, 'x': 4}], print_stats=False)
    assert t.get_metadata()['version'] == versions[0]['version'] + 1
    assert t.where(t.k == 20).select(t.y, t.z).collect().raw_rows() == [(1004, 0.25)]
    assert contents(rv.get_table(f'rev:{versions[0]["version"]}')) == before


def test_reverts_walk_back_to_version_0_and_stop_there(catalog: Catalog) -> None:
    t = rv.create_table('walk', {'k': rv.Int, 'x': rv.Int})
    states = [contents(t)]
    steps: list[Callable[[], Any]] = [
        lambda: t.insert([{'k': i, 'x': i} for i in range(8)], print_stats=False),
        lambda: t.add_computed_column(y=plus_1000(t.x), on_error='ignore', print_stats=False),
        lambda: t.update({'x': 7}, where=t.k == 1),
        lambda: t.add_column(note=rv.String | None),
        lambda: t.update({'note': 'a'}, where=t.k > 4),
        lambda: t.rename_column('note', 'remark'),
        lambda: t.delete(t.k == 5),
        lambda: t.drop_column('remark'),
        lambda: t.recompute_columns('y', errors_only=True, print_stats=False),
        lambda: t.insert([{'k': 100, 'x': 14}], on_error='ignore', print_stats=False),
    ]
    for step in steps:
        step()
        states.append(contents(t))
    assert t.get_metadata()['version'] == len(steps)
    for v in range(len(steps), 0, -1):
        assert contents(t) == states[v]
        t.revert()
        assert t.get_metadata()['version'] == v - 1
        assert contents(t) == states[v - 1], f'after reverting version {v}'
    assert t.columns() == ['k', 'x']
    assert t.count() == 0
    with pytest.raises(rv.InvalidValueError, match=r"'walk' is at version 0 .*nothing to revert"):
        t.revert()
    assert [v['kind'] for v in t.get_versions()] == ['create']
    # Only rows of version 0 are left anywhere: the history table is empty too.
    with catalog.store.read() as conn:
        left = conn.execute(sa.text(f'SELECT count(*) FROM rvh_{catalog.table_id("walk")}'))
        assert left.scalar() == 0


def test_reverting_a_computed_column_removes_it_and_its_sql_columns(catalog: Catalog) -> None:
    t = rv.create_table('cc', {'x': rv.Int})
    t.insert([{'x': i} for i in range(5)], print_stats=False)
    plain = _sql_columns(catalog, 'cc')
    history = _sql_columns(catalog, 'cc', 'rvh')
    t.add_computed_column(y=plus_1000(t.x), on_error='ignore', print_stats=False)
    col_id = catalog.schema(catalog.table_id('cc')).require('y').id
    assert {f'c{col_id}', f'c{col_id}_s', f'c{col_id}_et', f'c{col_id}_em'} <= _sql_columns(
        catalog, 'cc'
    )
    t.revert()
    assert t.columns() == ['x']
    assert _sql_columns(catalog, 'cc') == plain
    assert not any(c.startswith(f'c{col_id}') for c in _sql_columns(catalog, 'cc'))
    assert _sql_columns(catalog, 'cc', 'rvh') >= history
    with pytest.raises(AttributeError, match="no column 'y'"):
        _ = t.y
    # The name is free again, and a new column of that name is computed for every row.
    t.add_computed_column(y=inverse(t.x), on_error='ignore', print_stats=False)
    assert sorted(t.select(t.y).collect()['y'], key=lambda v: (v is None, v)) == [
        0.25,
        1 / 3,
        0.5,
        1.0,
        None,
    ]


def test_replacing_a_column_is_two_versions_and_two_reverts_bring_it_back(
    catalog: Catalog,
) -> None:
    t = _table('repl')
    before = contents(t)
    t.add_computed_column(y=inverse(t.x), on_error='ignore', if_exists='replace')
    assert [v['kind'] for v in t.get_versions(2)] == ['add_column', 'drop_column']
    t.revert()
    assert 'y' not in t.columns()
    t.revert()
    assert contents(t) == before


@rv.udf
def fails_on_3(x: int) -> int:
    """x, or a RuntimeError for x == 3."""
    if x == 3:
        raise RuntimeError('three')
    return x


def test_reverting_an_aborted_recompute_restores_the_cells(catalog: Catalog) -> None:
    t = _table('abort')
    t.add_computed_column(f=fails_on_3(t.x), on_error='ignore', print_stats=False)
    before = contents(t)
    with pytest.raises(rv.Error, match='failed for row'):
        t.recompute_columns('f', 'y', on_error='abort', print_stats=False)
    t.revert()
    assert contents(t) == before


# -- media files ----------------------------------------------------------------------------


def _refs(t: rv.Table, col: str = 'img') -> dict[int, str]:
    """{x: media reference} of an image column (the raw value: a path under the media root)."""
    return dict(t.select(t.x, t[col]).collect().raw_rows())


def _file(catalog: Catalog, ref: str) -> Path:
    path = Path(ref)
    return path if path.is_absolute() else catalog.media.root / ref


def _media_files(catalog: Catalog) -> set[Path]:
    return {p for p in catalog.media.root.rglob('*') if p.is_file() and not p.name.startswith('.')}


def test_revert_of_a_recompute_brings_the_old_images_back_and_deletes_only_new_files(
    catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    SEED['value'] = 1
    t = rv.create_table('pics', {'x': rv.Int})
    t.insert([{'x': x} for x in range(6)], print_stats=False)
    t.add_computed_column(img=picture(t.x), print_stats=False)  # v2
    first = _refs(t)
    assert len(set(first.values())) == 6
    SEED['value'] = 2
    t.recompute_columns('img', print_stats=False)  # v3: odd x get new images, even x the same
    second = _refs(t)
    assert {x for x in first if first[x] != second[x]} == {1, 3, 5}
    SEED['value'] = 3
    t.recompute_columns('img', print_stats=False)  # v4
    third = _refs(t)
    assert {x for x in first if second[x] != third[x]} == {1, 3, 5}
    everything = {_file(catalog, r) for r in [*first.values(), *second.values(), *third.values()]}
    assert len(everything) == 12 and all(p.exists() for p in everything)

    # gc keeps what only old versions (history rows) refer to.
    capsys.readouterr()
    assert main(['gc', '--grace', '0']) == 0
    assert 'Removed 0 unreferenced media files' in capsys.readouterr().out
    assert all(p.exists() for p in everything)
    old = rv.get_table('pics:2')
    assert old.where(old.x == 1).select(old.img).collect()['img'][0].size == (8, 8)

    t.revert()  # v4: its three new files go, everything older stays
    assert _refs(t) == second
    gone = {_file(catalog, third[x]) for x in (1, 3, 5)}
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in everything - gone)
    assert '3 media files removed' in capsys.readouterr().out
    t.revert()  # v3
    assert _refs(t) == first
    assert {p for p in everything if p.exists()} == {_file(catalog, r) for r in first.values()}
    imgs = t.select(t.x, t.img).collect()
    assert all(r['img'].size == (8, 8) for r in imgs)
    t.revert()  # v2: the column goes, and with it every file it made
    assert t.columns() == ['x']
    assert not any(p.exists() for p in everything)
    assert _media_files(catalog) == set()


def test_revert_keeps_files_that_an_older_version_or_another_row_uses(catalog: Catalog) -> None:
    SEED['value'] = 0
    t = rv.create_table('shared', {'x': rv.Int})
    t.add_computed_column(img=picture(t.x), print_stats=False)  # v1
    t.insert([{'x': 2}], print_stats=False)  # v2
    t.delete(t.x == 2)  # v3: the row's image lives on in the history only
    assert main(['gc', '--grace', '0']) == 0
    t.insert([{'x': 2}, {'x': 4}], print_stats=False)  # v4: x=2 makes the same file again
    refs = _refs(t)
    t.revert()  # v4 made both files; the one version 2 wrote stays
    assert t.count() == 0
    assert _file(catalog, refs[2]).exists()
    assert not _file(catalog, refs[4]).exists()
    old = rv.get_table('shared:2')
    assert old.select(old.img).collect()['img'][0].size == (8, 8)
    t.revert()  # v3: the deleted row comes back with its image
    assert _refs(t) == {2: refs[2]}


def test_inserted_images_go_with_a_reverted_insert_unless_another_table_has_them(
    catalog: Catalog, tmp_path: Path
) -> None:
    files = []
    for i in range(3):
        files.append(tmp_path / f'in{i}.png')
        PIL.Image.new('RGB', (5, 5), (i, 2 * i, 3 * i)).save(files[-1])
    a = rv.create_table('img_a', {'x': rv.Int, 'pic': rv.Image})
    b = rv.create_table('img_b', {'pic': rv.Image})
    b.insert([{'pic': str(files[0])}], print_stats=False)
    a.insert([{'x': i, 'pic': str(f)} for i, f in enumerate(files)], print_stats=False)
    refs = _refs(a, 'pic')
    assert all(_file(catalog, r).exists() for r in refs.values())
    a.revert()
    assert _file(catalog, refs[0]).exists()  # table img_b refers to it
    assert not _file(catalog, refs[1]).exists() and not _file(catalog, refs[2]).exists()
    assert b.select(b.pic).collect()['pic'][0].size == (5, 5)


def test_gc_keeps_the_images_of_a_dropped_column_for_time_travel(
    catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    SEED['value'] = 5
    t = rv.create_table('dropped', {'x': rv.Int})
    t.insert([{'x': x} for x in range(3)], print_stats=False)
    t.add_computed_column(img=picture(t.x), print_stats=False)  # v2
    refs = _refs(t)
    t.drop_column('img')  # v3
    capsys.readouterr()
    assert main(['gc', '--grace', '0']) == 0
    assert 'Removed 0 unreferenced media files' in capsys.readouterr().out
    assert all(_file(catalog, r).exists() for r in refs.values())
    assert _refs(rv.get_table('dropped:2')) == refs
    t.revert()
    assert _refs(t) == refs
    t.revert()  # the column's addition: now its files go
    assert not any(_file(catalog, r).exists() for r in refs.values())


# -- paid columns ---------------------------------------------------------------------------


def test_reverting_a_paid_column_and_adding_it_again_costs_nothing(
    catalog: Catalog, service
) -> None:
    server = service()
    t = rv.create_table('paid_rev', {'prompt': rv.String})
    t.insert([{'prompt': f'a fox number {i}'} for i in range(4)], print_stats=False)
    t.add_computed_column(img=reve.create(t.prompt, aspect_ratio='1:1'), print_stats=False)
    assert len(server.entries()) == 4
    refs = dict(t.select(t.prompt, t.img).collect().raw_rows())
    spent = t.credits_used()
    t.revert()
    assert t.columns() == ['prompt']
    t.add_computed_column(img=reve.create(t.prompt, aspect_ratio='1:1'), print_stats=False)
    assert len(server.entries()) == 4  # 0 new requests: answers come from the journal
    assert dict(t.select(t.prompt, t.img).collect().raw_rows()) == refs
    assert all(_file(catalog, r).exists() for r in refs.values())
    assert t.credits_used() == spent == server.charged()
    assert t.get_versions()[0]['paid_calls'] == 0


class Sampler(DeterministicBackend):
    """A backend whose every answer differs (a fresh sample), as a real model's would."""

    def __init__(self) -> None:
        super().__init__(megapixels=0.001)
        self.calls = itertools.count()

    def create(self, prompt: str, aspect_ratio: str, version: str) -> PIL.Image.Image:
        n = next(self.calls)
        return PIL.Image.new('RGB', (6, 6), (n % 256, n // 256 % 256, len(prompt)))


def test_reverting_a_paid_recompute_brings_the_paid_images_back(catalog: Catalog, service) -> None:
    server = service(backend=Sampler())
    t = rv.create_table('paid_re', {'prompt': rv.String})
    t.insert([{'prompt': f'a city {i}'} for i in range(3)], print_stats=False)
    t.add_computed_column(img=reve.create(t.prompt, cache=False), print_stats=False)
    first = dict(t.select(t.prompt, t.img).collect().raw_rows())
    t.recompute_columns('img', print_stats=False)  # fresh samples: 3 more calls
    assert len(server.entries()) == 6
    assert dict(t.select(t.prompt, t.img).collect().raw_rows()) != first
    t.revert()
    assert dict(t.select(t.prompt, t.img).collect().raw_rows()) == first
    assert all(_file(catalog, r).exists() for r in first.values())
    assert len(server.entries()) == 6


# -- snapshots ------------------------------------------------------------------------------


def test_a_snapshot_pins_the_versions_it_was_taken_at(catalog: Catalog) -> None:
    rv.create_dir('pin')
    t = rv.create_table('pin/t', {'k': rv.Int})
    t.insert([{'k': 1}], print_stats=False)  # v1
    t.insert([{'k': 2}], print_stats=False)  # v2
    snap = rv.create_snapshot('pin/snap', t.where(t.k > 0))
    t.insert([{'k': 3}], print_stats=False)  # v3
    t.revert()  # v3 is after the snapshot: allowed
    assert t.collect()['k'] == [1, 2]
    with pytest.raises(rv.InvalidValueError, match=r"snapshot 'pin/snap' was taken at version 2"):
        t.revert()
    assert t.get_metadata()['version'] == 2
    assert sorted(snap.collect()['k']) == [1, 2]
    with pytest.raises(rv.InvalidValueError, match='read-only'):
        snap.revert()
    rv.drop_table('pin/snap')
    t.revert()
    t.revert()
    assert t.count() == 0 and t.get_metadata()['version'] == 0
