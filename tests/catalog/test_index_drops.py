"""Dropping an indexed column or table: no orphan index rows or vector tables are left."""

from __future__ import annotations

import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from tests.catalog.test_embedding_index import _table, _top


def _index_state(catalog: Catalog) -> tuple[list[int], list[str]]:
    """The ids in ``rv_indexes`` and the ``rvi_*`` tables in the database."""
    with catalog.store.engine.connect() as conn:
        ids = list(conn.execute(sa.text('SELECT id FROM rv_indexes')).scalars())
    tables = sa.inspect(catalog.store.engine).get_table_names()
    return ids, sorted(name for name in tables if name.startswith('rvi_'))


def test_drop_table_drops_its_indexes(catalog: Catalog) -> None:
    _table('kept')
    _table('gone')
    t = rv.get_table('gone')
    t.add_embedding_index('w', idx_name='second', embedding=_letters())
    ids, tables = _index_state(catalog)
    assert len(ids) == 3 and len(tables) == 3
    rv.drop_table('gone')
    ids, tables = _index_state(catalog)
    assert len(ids) == 1 and tables == [f'rvi_{ids[0]}']
    assert _top(rv.get_table('kept'), 'fig', 1)[0][0] == 5


def test_drop_view_with_force_drops_the_views_index(catalog: Catalog) -> None:
    t = _table()
    v = rv.create_view('short', t.where(t.k < 5))
    v.add_embedding_index('w', embedding=_letters())
    assert len(_index_state(catalog)[1]) == 2
    rv.drop_table('words', force=True)
    assert _index_state(catalog) == ([], [])


def test_drop_column_hides_the_index_and_revert_brings_it_back(catalog: Catalog) -> None:
    t = _table()
    t.add_column(extra=rv.Int | None)
    t.drop_column('w')
    assert not hasattr(t, 'w')
    assert len(_index_state(catalog)[0]) == 1  # kept while a revert can bring 'w' back
    t.revert()
    assert _top(t, 'fig', 1)[0][0] == 5
    t.insert(k=40, w='figfig', print_stats=False)
    assert _top(t, 'fig', 2)[0][0] in (5, 40)


def _letters() -> rv.Function:
    from tests.catalog.test_embedding_index import letters

    return letters
