"""The one engine: one null rule, SQL pushdown equal to Python, no table scans on insert,
indexes, async calls in queries, and queries that look at themselves without running."""

from __future__ import annotations

import asyncio
import itertools

import PIL.Image
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv
from reverie.exec.evaluator import plan_for

_names = itertools.count()


@rv.udf
def describe_optional(s: str | None) -> str:
    return 'none' if s is None else f'<{s}>'


@rv.udf
def describe_required(s: str) -> str:
    return f'<{s}>'


def test_one_null_rule_in_select_and_computed_columns(catalog):
    t = rv.create_table('nulls', {'s': rv.String | None})
    t.insert([{'s': 'a'}, {'s': None}], print_stats=False)
    t.add_computed_column(opt=describe_optional(t.s), print_stats=False)
    t.add_computed_column(req=describe_required(t.s), print_stats=False)
    rs = t.select(
        t.opt, t.req, q_opt=describe_optional(t.s), q_req=describe_required(t.s)
    ).collect()
    # A parameter typed `str | None` receives None; a `str` one is skipped: None, no call.
    assert rs['opt'] == rs['q_opt'] == ['<a>', 'none']
    assert rs['req'] == rs['q_req'] == ['<a>', None]


_EXPRESSIONS = {
    'arith': lambda t: t.i * 3 - t.j + 7,
    'mixed': lambda t: t.i * t.f + 0.5,
    'concat': lambda t: t.s + '-' + t.s,
    'compare': lambda t: t.i > t.j,
    'logic': lambda t: (t.i >= 0) & ~(t.s == 'x') | (t.f < 1.5),
    'isnull': lambda t: t.s == None,  # noqa: E711
    'isin': lambda t: t.i.isin([1, 2, 3, -4]),
}
_small_ints = st.one_of(st.none(), st.integers(-(10**6), 10**6))
_rows = st.lists(
    st.fixed_dictionaries(
        {
            'i': _small_ints,
            'j': _small_ints,
            'f': st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
            's': st.one_of(st.none(), st.sampled_from(['x', 'y', '', 'héllo', 'a b'])),
        }
    ),
    min_size=1,
    max_size=15,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_rows)
def test_sql_pushdown_equals_python_evaluation(catalog, rows):
    t = rv.create_table(
        f'push{next(_names)}',
        {'i': rv.Int | None, 'j': rv.Int | None, 'f': rv.Float | None, 's': rv.String | None},
    )
    t.insert(rows, print_stats=False)
    for name, build in _EXPRESSIONS.items():
        t.add_computed_column(**{name: build(t)}, print_stats=False)
    plan = plan_for(catalog.schema(t._id))
    assert {p.column.name for p in plan.in_sql} == set(_EXPRESSIONS)  # really in SQL
    in_python = t.select(**{name: build(t) for name, build in _EXPRESSIONS.items()}).collect()
    stored = t.select(*(getattr(t, name) for name in _EXPRESSIONS)).collect()
    for name in _EXPRESSIONS:
        expected, got = in_python[name], stored[name]
        if name == 'mixed':
            assert [g is None for g in got] == [e is None for e in expected], name
            pairs = [(g, e) for g, e in zip(got, expected, strict=True) if e is not None]
            assert all(g == pytest.approx(e, rel=1e-12) for g, e in pairs), name
        else:
            assert got == expected, name
    # Filters: SQL's where equals Python's evaluation of the same predicate.
    for name in ('compare', 'logic', 'isin'):
        predicate = _EXPRESSIONS[name](t)
        kept = t.where(predicate).select(t.i, t.j, t.s).collect()
        everything = t.select(t.i, t.j, t.s, keep=predicate).collect()
        expected_rows = [
            (i, j, s)
            for i, j, s, keep in zip(
                everything['i'], everything['j'], everything['s'], everything['keep'], strict=True
            )
            if keep is True
        ]
        assert list(zip(kept['i'], kept['j'], kept['s'], strict=True)) == expected_rows


def test_division_stays_in_python_so_errors_stay_errors(catalog):
    t = rv.create_table('div', {'i': rv.Int})
    t.insert([{'i': 0}, {'i': 4}], print_stats=False)
    t.add_computed_column(inv=8 / t.i, on_error='ignore', print_stats=False)
    assert not plan_for(catalog.schema(t._id)).in_sql
    rs = t.select(t.inv, t.inv.errortype).collect()
    assert rs['inv'] == [None, 2.0]
    assert rs['inv_errortype'][0] is not None


@rv.udf
def plus_one(x: int) -> int:
    return x + 1


@rv.udf(resource_pool='engine-test', max_concurrency=4)
async def slow_plus(x: int) -> int:
    await asyncio.sleep(0.001)
    return x + 1


