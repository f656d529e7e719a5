"""Columns that are plain calls of stored columns take a fast path; it must behave exactly
like the general one: None inputs skip the call, bad results and exceptions become error
cells, values needing conversion are converted, literals are passed."""

from __future__ import annotations

import math

import pytest

import reverie as rv

CALLS: list[object] = []


@rv.udf
def scaled(x: int, k: int) -> float:
    CALLS.append(x)
    if x == 3:
        raise ValueError('three is not allowed')
    if x == 4:
        return math.nan  # refused by Float
    return x * k  # an int, stored as a float


@rv.udf
def wrong_type(x: int) -> int:
    return 'not an int'  # type: ignore[return-value]


@rv.udf
def maybe(x: int) -> str | None:
    return None if x == 2 else f'<{x}>'


@pytest.fixture
def t(catalog):
    t = rv.create_table('plain', {'x': rv.Int | None})
    t.insert([{'x': v} for v in (1, 2, 3, 4, None)], print_stats=False)
    return t


def test_plain_call_semantics(t):
    CALLS.clear()
    status = t.add_computed_column(y=scaled(t.x, 10), on_error='ignore', print_stats=False)
    assert sorted(CALLS) == [1, 2, 3, 4]  # no call for the None input
    rs = t.order_by(t.x).select(t.x, t.y, t.y.errortype, t.y.errormsg).collect()
    by_x = {r['x']: r for r in rs}
    assert by_x[1]['y'] == 10.0 and isinstance(by_x[1]['y'], float)
    assert by_x[2]['y'] == 20.0
    assert by_x[3]['y_errortype'] == 'ValueError' and 'three' in by_x[3]['y_errormsg']
    assert by_x[4]['y_errortype'] == 'TypeError' and 'NaN' in by_x[4]['y_errormsg']
    assert by_x[None]['y'] is None and by_x[None]['y_errortype'] is None
    assert status.num_computed_values == 5 and status.num_excs == 2


def test_wrong_result_type_and_none_results(t):
    t.add_computed_column(w=wrong_type(t.x), on_error='ignore', print_stats=False)
    t.add_computed_column(m=maybe(t.x), print_stats=False)
    rs = t.order_by(t.x).select(t.x, t.w.errortype, t.w.errormsg, t.m).collect()
    assert all(r['w_errortype'] == 'TypeError' for r in rs if r['x'] is not None)
    assert "expected Int for column 'w'" in rs[0]['w_errormsg']
    assert [r['m'] for r in rs] == ['<1>', None, '<3>', '<4>', None]
    # recomputing the errors after a fix goes through the same path
    t.recompute_columns('m', errors_only=True, print_stats=False)
    assert t.where(t.m == '<1>').count() == 1
