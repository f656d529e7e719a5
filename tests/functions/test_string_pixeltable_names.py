"""Issue 22: Pixeltable's spellings of string functions: ``string.len``, ``string.format``
(keyword arguments too, in computed columns), ``contains_re``, ``replace_re``."""

from __future__ import annotations

import re

import reverie as rv
from reverie.functions import string as rvs


def test_pixeltable_string_spellings(catalog):
    t = rv.create_table('s', {'s': rv.String, 'x': rv.String, 'tpl': rv.String})
    t.insert(
        [{'s': 'ab12cd3', 'x': 'X', 'tpl': '{}/{y}'}, {'s': 'plain', 'x': 'Y', 'tpl': '{y}'}],
        print_stats=False,
    )
    rows = t.select(
        n=rvs.len(t.s),
        f=rvs.format('{0}-{tag}', t.s, tag=t.x),
        m=t.tpl.format(1, y=t.x),
        has=t.s.contains_re(r'\d+'),
        folded=t.s.contains_re('PLAIN', flags=re.IGNORECASE),
        sub=t.s.replace_re(r'\d', '#'),
        first=rvs.replace_re(t.s, r'\d', '#', count=1),
    ).collect()
    assert rows['n'] == [7, 5]
    assert rows['f'] == ['ab12cd3-X', 'plain-Y'] and rows['m'] == ['1/X', 'Y']
    assert rows['has'] == [True, False] and rows['folded'] == [False, True]
    assert rows['sub'] == ['ab##cd#', 'plain'] and rows['first'] == ['ab#2cd3', 'plain']


def test_a_computed_column_formats_with_keywords(catalog):
    t = rv.create_table('f', {'s': rv.String})
    t.add_computed_column(out=t.s.format(who=t.s, n=2), print_stats=False)
    t.insert(s='{who}:{n}', print_stats=False)
    assert rv.get_table('f').collect()['out'] == ['{who}:{n}:2']
