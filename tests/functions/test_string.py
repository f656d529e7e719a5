"""String functions equal Python's own ``str`` methods on the same input.

Through a table on SQLite and PostgreSQL; hypothesis draws the strings.
"""

from __future__ import annotations

import itertools
import re
import textwrap
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv
from reverie.functions import string as rvs

_names = itertools.count()

# (method call on the column, Python's answer for one string)
CASES = {
    'capitalize': (lambda c: c.capitalize(), str.capitalize),
    'casefold': (lambda c: c.casefold(), str.casefold),
    'lower': (lambda c: c.lower(), str.lower),
    'upper': (lambda c: c.upper(), str.upper),
    'swapcase': (lambda c: c.swapcase(), str.swapcase),
    'title': (lambda c: c.title(), str.title),
    'isalnum': (lambda c: c.isalnum(), str.isalnum),
    'isalpha': (lambda c: c.isalpha(), str.isalpha),
    'isascii': (lambda c: c.isascii(), str.isascii),
    'isdecimal': (lambda c: c.isdecimal(), str.isdecimal),
    'isdigit': (lambda c: c.isdigit(), str.isdigit),
    'isidentifier': (lambda c: c.isidentifier(), str.isidentifier),
    'islower': (lambda c: c.islower(), str.islower),
    'isnumeric': (lambda c: c.isnumeric(), str.isnumeric),
    'isspace': (lambda c: c.isspace(), str.isspace),
    'istitle': (lambda c: c.istitle(), str.istitle),
    'isupper': (lambda c: c.isupper(), str.isupper),
    'len': (lambda c: c.len(), len),
    'center': (lambda c: c.center(7, '*'), lambda s: s.center(7, '*')),
    'ljust': (lambda c: c.ljust(6, '-'), lambda s: s.ljust(6, '-')),
    'rjust': (lambda c: c.rjust(6), lambda s: s.rjust(6)),
    'pad_both': (lambda c: c.pad(6, side='both', fillchar='#'), lambda s: s.center(6, '#')),
    'pad_right': (lambda c: c.pad(6, side='right'), lambda s: s.rjust(6)),
    'zfill': (lambda c: c.zfill(5), lambda s: s.zfill(5)),
    'strip': (lambda c: c.strip(), str.strip),
    'strip_chars': (lambda c: c.strip(' ab'), lambda s: s.strip(' ab')),
    'lstrip': (lambda c: c.lstrip('a'), lambda s: s.lstrip('a')),
    'rstrip': (lambda c: c.rstrip(), str.rstrip),
    'removeprefix': (lambda c: c.removeprefix('a'), lambda s: s.removeprefix('a')),
    'removesuffix': (lambda c: c.removesuffix('b'), lambda s: s.removesuffix('b')),
    'slice': (lambda c: c.slice(1, step=2), lambda s: s[1::2]),
    'slice_neg': (lambda c: c.slice(-3), lambda s: s[-3:]),
    'slice_replace': (lambda c: c.slice_replace(1, 3, 'X'), lambda s: s[:1] + 'X' + s[3:]),
    'repeat': (lambda c: c.repeat(3), lambda s: s * 3),
    'reverse': (lambda c: c.reverse(), lambda s: s[::-1]),
    'contains': (lambda c: c.contains('a'), lambda s: 'a' in s),
    'contains_nocase': (lambda c: c.contains('A', case=False), lambda s: 'a' in s.casefold()),
    'contains_re': (lambda c: c.contains('a.', regex=True), lambda s: bool(re.search('a.', s))),
    'count': (lambda c: c.count('a'), lambda s: s.count('a')),
    'startswith': (lambda c: c.startswith('a'), lambda s: s.startswith('a')),
    'endswith': (lambda c: c.endswith('b'), lambda s: s.endswith('b')),
    'find': (lambda c: c.find('a'), lambda s: s.find('a')),
    'find_from': (lambda c: c.find('a', 1), lambda s: s.find('a', 1)),
    'rfind': (lambda c: c.rfind('a'), lambda s: s.rfind('a')),
    'findall': (lambda c: c.findall('[ab]'), lambda s: re.findall('[ab]', s)),
    'match': (lambda c: c.match('a'), lambda s: s.startswith('a')),
    'fullmatch': (
        lambda c: c.fullmatch('a.*', case=False),
        lambda s: re.fullmatch('a.*', s, re.IGNORECASE) is not None,
    ),
    'replace': (lambda c: c.replace('a', 'X'), lambda s: s.replace('a', 'X')),
    'replace_n': (lambda c: c.replace('a', 'X', 1), lambda s: s.replace('a', 'X', 1)),
    'replace_re': (
        lambda c: c.replace('[ab]+', '_', regex=True),
        lambda s: re.sub('[ab]+', '_', s),
    ),
    'split': (lambda c: c.split(), str.split),
    'split_sep': (lambda c: c.split('a', 1), lambda s: s.split('a', 1)),
    'partition': (lambda c: c.partition('a'), lambda s: list(s.partition('a'))),
    'rpartition': (lambda c: c.rpartition('a'), lambda s: list(s.rpartition('a'))),
    'normalize': (lambda c: c.normalize('NFKD'), lambda s: unicodedata.normalize('NFKD', s)),
    'wrap': (lambda c: c.wrap(5), lambda s: textwrap.wrap(s, 5)),
    'fill': (lambda c: c.fill(5), lambda s: textwrap.fill(s, 5)),
}

