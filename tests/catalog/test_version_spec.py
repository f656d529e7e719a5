"""Version specs (``'t:3'``) take ASCII digits only."""

from __future__ import annotations

import pytest

import reverie as rv


@pytest.mark.parametrize(
    'spec',
    [
        pytest.param('t:\u0663', id='arabic-indic-3'),
        pytest.param('t:\u0033\u0663', id='mixed'),
        pytest.param('t:\u00b3', id='superscript-3'),
        pytest.param('t:\uff13', id='fullwidth-3'),
        pytest.param('t:', id='empty'),
        pytest.param('t:+3', id='sign'),
    ],
)
def test_a_version_spec_with_other_than_ascii_digits_is_refused(sqlite_catalog, spec):
    t = rv.create_table('t', {'x': rv.Int})
    t.insert([{'x': 1}], print_stats=False)
    t.insert([{'x': 2}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match='ASCII digits 0-9'):
        rv.get_table(spec)
