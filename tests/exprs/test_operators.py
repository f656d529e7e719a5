"""Operators: ``**``, abs, round, reflected ``%``/``//``, str * int, JSON slices and '*',
dicts and lists of expressions, isin(set), astype to a Required type.

``%`` and ``//`` on Int run in SQL (update/delete/where); the SQL result must equal
Python's on the same rows, negatives included.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv

_names = itertools.count()
_INT = st.integers(min_value=-(2**62), max_value=2**62)


@pytest.fixture
def nums(catalog):
    t = rv.create_table(
        'nums', {'a': rv.Int, 'b': rv.Int, 'x': rv.Float | None, 's': rv.String | None}
    )
    t.insert(
        [
            {'a': 7, 'b': 2, 'x': 2.5, 's': 'ab'},
            {'a': -7, 'b': 2, 'x': -3.5, 's': 'c'},
            {'a': 7, 'b': -2, 'x': 0.5, 's': ''},
            {'a': -7, 'b': -2, 'x': 1.25, 's': None},
        ],
        print_stats=False,
    )
    return t


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pairs=st.lists(st.tuples(_INT, _INT.filter(lambda v: v != 0)), min_size=1, max_size=6))
def test_floor_div_and_mod_in_sql_equal_python(catalog, pairs):
    t = rv.create_table(
        f't{next(_names)}', {'a': rv.Int, 'b': rv.Int, 'q': rv.Int | None, 'r': rv.Int | None}
    )
    t.insert([{'a': a, 'b': b} for a, b in pairs], print_stats=False)
    t.update({'q': t.a // t.b, 'r': t.a % t.b})  # computed by the database
    rs = t.select(t.a, t.b, t.q, t.r, pq=t.a // t.b, pr=t.a % t.b).collect()  # by Python
    for row in rs:
        a, b = row['a'], row['b']
        assert row['q'] == row['pq'] == a // b
        assert row['r'] == row['pr'] == a % b
    # where= runs in SQL too; reflected operators build the same nodes.
    expected = sum(1 for a, b in pairs if 100 % b == a % b)
    assert t.where((100 % t.b) == (t.a % t.b)).count() == expected
    t.delete(where=(t.a // t.b) < 0)
    assert t.count() == sum(1 for a, b in pairs if a // b >= 0)


def test_floor_div_and_mod_by_zero_are_null_in_sql(nums):
    nums.update({'a': nums.a % (nums.b - nums.b)})
    assert nums.collect()['a'] == [None] * 4


def test_power_abs_round(nums):
    rs = nums.select(
        sq=nums.a**2, inv=nums.b**-1, pw=2**nums.b, fx=nums.x**2, ab=abs(nums.a), rx=round(nums.x)
    ).collect()
    assert rs['sq'] == [49, 49, 49, 49]
    assert rs['inv'] == [0.5, 0.5, -0.5, -0.5]
    assert rs['pw'] == [4.0, 4.0, 0.25, 0.25]
    assert rs['fx'] == [6.25, 12.25, 0.25, 1.5625]
    assert rs['ab'] == [7, 7, 7, 7]
    assert rs['rx'] == [round(2.5), round(-3.5), round(0.5), round(1.25)]  # halves to even
    assert nums.select(r=round(nums.x, 1)).collect()['r'] == [2.5, -3.5, 0.5, round(1.25, 1)]
    assert (nums.a**2).col_type == rv.Int and (nums.a**nums.b).col_type == rv.Float
    assert round(nums.x).col_type == rv.Int and round(nums.x, 1).col_type == rv.Float
    with pytest.raises(rv.TypeMismatchError, match=r'abs\(\) needs an Int or Float'):
        abs(nums.s)


def test_power_too_large_is_a_cell_error(nums):
    nums.add_computed_column(big=nums.a ** (nums.b * 10**6), on_error='ignore')
    rs = nums.select(nums.big, nums.big.errormsg).collect()
    assert rs['big'][0] is None and 'too large' in rs['big_errormsg'][0]


def test_string_times_int(nums):
    rs = nums.select(r=nums.s * 3, l=2 * nums.s).collect()
    assert rs['r'] == ['ababab', 'ccc', '', None]
    assert rs['l'] == ['abab', 'cc', '', None]
    with pytest.raises(rv.TypeMismatchError):
        _ = nums.s * nums.x


def test_computed_columns_with_new_operators_survive_reload(nums, catalog):
    nums.add_computed_column(m=-7 % nums.b)
    nums.add_computed_column(d=nums.a**2 // nums.b)
    url, media = catalog.config.db_url, str(catalog.media.root)
    again = rv.init({'db_url': url, 'media_dir': media})
    try:
        t = rv.get_table('nums')
        t.insert(a=9, b=-4)
        rs = t.select(t.m, t.d).collect()
        assert rs['m'] == [-7 % b for b in (2, 2, -2, -2, -4)]
        assert rs['d'] == [49 // 2, 49 // 2, 49 // -2, 49 // -2, 81 // -4]
    finally:
        again.close()


@pytest.fixture
def docs(catalog):
    t = rv.create_table('docs', {'j': rv.Json | None, 'n': rv.Int})
    t.insert(
        [
            {'j': {'items': [{'name': 'a', 'v': 1}, {'name': 'b', 'v': 2}, {'name': 'c'}]}, 'n': 1},
            {'j': {'items': []}, 'n': 2},
            {'j': {'items': 'not a list'}, 'n': 3},
        ],
        print_stats=False,
    )
    return t


def test_json_slices_and_star(docs, catalog):
    items = docs.j['items']
    rs = docs.select(
        names=items['*']['name'],
        first2=items[:2],
        rev=items[::-1]['name'],
        tail=items[1:]['v'],
    ).collect()
    assert rs['names'] == [['a', 'b', 'c'], [], None]
    assert rs['first2'] == [[{'name': 'a', 'v': 1}, {'name': 'b', 'v': 2}], [], None]
    assert rs['rev'] == [['c', 'b', 'a'], [], None]
    assert rs['tail'] == [[2, None], [], None]
    docs.add_computed_column(vs=items['*']['v'])
    again = rv.init({'db_url': catalog.config.db_url, 'media_dir': str(catalog.media.root)})
    try:
        t = rv.get_table('docs')
        t.insert(j={'items': [{'v': 9}]}, n=4)
        assert t.select(t.vs).collect()['vs'] == [[1, 2, None], [], None, [9]]
        assert "['*']" in repr(t.j['items']['*']) and '[1:3]' in repr(t.j[1:3])
    finally:
        again.close()
    with pytest.raises(rv.InvalidValueError, match='step cannot be zero'):
        _ = docs.j[::0]


def test_dicts_and_lists_holding_expressions(docs, catalog):
    rs = docs.select(d={'n': docs.n, 'pair': [docs.n, {'twice': docs.n * 2}], 'k': 'x'}).collect()
    assert rs['d'][0] == {'n': 1, 'pair': [1, {'twice': 2}], 'k': 'x'}
    docs.add_computed_column(d={'n': docs.n, 'both': [docs.n, docs.n + 1]})
    again = rv.init({'db_url': catalog.config.db_url, 'media_dir': str(catalog.media.root)})
    try:
        t = rv.get_table('docs')
        t.insert(j=None, n=7)
        assert t.select(t.d).collect()['d'][-1] == {'n': 7, 'both': [7, 8]}
    finally:
        again.close()


def test_astype_required(docs):
    docs.add_computed_column(
        first=docs.j['items'][0]['v'].astype(rv.Required[rv.Int]), on_error='ignore'
    )
    rs = docs.select(docs.first, docs.first.errormsg).collect()
    assert rs['first'] == [1, None, None]
    assert rs['first_errormsg'][0] is None
    assert 'cannot become Int' in rs['first_errormsg'][1]
    assert docs.j.astype(rv.Required[rv.Int]).col_type == rv.Required[rv.Int]