_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from('aAbB _-.1²Ⅷ ǅßİ\t'),
        st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00'),
    ),
    max_size=12,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.lists(_TEXT, min_size=1, max_size=5))
def test_string_functions_equal_python(catalog, values):
    t = rv.create_table(f's{next(_names)}', {'s': rv.String | None})
    t.insert([{'s': v} for v in values] + [{'s': None}], print_stats=False)
    rs = t.select(t.s, **{name: build(t.s) for name, (build, _) in CASES.items()}).collect()
    for row in rs:
        s = row['s']
        for name, (_, python) in CASES.items():
            expected = None if s is None else python(s)
            assert row[name] == expected, (name, s)


def test_string_functions_in_computed_columns_survive_reload(catalog):
    t = rv.create_table('t', {'s': rv.String, 'n': rv.Int})
    t.insert(s='Hello World', n=3)
    t.add_computed_column(sl=t.s.slice(1, step=2))
    t.add_computed_column(parts=t.s.split(' '))
    t.add_computed_column(z=t.s.zfill(14))
    again = rv.init({'db_url': catalog.config.db_url, 'media_dir': str(catalog.media.root)})
    try:
        t2 = rv.get_table('t')
        t2.insert(s='abc', n=1)
        rs = t2.select(t2.sl, t2.parts, t2.z).collect()
        assert rs['sl'] == ['el ol', 'b']
        assert rs['parts'] == [['Hello', 'World'], ['abc']]
        assert rs['z'] == ['000Hello World', '00000000000abc']
    finally:
        again.close()


def test_format_join_and_errors(catalog):
    t = rv.create_table('t', {'tpl': rv.String, 'n': rv.Int, 'words': rv.Json | None})
    t.insert(tpl='{} has {} legs', n=4, words=['a', 'b'])
    t.insert(tpl='missing {}', n=2, words=None)
    rs = t.select(
        f=t.tpl.format('cat', t.n), j=rvs.join('-', t.words), via_module=rvs.upper(t.tpl)
    ).collect()
    assert rs['f'] == ['cat has 4 legs', 'missing cat']
    assert rs['j'] == ['a-b', None]
    assert rs['via_module'] == ['{} HAS {} LEGS', 'MISSING {}']
    t.add_computed_column(i=t.tpl.index('legs'), on_error='ignore')
    rs = t.select(t.i, t.i.errortype).collect()
    assert rs['i'] == [10, None] and rs['i_errortype'] == [None, 'ValueError']
    with pytest.raises(rv.TypeMismatchError, match="Argument 'width' of center"):
        t.tpl.center('wide')
    with pytest.raises(AttributeError, match='has no attribute'):
        _ = t.tpl.no_such_method


def test_every_pixeltable_string_function_is_a_method(catalog):
    t = rv.create_table('t', {'s': rv.String})
    names = [
        'capitalize', 'casefold', 'center', 'contains', 'count', 'endswith', 'fill', 'find',
        'findall', 'format', 'fullmatch', 'index', 'isalnum', 'isalpha', 'isascii',
        'isdecimal', 'isdigit', 'isidentifier', 'islower', 'isnumeric', 'isspace', 'istitle',
        'isupper', 'join', 'len', 'ljust', 'lower', 'lstrip', 'match', 'normalize', 'pad',
        'partition', 'removeprefix', 'removesuffix', 'repeat', 'replace', 'reverse', 'rfind',
        'rindex', 'rjust', 'rpartition', 'rstrip', 'slice', 'slice_replace', 'split',
        'startswith', 'strip', 'swapcase', 'title', 'upper', 'wrap', 'zfill',
    ]  # fmt: skip
    for name in names:
        assert callable(getattr(t.s, name)), name
