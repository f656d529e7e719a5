"""Type behaviours ported from Pixeltable 0.7's own tests (issue 22)."""

from __future__ import annotations

import datetime
from typing import NotRequired, TypedDict

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.types import ColumnType


def test_python_types_as_column_types(sqlite_catalog: Catalog) -> None:
    t = rv.create_table(
        't', {'a': int, 'b': str, 'c': float, 'd': bool, 'e': datetime.datetime | None, 'f': dict}
    )
    t.insert([{'a': 1, 'b': 'x', 'c': 1.5, 'd': True, 'f': {'k': 1}}], print_stats=False)
    assert t.select(t.a, t.b).collect()[0] == {'a': 1, 'b': 'x'}


def test_an_int_array_refuses_floats(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('arr', {'a': rv.Array[rv.Int, (2,)]})
    with pytest.raises(rv.InvalidValueError, match='ints in an Int array'):
        t.insert([{'a': [1.5, 2.0]}], print_stats=False)
    t.insert([{'a': [1, 2]}], print_stats=False)
    f = rv.create_table('farr', {'a': rv.Array[(2,), rv.Float]})
    f.insert([{'a': [1, 2.5]}], print_stats=False)
    assert t.count() == 1 and f.count() == 1


def test_a_required_column_can_be_added_to_an_empty_table(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'a': rv.Int})
    t.add_column(b=rv.Required[rv.Int])
    with pytest.raises(rv.InvalidValueError):
        t.insert([{'a': 1}], print_stats=False)
    t.insert([{'a': 1, 'b': 2}], print_stats=False)
    with pytest.raises(
        rv.InvalidValueError,
        match=r"Cannot add non-nullable column 'c'.*with existing rows.*rv.Int \| None",
    ):
        t.add_column(c=rv.Required[rv.Int])


class _Box(TypedDict):
    label: str
    score: float
    tags: NotRequired[list[str]]


def test_json_schemas_and_typed_dicts(sqlite_catalog: Catalog) -> None:
    ints = rv.Json[{'type': 'array', 'items': {'type': 'integer'}}]
    t = rv.create_table('t', {'b': rv.Json[_Box], 'c': ints})
    assert ColumnType.from_json(t.b.col_type.to_json()) == t.b.col_type
    t.insert([{'b': {'label': 'x', 'score': 0.5, 'tags': ['a']}, 'c': [1, 2]}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match="1 is not of type 'string' at label"):
        t.insert([{'b': {'label': 1, 'score': 0.5}}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match="'label' is a required property"):
        t.insert([{'b': {'score': 1.0}}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match='JSON schema'):
        t.insert([{'c': ['a']}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match='not a valid JSON schema'):
        rv.Json[{'type': 'no-such-type'}]
    assert t.count() == 1
