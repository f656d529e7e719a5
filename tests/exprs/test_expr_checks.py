"""Expressions refuse misuse with rv errors; date and time literals work everywhere.

Bugs 14, 15, 16 and 19 of issue 13.
"""

from __future__ import annotations

import datetime

import pytest

import reverie as rv

UTC = datetime.UTC


@rv.udf
def days_after(ts: datetime.datetime, start: datetime.date) -> int:
    return (ts.date() - start).days


@pytest.fixture
def events(catalog):
    t = rv.create_table('events', {'label': rv.String, 'ts': rv.Timestamp, 'meta': rv.Json | None})
    t.insert(
        [
            {'label': 'a', 'ts': datetime.datetime(2026, 1, 1, 12, tzinfo=UTC), 'meta': ['a', 2]},
            {'label': 'b', 'ts': datetime.datetime(2026, 3, 1, 12, tzinfo=UTC), 'meta': None},
        ],
        print_stats=False,
    )
    return t


def test_naive_datetime_literal_compares_on_the_python_path(events):
    """Bug 14: a naive literal against aware stored values failed (naive vs aware)."""
    cutoff = datetime.datetime(2026, 2, 1)  # naive: read as UTC, like stored values
    # The JSON path keeps the condition in Python; the plain comparison goes to SQL.
    py = events.where((events.ts > cutoff) & (events.meta == None)).select(events.label)  # noqa: E711
    assert py.collect()['label'] == ['b']
    assert events.where(events.ts > cutoff).select(events.label).collect()['label'] == ['b']
    assert events.select(late=events.ts > cutoff).collect()['late'] == [False, True]


def test_date_and_datetime_literals_in_computed_columns(events, catalog):
    """Bug 14: a datetime/date literal in a computed column failed with a raw SQLAlchemy error."""
    events.add_computed_column(after=days_after(events.ts, datetime.date(2026, 1, 1)))
    events.add_computed_column(late=events.ts > datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC))
    assert events.select(events.after, events.late).collect()['after'] == [0, 59]
    rv.init({'db_url': catalog.config.db_url, 'media_dir': str(catalog.media.root)}).close()
    again = rv.init({'db_url': catalog.config.db_url, 'media_dir': str(catalog.media.root)})
    try:
        t = rv.get_table('events')
        t.insert(label='c', ts=datetime.datetime(2026, 1, 11, tzinfo=UTC))
        rs = t.select(t.after, t.late).collect()
        assert rs['after'] == [0, 59, 10]
        assert rs['late'] == [False, True, False]
    finally:
        again.close()


def test_array_with_dtype_only():
    """Bug 15: rv.Array[rv.Float] raised TypeError."""
    assert rv.Array[rv.Float].dtype == 'float' and rv.Array[rv.Float].shape is None
    assert rv.Array[rv.Int].dtype == 'int'
    assert rv.Array[(2, 3), rv.Int].shape == (2, 3)


def test_unhashable_schema_value_is_an_rv_error(catalog):
    """Bug 15: a schema value like {} raised a raw 'unhashable' TypeError."""
    with pytest.raises(rv.InvalidValueError, match=r"Column 'x': No column type for \{\}"):
        rv.create_table('t', {'x': {}})
    assert rv.list_tables() == []


@pytest.mark.parametrize('where', [True, 'n > 1', 1], ids=['bool', 'str', 'int'])
def test_non_expression_where_in_update_and_delete(catalog, where):
    """Bug 15: a non-expression where= raised a raw AttributeError."""
    t = rv.create_table('t', {'n': rv.Int})
    t.insert([{'n': 1}, {'n': 2}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match=r'takes an expression .* such as t.n > 1'):
        t.update({'n': 5}, where=where)
    with pytest.raises(rv.InvalidValueError, match=r'takes an expression .* such as t.n > 1'):
        t.delete(where=where)
    assert sorted(t.collect()['n']) == [1, 2]


def test_expressions_are_not_iterable(events):
    """Bug 16: list(t.json_col) never ended (__getitem__ without __iter__)."""
    # iter() first: before the fix it returned an endless iterator (list() then never ended).
    with pytest.raises(rv.TypeMismatchError, match='cannot be iterated'):
        iter(events.meta)
    with pytest.raises(rv.TypeMismatchError, match='cannot be iterated'):
        list(events.label)
    with pytest.raises(rv.TypeMismatchError, match=r'use a.isin\(\[...\]\)'):
        _ = 1 in events.meta


@pytest.mark.parametrize(
    ('build', 'match'),
    [
        pytest.param(
            lambda t: t.label.isin([1, 2]), r'isin\(\): 1 \(Int\) can never equal', id='str-vs-int'
        ),
        pytest.param(lambda t: t.ts.isin(['a']), r'can never equal', id='ts-vs-str'),
        pytest.param(lambda t: t.label.isin(t.ts), 'a Json expression holding a list', id='expr'),
        pytest.param(
            lambda t: t.label.isin('abc'), 'takes a list, tuple, set or dict', id='scalar'
        ),
    ],
)
def test_isin_checks_types(events, build, match):
    """Bug 19: isin() did no type checks."""
    with pytest.raises(rv.TypeMismatchError, match=match):
        build(events)


def test_isin_accepts_sets_and_json_lists(events):
    assert events.where(events.label.isin({'b', 'zz'})).select(events.label).collect()['label'] == [
        'b'
    ]
    assert events.select(x=events.label.isin(events.meta)).collect()['x'] == [True, False]
