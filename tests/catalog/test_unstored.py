"""``add_computed_column(..., stored=False)``: computed when read, never stored (Pixeltable)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.functions import reve


def _sql_columns(catalog: Catalog, path: str) -> set[str]:
    inspector = sa.inspect(catalog.store.engine)
    return {c['name'] for c in inspector.get_columns(f'rvt_{catalog.table_id(path)}')}


def test_an_unstored_column_is_computed_when_read(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'a': rv.Int, 's': rv.String | None})
    t.insert([{'a': 1, 's': 'x'}, {'a': 2}], print_stats=False)
    before = _sql_columns(sqlite_catalog, 't')
    t.add_computed_column(b=t.a * 10, stored=False)
    t.add_computed_column(loud=t.s.upper(), stored=False)
    assert _sql_columns(sqlite_catalog, 't') == before  # nothing stored
    assert t.columns() == ['a', 's', 'b', 'loud']
    md = t.get_metadata()['columns']
    assert (md['a']['is_stored'], md['b']['is_stored']) == (True, False)
    assert (md['b']['type_'], md['loud']['type_']) == ('Int', 'String | None')
    assert t.order_by(t.a).collect().raw_rows() == [(1, 'x', 10, 'X'), (2, None, 20, None)]
    t.insert(a=3, print_stats=False)  # later rows are computed when read too
    assert t.where(t.b > 15).order_by(t.a).select(t.a, t.b).collect().raw_rows() == [
        (2, 20),
        (3, 30),
    ]
    t.add_computed_column(c=t.b + 1, print_stats=False)  # a stored column may read it
    assert t.order_by(t.a).select(t.c).collect()['c'] == [11, 21, 31]
    with pytest.raises(rv.InvalidValueError, match=r"'c', 'b' use it"):
        t.drop_column('a')
    with pytest.raises(rv.AlreadyExistsError, match="already has a column 'b'"):
        t.add_computed_column(b=t.a + 1)
    t.drop_column('b')
    assert t.columns() == ['a', 's', 'c', 'loud']
    t.revert()  # the drop of b
    assert t.columns() == ['a', 's', 'c', 'b', 'loud']
    assert t.order_by(t.a).select(t.b).collect()['b'] == [10, 20, 30]
    t.drop_column(t.loud)
    assert t.columns() == ['a', 's', 'c', 'b']


def test_an_unstored_column_of_a_paid_function_is_refused(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'prompt': rv.String})
    with pytest.raises(rv.InvalidValueError, match='paid for again on every read'):
        t.add_computed_column(scene=reve.create(t.prompt), stored=False)
    assert t.columns() == ['prompt']
    with pytest.raises(rv.InvalidValueError, match="stored is add_computed_column's own keyword"):
        t.add_computed_column(stored=t.prompt.upper())  # as in Pixeltable: not a column name
    assert t.columns() == ['prompt']
