"""The one planner: string functions with exact SQL twins run in SQL and equal Python.

On SQLite and PostgreSQL; hypothesis draws strings where SQL and Python are easy to tell
apart (Unicode case, LIKE wildcards, every kind of whitespace).
"""

from __future__ import annotations

import itertools
import sys

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv
from reverie.exec.evaluator import plan_for
from reverie.exec.planner import plan_query
from reverie.functions.string.sql import WHITESPACE

_names = itertools.count()

# Characters on which a SQL function that is not Python's would give itself away.
_TRICKY = ' \t\n\x0b\x0c\r\x1c\x85\xa0\u2003\u3000%_\\aAzZßİıΣσςǅﬀé\u0301😀'
_chars = st.one_of(
    st.sampled_from(_TRICKY),
    st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00'),
)
_text = st.text(_chars, max_size=8)
_strings = st.lists(st.one_of(st.none(), _text), min_size=1, max_size=8)


def _twins(pattern: str, repl: str, chars: str):  # (name, expression, Python's answer)
    return {
        'len': (lambda c: c.len(), len),
        'startswith': (lambda c: c.startswith(pattern), lambda s: s.startswith(pattern)),
        'endswith': (lambda c: c.endswith(pattern), lambda s: s.endswith(pattern)),
        'contains': (lambda c: c.contains(pattern), lambda s: pattern in s),
        'replace': (
            lambda c: c.replace(pattern or 'x', repl),
            lambda s: s.replace(pattern or 'x', repl),
        ),
        'strip': (lambda c: c.strip(), str.strip),
        'lstrip': (lambda c: c.lstrip(), str.lstrip),
        'rstrip': (lambda c: c.rstrip(), str.rstrip),
        'strip_chars': (lambda c: c.strip(chars), lambda s: s.strip(chars)),
        'lstrip_chars': (lambda c: c.lstrip(chars), lambda s: s.lstrip(chars)),
        'rstrip_chars': (lambda c: c.rstrip(chars), lambda s: s.rstrip(chars)),
        'startswith_len': (
            lambda c: c.strip().startswith(pattern) & (c.len() > 1),
            lambda s: s.strip().startswith(pattern) and len(s) > 1,
        ),
    }


def _python(fn, s):
    return None if s is None else fn(s)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(strings=_strings, pattern=_text, repl=_text, chars=_text)
def test_string_twins_in_sql_equal_python(catalog, strings, pattern, repl, chars):
    t = rv.create_table(f'twins{next(_names)}', {'s': rv.String | None})
    t.insert([{'s': s} for s in strings], print_stats=False)
    twins = _twins(pattern, repl, chars)
    for name, (build, _) in twins.items():
        t.add_computed_column(**{name: build(t.s)}, print_stats=False)
    plan = plan_for(catalog.schema(t._id))
    assert {p.column.name for p in plan.in_sql} == set(twins)  # computed by the database
    stored = t.select(*(getattr(t, name) for name in twins)).collect()
    for name, (_, fn) in twins.items():
        assert stored[name] == [_python(fn, s) for s in strings], (name, strings)
    # Filters run in SQL and keep the rows Python keeps.
    for name, (build, fn) in twins.items():
        if name in ('len', 'replace') or name.endswith(('strip', '_chars')):
            continue  # not predicates
        kept = t.where(build(t.s)).select(t.s).collect()['s']
        assert kept == [s for s in strings if s is not None and fn(s)], (name, strings)
        schema = catalog.schema(t._id)
        assert not plan_query(schema, [], build(t.s).node, (), str, str).py_where


@pytest.mark.parametrize(
    ('build', 'sql_text'),
    [
        pytest.param(lambda c: c.contains('50%_off'), 'instr', id='contains'),
        pytest.param(lambda c: c.startswith('a_'), 'substr', id='startswith'),
        pytest.param(lambda c: c.endswith('%'), 'substr', id='endswith'),
        pytest.param(lambda c: c.strip() == 'x', 'trim', id='strip'),
        pytest.param(lambda c: c.len() > 3, 'length', id='len'),
        pytest.param(lambda c: c.replace('a', 'b') == 'bb', 'replace', id='replace'),
    ],
)
def test_a_string_filter_runs_in_sql(sqlite_catalog, build, sql_text):
    t = rv.create_table('filters', {'s': rv.String | None})
    t.insert(
        [{'s': s} for s in ['50%_off', 'a_b', 'ab%', ' x\u3000', 'aa', None]], print_stats=False
    )
    schema = sqlite_catalog.schema(t._id)
    plan = plan_query(schema, [('s', t.s.node)], build(t.s).node, (), str, str)
    assert not plan.py_where and len(plan.sql_where) == 1
    assert sql_text in str(plan.sql_where[0].compile(dialect=sa.dialects.sqlite.dialect()))
    assert t.where(build(t.s)).count() == 1


@pytest.mark.parametrize(
    'build',
    [
        pytest.param(lambda c: c.lower() == 'x', id='lower'),
        pytest.param(lambda c: c.contains('x', case=False), id='contains-case-insensitive'),
        pytest.param(lambda c: c.contains('x.', regex=True), id='contains-regex'),
        pytest.param(lambda c: c.replace('', '-') == 'x', id='replace-empty-pattern'),
        pytest.param(lambda c: c.startswith(c), id='pattern-not-a-literal'),
    ],
)
def test_string_functions_without_an_exact_twin_stay_in_python(sqlite_catalog, build):
    t = rv.create_table('inexact', {'s': rv.String})
    schema = sqlite_catalog.schema(t._id)
    assert plan_query(schema, [], build(t.s).node, (), str, str).py_where


def test_python_whitespace_is_what_strip_removes():
    spaces = ''.join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert spaces == WHITESPACE


def test_a_division_error_under_or_does_not_match_as_in_python(catalog):
    # Python: 1 / 0 raises, so the whole condition fails and the row does not match; SQL
    # would read NULL OR TRUE as TRUE. Such a conjunct stays in Python.
    t = rv.create_table('divor', {'i': rv.Int, 'j': rv.Int, 's': rv.String})
    t.insert([{'i': 1, 'j': 0, 's': 'x'}, {'i': 4, 'j': 2, 's': 'y'}], print_stats=False)
    assert t.where((t.i / t.j > 1) | (t.s == 'x')).select(t.s).collect()['s'] == ['y']
    assert t.where((t.i / t.j) == None).count() == 0  # noqa: E711
    # Under comparisons and `&`, NULL and the error both mean "no match": SQL computes it.
    schema = catalog.schema(t._id)
    plan = plan_query(schema, [], ((t.i / t.j > 1) & (t.s == 'y')).node, (), str, str)
    assert not plan.py_where
    assert t.where((t.i / t.j > 1) & (t.s == 'y')).count() == 1