def test_an_insert_never_scans_the_table(sqlite_catalog):
    t = rv.create_table('scan', {'s': rv.String, 'i': rv.Int})
    t.insert([{'s': f'row {k}', 'i': k} for k in range(3000)], print_stats=False)
    t.add_computed_column(a=plus_one(t.i), print_stats=False)
    t.add_computed_column(b=t.i * 2, print_stats=False)
    t.add_computed_column(c=slow_plus(t.a), print_stats=False)
    engine = sqlite_catalog.store.engine
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith(('SELECT', 'UPDATE')):
            statements.append((statement, parameters))

    sa.event.listen(engine, 'before_cursor_execute', record)
    try:
        t.insert([{'s': 'new', 'i': 5}], print_stats=False)
    finally:
        sa.event.remove(engine, 'before_cursor_execute', record)
    assert t.where(t.i == 5).select(t.a, t.b, t.c).collect()['c'] == [7, 7]
    data_table = catalog_table_name(sqlite_catalog, t)
    touching = [(s, p) for s, p in statements if data_table in s]
    assert touching, 'the insert computed nothing?'
    with engine.connect() as conn:
        for statement, params in touching:
            plan = conn.exec_driver_sql(f'EXPLAIN QUERY PLAN {statement}', params).all()
            details = ' | '.join(str(row[-1]) for row in plan)
            assert f'SCAN {data_table}' not in details, (statement, details)


def catalog_table_name(catalog, t) -> str:
    return catalog.schema(t._id).sa_table.name


def test_add_index_and_point_lookup(catalog):
    t = rv.create_table('idx', {'i': rv.Int, 'meta': rv.Json | None})
    t.insert([{'i': k} for k in range(200)], print_stats=False)
    t.add_index(t.i)
    with pytest.raises(rv.AlreadyExistsError, match='already has an index'):
        t.add_index('i')
    t.add_index('i', if_exists='ignore')
    with pytest.raises(rv.InvalidValueError, match='can be indexed'):
        t.add_index(t.meta)
    if catalog.store.is_sqlite:
        statement = str(
            sa.select(catalog.schema(t._id).sa_table)
            .where(
                catalog.schema(t._id).sa_table.c[catalog.schema(t._id).require('i').sql.value] == 3
            )
            .compile(compile_kwargs={'literal_binds': True})
        )
        with catalog.store.engine.connect() as conn:
            plan = ' '.join(
                str(r[-1]) for r in conn.exec_driver_sql(f'EXPLAIN QUERY PLAN {statement}')
            )
        assert 'USING INDEX' in plan
    assert t.where(t.i == 3).select(t.i).collect()['i'] == [3]
    t.drop_index(t.i)
    with pytest.raises(rv.NotFoundError, match='has no index'):
        t.drop_index(t.i)
    t.add_index(t.i)
    t.drop_column('i')  # an indexed column can still be dropped
    assert t.columns() == ['meta']


IN_FLIGHT = {'now': 0, 'peak': 0}


@rv.udf
async def wait_a_bit(n: int) -> int:
    IN_FLIGHT['now'] += 1
    IN_FLIGHT['peak'] = max(IN_FLIGHT['peak'], IN_FLIGHT['now'])
    try:
        await asyncio.sleep(0.05)
    finally:
        IN_FLIGHT['now'] -= 1
    return n * 2


def test_async_calls_in_a_query_run_concurrently(catalog):
    IN_FLIGHT.update(now=0, peak=0)
    t = rv.create_table('aq', {'n': rv.Int})
    t.insert([{'n': k} for k in range(30)], print_stats=False)
    rs = t.where(t.n % 3 == 0).select(t.n, d=wait_a_bit(t.n)).collect()
    assert rs['d'] == [k * 2 for k in range(0, 30, 3)]
    assert IN_FLIGHT['peak'] > 1


@rv.udf(batch_size=4)
async def async_batched(xs: rv.Batch[int]) -> rv.Batch[int]:
    await asyncio.sleep(0)
    return [x * 10 for x in xs]


def test_async_batched_udf_gets_lists(catalog):
    t = rv.create_table('ab', {'n': rv.Int})
    t.insert([{'n': k} for k in range(10)], print_stats=False)
    t.add_computed_column(m=async_batched(t.n), print_stats=False)
    assert t.collect()['m'] == [k * 10 for k in range(10)]
    assert t.select(q=async_batched(t.n)).collect()['q'] == [k * 10 for k in range(10)]


def test_images_computed_in_a_query_are_readable(catalog):
    t = rv.create_table('imgq', {'img': rv.Image})
    t.insert([{'img': PIL.Image.new('RGB', (40, 20), 'red')}], print_stats=False)
    rs = t.select(t.img, r=t.img.rotate(90), s=t.img.resize((10, 5)), w=t.img.width).collect()
    rotated, small = rs['r'][0], rs['s'][0]
    assert rotated.size == (40, 20) and small.size == (10, 5)
    # Pixels are still there after the query closed the stored image.
    assert rotated.getpixel((20, 10)) == (255, 0, 0)
    assert small.getpixel((5, 2)) == (255, 0, 0)
    assert rs['w'] == [40]


