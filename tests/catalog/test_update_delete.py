"""update() and delete(): literals, expressions, where, cascading recomputation."""

from __future__ import annotations

import pytest

import reverie as rv

CALLS: list[int] = []


@rv.udf
def triple(n: int) -> int:
    CALLS.append(n)
    return n * 3


@pytest.fixture
def nums(catalog):
    CALLS.clear()
    t = rv.create_table('nums', {'n': rv.Int, 'label': rv.String})
    t.insert([{'n': i, 'label': f'r{i}'} for i in range(5)], print_stats=False)
    t.add_computed_column(t3=triple(t.n), print_stats=False)
    t.add_computed_column(t3p1=t.t3 + 1, print_stats=False)
    CALLS.clear()
    return t


def test_update_literal_with_where(nums, capsys):
    status = nums.update({'label': 'big'}, where=nums.n >= 3)
    assert status.num_rows == 2
    assert 'Updated 2 rows.' in capsys.readouterr().out
    assert nums.order_by(nums.n).collect()['label'] == ['r0', 'r1', 'r2', 'big', 'big']
    assert CALLS == []  # label feeds no computed column


def test_update_expression_cascades(nums):
    nums.update({'n': nums.n + 1}, where=nums.n < 2)
    rs = nums.order_by(nums.n).select(nums.n, nums.t3, nums.t3p1).collect()
    assert rs['n'] == [1, 2, 2, 3, 4]
    assert rs['t3'] == [3, 6, 6, 9, 12]
    assert rs['t3p1'] == [4, 7, 7, 10, 13]
    assert sorted(CALLS) == [1, 2]  # only the updated rows were recomputed


def test_update_all_rows(nums):
    nums.update({'n': 10})
    assert nums.collect()['t3'] == [30] * 5


def test_update_refusals(nums):
    before = nums.collect()
    with pytest.raises(
        rv.InvalidValueError, match=r"Column 't3' is computed; use t.recompute_columns\('t3'\)"
    ):
        nums.update({'t3': 1})
    with pytest.raises(
        rv.InvalidValueError, match=r"Column 'n' \(table 'nums', row 0\) expects Int"
    ):
        nums.update({'n': 'x'})
    with pytest.raises(rv.TypeMismatchError, match="Column 'n' is Int"):
        nums.update({'n': nums.label})
    with pytest.raises(rv.NotFoundError, match="Table 'nums' has no column 'zz'"):
        nums.update({'zz': 1})
    assert nums.collect() == before


def test_delete_with_where(nums, capsys):
    status = nums.delete(where=(nums.n == 1) | (nums.label == 'r4'))
    assert status.num_rows == 2
    assert "Deleted 2 rows from table 'nums'." in capsys.readouterr().out
    assert nums.collect()['n'] == [0, 2, 3]
    nums.delete()
    assert nums.count() == 0
