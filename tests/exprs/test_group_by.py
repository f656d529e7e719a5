from __future__ import annotations

import pytest

import reverie as rv
from reverie.functions import count, max, mean, min, sum


@pytest.fixture
def t(catalog):
    t = rv.create_table('g', {'kind': rv.String, 'n': rv.Int | None, 'x': rv.Float | None})
    rows = [{'kind': k, 'n': i, 'x': i / 2} for i, k in enumerate('aabbbc')]
    rows.append({'kind': 'c', 'n': None, 'x': None})
    t.insert(rows, print_stats=False)
    return t


def test_group_by_aggregates(t):
    rs = (
        t.group_by(t.kind)
        .select(t.kind, count(t.n), total=sum(t.n), avg=mean(t.x), lo=min(t.n), hi=max(t.n))
        .collect()
    )
    assert rs.column_names == ['kind', 'count', 'total', 'avg', 'lo', 'hi']
    assert rs['kind'] == ['a', 'b', 'c']
    assert rs['count'] == [2, 3, 1]  # nulls are not counted
    assert rs['total'] == [1, 9, 5]
    assert rs['avg'] == [0.25, 1.5, 2.5]
    assert rs['lo'] == [0, 2, 5]
    assert rs['hi'] == [1, 4, 5]


def test_aggregate_over_whole_table_with_where_and_order(t):
    assert t.select(count(t.n), mean(t.n)).collect()[0] == {'count': 6, 'mean': 2.5}
    rs = (
        t.where(t.n > 1)
        .group_by(t.kind)
        .select(t.kind, c=count(t.n))
        .order_by(count(t.n), asc=False)
        .collect()
    )
    assert rs['kind'] == ['b', 'c']
    assert rs['c'] == [3, 1]


def test_group_by_misuse_is_explained(t):
    with pytest.raises(rv.InvalidValueError, match='neither a group_by key nor an aggregate'):
        t.group_by(t.kind).select(t.n).collect()
    with pytest.raises(rv.TypeMismatchError, match='needs Int or Float'):
        sum(t.kind)
    with pytest.raises(rv.InvalidValueError, match='cannot use an aggregate'):
        t.add_computed_column(c=count(t.n))
