"""Versions: history() entries and counts per kind of operation, and time travel
(``rv.get_table('dir/t:N')``) checked against a Python model of every version."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.functions import reve
from reverie.store import db
from tests.catalog._versions_util import contents, inverse, plus_1000
from tests.paid import conftest as paid

service = paid.service  # the local Reve server and its request log (ground truth)
fast_backoff = paid.fast_backoff

COUNTS = ('kind', 'inserted', 'updated', 'deleted', 'computed', 'errors')


def _counts(t: rv.Table) -> list[tuple[Any, ...]]:
    return [(v['version'], *(v[k] for k in COUNTS)) for v in t.get_versions()]


def test_history_counts_each_kind_of_operation(catalog: Catalog) -> None:
    rv.create_dir('h')
    t = rv.create_table('h/t', {'a': rv.Int, 's': rv.String})
    t.insert([{'a': i, 's': str(i)} for i in range(5)], print_stats=False)
    t.add_computed_column(b=inverse(t.a), on_error='ignore', print_stats=False)  # a=0 fails
    t.update({'a': t.a + 10}, where=t.a < 2)  # cascades to b: 2 updated, 2 computed
    t.delete(t.a == 3)
    t.add_column(c=rv.String | None)
    t.rename_column('c', 'cc')
    t.drop_column('cc')
    t.recompute_columns('b', print_stats=False)
    assert _counts(t) == [
        (8, 'recompute', 0, 4, 0, 4, 0),
        (7, 'drop_column', 0, 0, 0, 0, 0),
        (6, 'rename_column', 0, 0, 0, 0, 0),
        (5, 'add_column', 0, 0, 0, 0, 0),
        (4, 'delete', 0, 0, 1, 0, 0),
        (3, 'update', 0, 2, 0, 2, 0),
        (2, 'add_column', 0, 0, 0, 5, 1),
        (1, 'insert', 5, 0, 0, 0, 0),
        (0, 'create', 0, 0, 0, 0, 0),
    ]
    versions = t.get_versions()
    assert [v['columns'] for v in versions] == [
        None,
        ['a', 's', 'b'],
        ['a', 's', 'b', 'cc'],
        ['a', 's', 'b', 'c'],
        None,
        None,
        ['a', 's', 'b'],
        None,
        ['a', 's'],
    ]
    times = [v['created_at'] for v in versions]
    assert times == sorted(times, reverse=True)
    history = t.history()
    assert history['version'] == list(range(8, -1, -1))
    assert history['kind'] == [v['kind'] for v in versions]
    assert history['errors'] == [v['errors'] for v in versions]
    assert t.get_versions(2) == versions[:2]
    assert len(t.history(3)) == 3
    # The version a reopened catalog sees is the same log.
    assert _counts(rv.get_table('h.t')) == _counts(t)


def test_errors_count_a_computed_column_and_an_insert_with_errors(catalog: Catalog) -> None:
    t = rv.create_table('errs', {'x': rv.Int})
    t.add_computed_column(y=plus_1000(t.x), on_error='ignore', print_stats=False)
    t.insert([{'x': x} for x in (1, 7, 14, 3)], on_error='ignore', print_stats=False)
    t.update({'x': 21}, where=t.x == 1)  # an update that makes an error cell
    assert _counts(t) == [
        (3, 'update', 0, 1, 0, 1, 1),
        (2, 'insert', 4, 0, 0, 4, 2),
        (1, 'add_column', 0, 0, 0, 0, 0),
        (0, 'create', 0, 0, 0, 0, 0),
    ]


def test_paid_calls_of_each_version_are_what_the_server_charged(catalog: Catalog, service) -> None:
    server = service()
    t = rv.create_table('paid_h', {'prompt': rv.String})
    t.insert([{'prompt': f'p{i}'} for i in range(3)], print_stats=False)
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)  # v2: 3 calls
    after_add = len(server.entries())
    t.insert([{'prompt': 'p3'}, {'prompt': 'p4'}], print_stats=False)  # v3: 2 calls
    after_insert = len(server.entries())
    t.insert([{'prompt': 'p0'}], print_stats=False)  # v4: same prompt, from the cache
    after_cached = len(server.entries())
    t.recompute_columns('img', print_stats=False)  # v5: 6 fresh calls
    after_recompute = len(server.entries())
    paid_calls = {v['version']: v['paid_calls'] for v in t.get_versions()}
    assert (after_add, after_insert, after_cached, after_recompute) == (3, 5, 5, 11)
    assert paid_calls == {
        5: after_recompute - after_cached,
        4: after_cached - after_insert,
        3: after_insert - after_add,
        2: after_add,
        1: 0,
        0: 0,
    }
    assert sum(paid_calls.values()) == len(server.entries())
    assert t.history()['paid_calls'] == [6, 0, 2, 3, 0, 0]


# -- time travel: a model of every version ---------------------------------------------------

# {'cols': [(name, 'key' | 'source' | 'plain' | 'computed')], 'rows': {k: {name: value}}};
# computed columns read the source column x.
Model = dict[str, Any]

_names = itertools.count()


def _table_state(t: rv.Table) -> tuple[list[str], list[tuple[Any, ...]]]:
    names = t.columns()
    rows = t.select(**{n: t[n] for n in names}).collect().raw_rows()
    return names, sorted(rows, key=lambda r: r[0])


def _expected(model: Model) -> tuple[list[str], list[tuple[Any, ...]]]:
    names = [name for name, _ in model['cols']]
    rows = [tuple(r[n] for n in names) for r in model['rows'].values()]
    return names, sorted(rows, key=lambda r: r[0])


def _computed(x: int | None) -> int | None:
    return None if x is None or x % 7 == 0 else x + 1000


def _apply(t: rv.Table, model: Model, op: tuple[Any, ...], keys: itertools.count[int]) -> bool:
    """Run one operation on the table and the model; False when it does not apply."""
    kind = op[0]
    cols = model['cols']
    plain = [n for n, c in cols if c == 'plain']
    computed = [n for n, c in cols if c == 'computed']
    rows = model['rows']
    if kind == 'insert':
        new = []
        for x in op[1]:
            k = next(keys)
            row = {'k': k, 'x': x, **{n: x * 3 for n in plain}}
            new.append(row)
            rows[k] = {**row, **{n: _computed(x) for n in computed}}
        t.insert(new, on_error='ignore', print_stats=False)
    elif kind in ('update_x', 'delete'):
        if not rows:
            return False
        ordered = sorted(rows)
        chosen = [ordered[i % len(ordered)] for i in op[1]]
        if kind == 'update_x':
            t.update({'x': op[2]}, where=t.k.isin(chosen))
            for k in chosen:
                rows[k].update({'x': op[2], **{n: _computed(op[2]) for n in computed}})
        else:
            t.delete(t.k.isin(chosen))
            for k in set(chosen):
                del rows[k]
    elif kind == 'update_plain':
        if not plain or not rows:
            return False
        name = plain[op[1] % len(plain)]
        t.update({name: op[2]}, where=t.x > 0)
        for r in rows.values():
            if r['x'] is not None and r['x'] > 0:
                r[name] = op[2]
    elif kind == 'add_column':
        name = f'p{next(_names)}'
        t.add_column(**{name: rv.Int | None})
        cols.append((name, 'plain'))
        for r in rows.values():
            r[name] = None
    elif kind == 'add_computed':
        name = f'c{next(_names)}'
        t.add_computed_column(**{name: plus_1000(t.x)}, on_error='ignore', print_stats=False)
        cols.append((name, 'computed'))
        for r in rows.values():
            r[name] = _computed(r['x'])
    elif kind in ('drop', 'rename'):
        extra = [n for n, c in cols if c in ('plain', 'computed')]
        if not extra:
            return False
        name = extra[op[1] % len(extra)]
        i = [n for n, _ in cols].index(name)
        if kind == 'drop':
            t.drop_column(name)
            del cols[i]
            for r in rows.values():
                del r[name]
        else:
            new_name = f'r{next(_names)}'
            t.rename_column(name, new_name)
            cols[i] = (new_name, cols[i][1])
            for r in rows.values():
                r[new_name] = r.pop(name)
    elif kind == 'recompute':
        if not computed:
            return False
        t.recompute_columns(computed[op[1] % len(computed)], print_stats=False)
    elif kind == 'revert':
        return True  # the caller pops the model
    return True


_ops = st.one_of(
    st.tuples(st.just('insert'), st.lists(st.integers(-3, 30), min_size=1, max_size=4)),
    st.tuples(
        st.just('update_x'),
        st.lists(st.integers(0, 20), min_size=1, max_size=3),
        st.integers(-3, 30),
    ),
    st.tuples(st.just('delete'), st.lists(st.integers(0, 20), min_size=1, max_size=2)),
    st.tuples(st.just('update_plain'), st.integers(0, 5), st.integers(-50, 50)),
    st.tuples(st.just('add_column')),
    st.tuples(st.just('add_computed')),
    st.tuples(st.just('drop'), st.integers(0, 5)),
    st.tuples(st.just('rename'), st.integers(0, 5)),
    st.tuples(st.just('recompute'), st.integers(0, 5)),
    st.tuples(st.just('revert')),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(_ops, min_size=1, max_size=10))
def test_time_travel_returns_every_version_exactly(
    catalog: Catalog, ops: list[tuple[Any, ...]]
) -> None:
    path = f'tt{next(_names)}'
    t = rv.create_table(path, {'k': rv.Int, 'x': rv.Int | None})
    model: Model = {'cols': [('k', 'key'), ('x', 'source')], 'rows': {}}
    models = [_copy(model)]  # models[v]: the table at version v
    keys = itertools.count()
    for op in ops:
        if op[0] == 'revert':
            if len(models) == 1:
                with pytest.raises(rv.InvalidValueError, match='version 0'):
                    t.revert()
                continue
            t.revert()
            models.pop()
            model = _copy(models[-1])
            continue
        if _apply(t, model, op, keys):
            models.append(_copy(model))
    assert t.get_metadata()['version'] == len(models) - 1
    assert _table_state(t) == _expected(models[-1])
    for v, expected in enumerate(models):
        old = rv.get_table(f'{path}:{v}')
        assert _table_state(old) == _expected(expected), f'version {v} after {ops}'
        assert old.count() == len(expected['rows'])


def _copy(model: Model) -> Model:
    return {'cols': list(model['cols']), 'rows': {k: dict(r) for k, r in model['rows'].items()}}


def test_old_versions_keep_old_names_values_and_computed_cells(catalog: Catalog) -> None:
    rv.create_dir('tt')
    t = rv.create_table('tt/t', {'k': rv.Int, 'x': rv.Int})
    t.insert([{'k': i, 'x': i * 7 if i % 2 else i} for i in range(6)], print_stats=False)  # v1
    t.add_computed_column(y=plus_1000(t.x), on_error='ignore', print_stats=False)  # v2
    t.add_column(note=rv.String | None)  # v3
    t.update({'note': 'hi', 'x': 1}, where=t.k == 1)  # v4
    t.rename_column('note', 'remark')  # v5
    t.drop_column('remark')  # v6
    t.delete(t.k >= 4)  # v7

    v4 = rv.get_table('tt/t:4')
    assert v4.columns() == ['k', 'x', 'y', 'note']
    assert v4.where(v4.k == 1).select(v4.note, v4.y).collect().raw_rows() == [('hi', 1001)]
    assert v4.count() == 6
    v2 = rv.get_table('tt.t:2')  # the dotted form works too
    errors = v2.where(v2.y.errortype != None).select(v2.k, v2.y.errormsg).collect()  # noqa: E711
    assert sorted(errors.raw_rows()) == [
        (0, 'multiple of seven: 0'),
        (1, 'multiple of seven: 7'),
        (3, 'multiple of seven: 21'),
        (5, 'multiple of seven: 35'),
    ]
    v5 = rv.get_table('tt/t:5')
    assert v5.columns() == ['k', 'x', 'y', 'remark']
    assert v5.select(v5.remark).where(v5.remark != None).collect()['remark'] == ['hi']  # noqa: E711
    v6 = rv.get_table('tt/t:6')
    assert v6.columns() == ['k', 'x', 'y']
    assert v6.count() == 6
    assert rv.get_table('tt/t:7').count() == t.count() == 4
    assert rv.get_table('tt/t:1').columns() == ['k', 'x']
    assert rv.get_table('tt/t:0').count() == 0
    assert v4.get_metadata()['version'] == 4
    assert [v['version'] for v in v4.get_versions()] == [4, 3, 2, 1, 0]
    assert contents(v4)[1][1] == (1, 1, 1001, None, None, 'hi')


def test_an_old_version_is_read_only(catalog: Catalog) -> None:
    t = rv.create_table('ro', {'k': rv.Int})
    t.insert([{'k': 1}], print_stats=False)
    t.insert([{'k': 2}], print_stats=False)
    old = rv.get_table('ro:1')
    attempts = {
        'insert': lambda: old.insert([{'k': 3}]),
        'update': lambda: old.update({'k': 5}),
        'delete': lambda: old.delete(),
        'add_column': lambda: old.add_column(z=rv.Int | None),
        'add_computed_column': lambda: old.add_computed_column(z=old.k + 1),
        'drop_column': lambda: old.drop_column('k'),
        'rename_column': lambda: old.rename_column('k', 'kk'),
        'recompute_columns': lambda: old.recompute_columns(),
        'revert': lambda: old.revert(),
    }
    for name, attempt in attempts.items():
        with pytest.raises(rv.InvalidValueError, match='read-only'):
            attempt()
        assert t.get_metadata()['version'] == 2, name
    assert t.collect()['k'] == [1, 2]
    assert old.collect()['k'] == [1]


def test_a_version_that_does_not_exist(catalog: Catalog) -> None:
    rv.create_dir('nv')
    t = rv.create_table('nv/t', {'k': rv.Int})
    t.insert([{'k': 1}], print_stats=False)
    for path in ('nv/t:2', 'nv.t:99'):
        with pytest.raises(rv.NotFoundError):
            rv.get_table(path)
    assert rv.get_table('nv/t:2', if_not_exists='ignore') is None
    with pytest.raises(rv.InvalidValueError, match='version number'):
        rv.get_table('nv/t:latest')
    t.revert()
    with pytest.raises(rv.NotFoundError):  # reverted: version 1 is gone
        rv.get_table('nv/t:1')
    assert rv.get_table('nv/t:0').count() == 0


# -- migration from catalog version 1 ---------------------------------------------------------


def _catalog_v1(url: str) -> None:
    """The layout reverie wrote before versions (catalog 1), made by hand: a dir, table
    'old/t' (k Int, s String) with three rows; no ``_v``, no history table, no rv_versions."""
    md = sa.MetaData()
    meta = sa.Table(
        'rv_meta',
        md,
        sa.Column('key', sa.String(64), primary_key=True),
        sa.Column('value', sa.Text),
    )
    dirs = sa.Table(
        'rv_dirs',
        md,
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('path', sa.Text, nullable=False, unique=True),
        sa.Column('created_at', sa.Float, nullable=False),
    )
    tables = sa.Table(
        'rv_tables',
        md,
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('path', sa.Text, nullable=False, unique=True),
        sa.Column('version', sa.Integer, nullable=False),
        sa.Column('created_at', sa.Float, nullable=False),
    )
    columns = sa.Table(
        'rv_columns',
        md,
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('table_id', sa.Integer, nullable=False),
        sa.Column('name', sa.Text, nullable=False),
        sa.Column('position', sa.Integer, nullable=False),
        sa.Column('col_type', sa.JSON, nullable=False),
        sa.Column('computed', sa.JSON, nullable=True),
        sa.UniqueConstraint('table_id', 'name'),
    )
    data = sa.Table(
        'rvt_7',
        md,
        sa.Column('_rowid', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('_claim_owner', sa.Text),
        sa.Column('_claim_until', sa.Float),
        sa.Column('c11', sa.BigInteger),
        sa.Column('c12', sa.Text),
        sqlite_autoincrement=True,
    )
    engine = sa.create_engine(url.replace('postgresql://', 'postgresql+psycopg://', 1))
    try:
        md.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(meta), [{'key': 'catalog_version', 'value': '1'}])
            conn.execute(sa.insert(dirs), [{'id': 1, 'path': 'old', 'created_at': 1.0}])
            conn.execute(
                sa.insert(tables), [{'id': 7, 'path': 'old/t', 'version': 2, 'created_at': 1.0}]
            )
            conn.execute(
                sa.insert(columns),
                [
                    {
                        'id': 11,
                        'table_id': 7,
                        'name': 'k',
                        'position': 0,
                        'col_type': {'type': 'Int', 'nullable': True},
                        'computed': None,
                    },
                    {
                        'id': 12,
                        'table_id': 7,
                        'name': 's',
                        'position': 1,
                        'col_type': {'type': 'String', 'nullable': True},
                        'computed': None,
                    },
                ],
            )
            conn.execute(sa.insert(data), [{'c11': k, 'c12': f'row {k}'} for k in (1, 2, 3)])
    finally:
        engine.dispose()


def test_a_catalog_1_database_opens_at_version_0_and_takes_new_versions(
    db_url: str, tmp_path: Path
) -> None:
    _catalog_v1(db_url)
    config = {'db_url': db_url, 'media_dir': str(tmp_path / 'media')}
    catalog = rv.init(config)
    try:
        t = rv.get_table('old/t')
        rows = [(1, 'row 1'), (2, 'row 2'), (3, 'row 3')]
        assert sorted(t.collect().raw_rows()) == rows
        assert _counts(t) == [(0, 'create', 0, 0, 0, 0, 0)]
        assert sorted(rv.get_table('old/t:0').collect().raw_rows()) == rows
        t.insert([{'k': 4, 's': 'row 4'}], print_stats=False)
        t.add_computed_column(y=plus_1000(t.k), on_error='ignore', print_stats=False)
        t.update({'s': 'changed'}, where=t.k == 1)
        assert [v['kind'] for v in t.get_versions()] == ['update', 'add_column', 'insert', 'create']
        assert sorted(rv.get_table('old/t:1').collect().raw_rows()) == [*rows, (4, 'row 4')]
        t.revert()
        t.revert()
        assert sorted(t.collect().raw_rows()) == [*rows, (4, 'row 4')]
        t.revert()
        assert sorted(t.collect().raw_rows()) == rows
        with pytest.raises(rv.InvalidValueError, match='version 0'):
            t.revert()
        with catalog.store.read() as conn:
            stored = conn.execute(
                sa.text("SELECT value FROM rv_meta WHERE key = 'catalog_version'")
            )
            assert stored.scalar() == str(db.CATALOG_VERSION)
    finally:
        catalog.close()
    catalog = rv.init(config)  # opening again does not migrate twice
    try:
        assert _counts(rv.get_table('old.t')) == [(0, 'create', 0, 0, 0, 0, 0)]
        assert sorted(rv.get_table('old/t').collect().raw_rows()) == rows
    finally:
        catalog.close()


def test_paid_calls_of_a_reverted_version_are_not_charged_to_the_one_before(
    catalog: Catalog, service
) -> None:
    server = service()
    t = rv.create_table('paid_rv', {'prompt': rv.String})
    t.insert([{'prompt': f'p{i}'} for i in range(3)], print_stats=False)  # v1: no calls
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)  # v2: 3 calls
    assert len(server.entries()) == 3
    t.revert()
    assert [(v['version'], v['paid_calls']) for v in t.get_versions()] == [(1, 0), (0, 0)]
    t.add_computed_column(again=reve.create(t.prompt, cache=False), print_stats=False)
    assert len(server.entries()) == 6  # a new version 2, whose own 3 calls are its own
    assert [(v['version'], v['paid_calls']) for v in t.get_versions()][:2] == [(2, 3), (1, 0)]


def test_queries_on_an_old_version_read_its_rows_not_the_live_ones(catalog: Catalog) -> None:
    t = rv.create_table('oldq', {'k': rv.Int, 'x': rv.Int})
    t.insert([{'k': i, 'x': i % 3} for i in range(9)], print_stats=False)
    t.add_computed_column(y=plus_1000(t.x), on_error='ignore', print_stats=False)  # v2
    t.update({'x': 100}, where=t.k < 4)
    t.delete(t.k > 6)
    old = rv.get_table('oldq:2')
    assert old.where(old.x == 1).count() == 3
    assert t.where(t.x == 1).count() == 1
    assert old.order_by(old.k, asc=False).limit(3).collect()['k'] == [8, 7, 6]
    assert old.head(2)['k'] == [0, 1] and old.tail(2)['k'] == [7, 8]
    groups = old.group_by(old.x).select(old.x, n=rv.functions.count(old.k)).collect()
    assert sorted(groups.raw_rows()) == [(0, 3), (1, 3), (2, 3)]
    with_udf = old.select(old.k, w=plus_1000(old.k + 1), z=old.y + 1).where(old.k < 3).collect()
    assert with_udf.raw_rows() == [(0, 1001, None), (1, 1002, 1002), (2, 1003, 1003)]
    assert 'at version 2 (read-only)' in repr(old)
