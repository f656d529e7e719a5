"""A where() that is one plain Python call runs over whole columns, with the row path's rules."""

from __future__ import annotations

import pytest

import reverie as rv


@rv.udf
def is_even(x: int) -> bool:
    return x % 2 == 0


@rv.udf
def divisible(x: int | None, by: int) -> bool:
    return x is not None and x % by == 0


@rv.udf
def picky(x: int) -> bool:
    if x == 6:
        raise RuntimeError('six')
    return True


def _table() -> rv.Table:
    t = rv.create_table('cf', {'i': rv.Int | None, 's': rv.String}, if_exists='replace')
    t.insert([{'i': None if k % 4 == 3 else k, 's': f'r{k}'} for k in range(12)], print_stats=False)
    return t


def test_required_none_is_no_match_and_literals_reach_the_call() -> None:
    t = _table()
    assert sorted(t.where(is_even(t.i)).collect()['i']) == [0, 2, 4, 6, 8, 10]
    # two conjuncts, a literal argument and a nullable parameter (None reaches the call)
    got = t.where(divisible(t.i, 3) & is_even(t.i)).select(t.s).collect()['s']
    assert sorted(got) == ['r0', 'r6']


def test_a_failing_call_names_its_row() -> None:
    t = _table()
    with pytest.raises(rv.ExecutionError, match=r'for row \d+ of table .*RuntimeError: six'):
        t.where(picky(t.i)).collect()
