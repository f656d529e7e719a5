"""What each column type says about itself holds for its values (the engine trusts it)."""

from __future__ import annotations

import datetime

import PIL.Image
import pytest

import reverie as rv
from reverie import types as ts

_SAMPLES = {
    'String': 'héllo',
    'Int': -(2**62),
    'Float': 2.5,
    'Bool': True,
    'Timestamp': datetime.datetime(2026, 1, 31, 12, tzinfo=datetime.UTC),
    'Date': datetime.date(2026, 1, 31),
    'Json': {'a': [1, 2.5, None]},
    'Array': [[1.0, 2.0]],
}
_TYPES = [pytest.param(cls(), id=cls.name) for cls in ts.column_type_classes()]


@pytest.mark.parametrize('col_type', _TYPES)
def test_a_type_that_says_the_database_holds_python_values_converts_nothing(col_type):
    if col_type.is_media:
        assert not col_type.db_is_python and not col_type.scalar
        return
    value = col_type.validate(_SAMPLES[col_type.name])
    stored = col_type.to_db(value)
    if col_type.db_is_python:
        assert stored == value and col_type.from_db(stored) is stored
    if col_type.python_type is not None:
        assert type(value) is col_type.python_type and stored is value
        assert col_type.driver_native and col_type.sql_exact and col_type.scalar


@pytest.mark.parametrize('col_type', _TYPES)
def test_scalar_types_are_indexable_and_comparable_in_expressions(col_type):
    assert col_type.indexable == col_type.scalar
    assert col_type.numeric == (col_type.python_type in (int, float))
    assert col_type.subscriptable == (col_type.name in ('Json', 'Array'))


def test_cast_is_the_types_own():
    assert rv.String.cast({'a': 1}) == '{"a": 1}'
    assert rv.Int.cast('7') == 7
    assert rv.Json.cast('[1]') == [1]
    with pytest.raises(TypeError, match='nothing converts to Image'):
        rv.Image.cast(PIL.Image.new('RGB', (1, 1)))
