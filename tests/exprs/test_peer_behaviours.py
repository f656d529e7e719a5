"""Query and expression behaviours ported from Pixeltable 0.7's own tests (issue 22)."""

from __future__ import annotations

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.catalog.table import Table
from reverie.errors import InvalidValueError
from reverie.functions import count, sum


@pytest.fixture
def t(sqlite_catalog: Catalog) -> Table:
    t = rv.create_table('t', {'c1': rv.Int, 's': rv.String, 'b': rv.Bool})
    t.insert([{'c1': i % 3, 's': f's{i}', 'b': i % 2 == 0} for i in range(6)], print_stats=False)
    return t


def test_a_str_in_select_is_a_literal(t: Table) -> None:
    rs = t.select(t.c1, 'hello').limit(2).collect()
    assert [row['col_1'] for row in rs] == ['hello', 'hello']
    assert t.select(x='c1').limit(1).collect()['x'] == ['c1']


@pytest.mark.parametrize('name', ['c2-1', '', 'foo.bar', '_c3', '1x'])
def test_invalid_result_names_are_refused(t: Table, name: str) -> None:
    with pytest.raises(InvalidValueError, match='Invalid name'):
        t.select(t.c1, **{name: t.c1})


def test_select_after_select_is_refused(t: Table) -> None:
    with pytest.raises(InvalidValueError, match='Select list already specified'):
        t.select(t.c1).select(t.s)


def test_where_after_where_is_refused(t: Table) -> None:
    with pytest.raises(InvalidValueError, match=r'where\(\) clause already specified'):
        t.where(t.c1 <= 1).where(t.c1 >= 1)
    assert t.where((t.c1 <= 1) & (t.c1 >= 1)).count() == 2


def test_order_by_a_constant_is_refused(t: Table) -> None:
    with pytest.raises(InvalidValueError, match=r'Invalid expression in order_by\(\)'):
        t.order_by(1)
    assert t.order_by(t.c1, asc=False).limit(1).collect()['c1'] == [2]


def test_result_cell_by_row_and_column_position(t: Table) -> None:
    rs = t.select(t.c1, t.s).order_by(t.s).collect()
    assert rs[1, 1] == 's1' and rs[1, 's'] == 's1' and rs[0, 0] == 0


def test_count_of_a_grouped_query_counts_groups(t: Table) -> None:
    assert t.group_by(t.c1).select(t.c1, n=count(t.c1)).count() == 3


def test_constants_in_a_grouped_select(t: Table) -> None:
    rs = t.group_by(t.c1).select(t.c1, two=2).collect()
    assert rs['two'] == [2, 2, 2]
    assert len(t.group_by(t.b, t.c1).select(two='2').collect()) == 6


def test_an_aggregate_in_where_is_a_clear_error(t: Table) -> None:
    with pytest.raises(InvalidValueError, match=r'where\(\) cannot hold an aggregate'):
        t.group_by(t.c1).where(sum(t.c1) > 0).select(sum(t.c1))
    with pytest.raises(InvalidValueError, match='aggregate'):
        t.where(count(t.c1) > 1).collect()


@pytest.fixture
def j(sqlite_catalog: Catalog) -> Table:
    j = rv.create_table('j', {'n': rv.Int, 'doc': rv.Json})
    j.insert(
        [{'n': i, 'doc': {'s': f'x{i}', 'k': i, 'l': [1, 2, 3]}} for i in range(4)],
        print_stats=False,
    )
    return j


def test_json_string_times_an_int_raises(j: Table) -> None:
    with pytest.raises(rv.ExecutionError, match='JSON values needs numbers'):
        j.select(j.doc['s'] * 2).collect()
    assert j.select(x=j.doc['k'] * 2).order_by(j.n).collect()['x'] == [0, 2, 4, 6]


def test_comparisons_on_a_json_path(j: Table) -> None:
    assert j.where(j.doc['k'] > 1).count() == 2
    assert j.select(x=j.doc['k'] <= 1).order_by(j.n).collect()['x'] == [True, True, False, False]


def test_isin_takes_a_dicts_keys(j: Table) -> None:
    assert j.where(j.n.isin({1: 'a', 2: 'b', 7: 'c'})).count() == 2
    assert j.where(j.n.isin(j.doc['l'])).count() == 3


@rv.udf
def _double(x: int) -> int:
    return x * 2


def test_aggregates_over_udf_results(t: Table) -> None:
    rs = t.group_by(t.b).select(t.b, s=sum(_double(t.c1)), n=count(t.c1)).collect()
    assert list(rs) == [{'b': False, 's': 6, 'n': 3}, {'b': True, 's': 6, 'n': 3}]
    rs = t.group_by(_double(t.c1)).select(k=_double(t.c1), n=count(t.c1)).collect()
    assert (rs['k'], rs['n']) == ([0, 2, 4], [2, 2, 2])
    applied = sum(t.c1.apply(lambda x: x, col_type=rv.Int))
    assert t.group_by(t.b).select(s=applied).order_by(applied, asc=False).collect()['s'] == [3, 3]
    assert t.select(n=count(_double(t.c1)), two=2).collect()[0] == {'n': 6, 'two': 2}