def test_select_constants_and_select_nothing(catalog):
    t = rv.create_table('consts', {'n': rv.Int})
    t.insert([{'n': 1}, {'n': 2}], print_stats=False)
    assert t.select(one=rv.functions.string.upper('x') if False else 1).collect()['one'] == [1, 1]
    assert t.select().collect().column_names == ['n']
    assert t.select('n').collect()['col_0'] == ['n', 'n']  # a str is a literal, as in Pixeltable


def test_query_after_drop_column_says_so(catalog):
    t = rv.create_table('dropq', {'a': rv.Int, 'b': rv.Int})
    q = t.select(t.a, t.b)
    t.drop_column('b')
    with pytest.raises(rv.NotFoundError, match='no longer exists'):
        q.collect()


def test_count_after_group_by_and_with_python_filter(catalog):
    t = rv.create_table('cnt', {'k': rv.String, 'n': rv.Int})
    t.insert([{'k': 'a', 'n': 1}, {'k': 'a', 'n': 2}, {'k': 'b', 'n': 3}], print_stats=False)
    from reverie.functions import count

    assert t.group_by(t.k).select(t.k, count(t.n)).count() == 2
    assert t.where(plus_one(t.n) > 2).count() == 2
    assert t.where(t.n > 1).count() == 2


@rv.udf
def explode(n: int) -> int:
    raise RuntimeError(f'boom {n}')


def test_errors_in_queries_are_reverie_errors(catalog):
    t = rv.create_table('boom', {'n': rv.Int})
    t.insert([{'n': 1}], print_stats=False)
    with pytest.raises(rv.Error, match='boom 1'):
        t.select(x=explode(t.n)).collect()
    with pytest.raises(rv.Error, match='boom 1'):
        t.where(explode(t.n) > 0).collect()
    # A division by zero in a filter means "no match", as in SQL.
    assert t.where(t.n / 0 > 1).select(t.n).collect()['n'] == []


@rv.udf
def always_fails(n: int) -> int:
    raise RuntimeError('no key configured')


@rv.udf
def fails_on_two(n: int) -> int:
    if n == 2:
        raise RuntimeError('two is bad')
    return n


def test_a_column_no_cell_could_compute_is_not_left_behind(catalog):
    t = rv.create_table('abort', {'n': rv.Int})
    t.insert([{'n': 1}, {'n': 2}], print_stats=False)
    with pytest.raises(rv.ExecutionError, match=r"Column 'x' was not added.*no key configured"):
        t.add_computed_column(x=always_fails(t.n), print_stats=False)
    assert t.columns() == ['n']
    # Rerunning the same cell after fixing the cause works (no AlreadyExistsError).
    t.add_computed_column(x=t.n + 1, print_stats=False)
    # A column with computed cells is kept: those cells may have been paid for.
    with pytest.raises(rv.ExecutionError, match='two is bad'):
        t.add_computed_column(y=fails_on_two(t.n), print_stats=False)
    assert 'y' in t.columns()


@rv.udf
def fragile(n: int) -> int:
    if n < 0 and not FIXED['ok']:
        raise ValueError('negative')
    return abs(n)


FIXED = {'ok': False}


def test_update_without_cascade_keeps_computed_cells(catalog):
    t = rv.create_table('nocascade', {'n': rv.Int})
    t.insert([{'n': 1}], print_stats=False)
    t.add_computed_column(m=plus_one(t.n), print_stats=False)
    status = t.update({'n': 5}, cascade=False)
    assert t.select(t.n, t.m).collect()[0] == {'n': 5, 'm': 2}  # kept, not reset to pending
    assert status.updated_cols == ['n']
    status = t.update({'n': 7})
    assert t.select(t.m).collect()[0]['m'] == 8
    assert status.updated_cols == ['n', 'm']  # the cascaded column is named too


def test_recompute_errors_only_recomputes_their_dependents(catalog):
    FIXED['ok'] = False
    t = rv.create_table('errdeps', {'n': rv.Int})
    t.insert([{'n': -2}, {'n': 3}], print_stats=False)
    t.add_computed_column(a=fragile(t.n), on_error='ignore', print_stats=False)
    t.add_computed_column(b=t.a * 10, on_error='ignore', print_stats=False)
    assert t.select(t.a, t.b).collect()['b'] == [None, 30]
    FIXED['ok'] = True
    t.recompute_columns('a', errors_only=True, print_stats=False)
    rs = t.select(t.a, t.b).collect()
    assert rs['a'] == [2, 3] and rs['b'] == [20, 30]


def test_a_column_not_added_gives_no_advice_about_that_column(catalog):
    # Issue 22: the message said to see t.x.errormsg, a column that was not added.
    t = rv.create_table('gone', {'n': rv.Int})
    t.insert([{'n': 1}], print_stats=False)
    with pytest.raises(rv.ExecutionError) as info:
        t.add_computed_column(x=always_fails(t.n), print_stats=False)
    message = str(info.value)
    assert 'no key configured' in message and 'add the column again' in message
    assert 't.x.errormsg' not in message and 'errormsg)' not in message
    assert 'reverie resume' not in message and 'recompute_columns' not in message
