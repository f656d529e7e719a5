"""Nullability as in Pixeltable 0.7: a bare type is required, ``T | None`` takes None."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog


def _types(t: rv.Table) -> dict[str, str]:
    return {name: c['type_'] for name, c in t.get_metadata()['columns'].items()}


def test_bare_types_are_required_and_or_none_is_nullable(sqlite_catalog: Catalog) -> None:
    t = rv.create_table(
        't',
        {
            'a': rv.String,
            'b': rv.String | None,
            'c': rv.Required[rv.Int],
            'd': rv.Image | None,
            'e': None | rv.Json,
            'f': int | None,
        },
    )
    assert _types(t) == {
        'a': 'String',
        'b': 'String | None',
        'c': 'Int',
        'd': 'Image | None',
        'e': 'Json | None',
        'f': 'Int | None',
    }
    t.insert([{'a': 'x', 'c': 1}, {'a': 'y', 'b': None, 'c': 2, 'd': None, 'f': None}])
    with pytest.raises(
        rv.InvalidValueError,
        match=r"Column 'a' \(table 't', row 0\) cannot be None: it is String, which is "
        r'required .*declare it rv.String \| None to allow None',
    ):
        t.insert([{'a': None, 'c': 3}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match=r"Column 'c' .* is missing.*rv.Int \| None"):
        t.insert([{'a': 'z'}], print_stats=False)
    with pytest.raises(rv.InvalidValueError, match=r"Column 'a' cannot be None.*rv.String \| None"):
        t.update({'a': None})
    t.update({'b': None})
    assert sorted(t.select(t.a, t.b).collect().raw_rows()) == [('x', None), ('y', None)]


def test_a_type_joins_only_with_none() -> None:
    assert (rv.String | None).nullable and not rv.String.nullable
    assert rv.Required[rv.String | None] == rv.String
    assert str(rv.Image[(8, 8), 'RGB'] | None) == "Image[(8, 8), 'RGB'] | None"
    with pytest.raises(rv.InvalidValueError, match='can only be joined with None'):
        _ = rv.String | rv.Int


def test_a_computed_column_is_nullable_where_its_inputs_are(sqlite_catalog: Catalog) -> None:
    t = rv.create_table(
        't', {'c1': rv.Int | None, 'c1_r': rv.Int, 'c2': rv.String | None, 'c2_r': rv.String}
    )
    t.add_computed_column(arith=t.c1 + 1, print_stats=False)
    t.add_computed_column(arith_r=t.c1_r + 1, print_stats=False)
    t.add_computed_column(func=t.c2.upper(), print_stats=False)
    t.add_computed_column(func_r=t.c2_r.upper(), print_stats=False)
    assert _types(t) == {
        'c1': 'Int | None',
        'c1_r': 'Int',
        'c2': 'String | None',
        'c2_r': 'String',
        'arith': 'Int | None',
        'arith_r': 'Int',
        'func': 'String | None',
        'func_r': 'String',
    }


def test_astype_to_a_required_type_is_required(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('t', {'c2': rv.Int, 'c2n': rv.Int | None})
    t.insert([{'c2': i, 'c2n': i if i % 2 == 0 else None} for i in range(4)], print_stats=False)
    t.add_computed_column(as_float=t.c2.astype(rv.Float | None), print_stats=False)
    t.add_computed_column(n_as_float=t.c2n.astype(rv.Float | None), print_stats=False)
    status = t.add_computed_column(
        n_as_req=t.c2n.astype(rv.Float), on_error='ignore', print_stats=False
    )
    assert _types(t)['as_float'] == 'Float'
    assert _types(t)['n_as_float'] == 'Float | None'
    assert _types(t)['n_as_req'] == 'Float'
    assert status.num_excs == 2
    errors = t.select(t.n_as_req.errormsg).collect().raw_rows()
    assert sum(e is not None and 'is None' in e for (e,) in errors) == 2


def test_a_catalog_written_when_columns_were_nullable_keeps_them(
    tmp_path: Path, media_settings: dict[str, str]
) -> None:
    """Before this change ``rv.String`` stored ``nullable: true``; such columns stay nullable."""
    config = {'db_url': f'sqlite:///{tmp_path / "reverie.db"}', **media_settings}
    cat = rv.init(config)
    try:
        t = rv.create_table('old', {'s': rv.String, 'k': rv.Int})
        t.insert([{'s': 'a', 'k': 1}], print_stats=False)
        t.add_computed_column(k1=t.k + 1, print_stats=False)
        with cat.store.begin() as conn:  # rewrite the types as the old release stored them
            conn.execute(
                sa.text("UPDATE rv_columns SET col_type = :s WHERE name = 's'"),
                {'s': '{"type": "String", "nullable": true}'},
            )
            conn.execute(
                sa.text("UPDATE rv_columns SET col_type = :k WHERE name = 'k'"),
                {'k': '{"type": "Int"}'},  # no flag at all: written when every column was nullable
            )
    finally:
        cat.close()
    cat = rv.init(config)
    try:
        t = rv.get_table('old')
        assert _types(t) == {'s': 'String | None', 'k': 'Int | None', 'k1': 'Int'}
        t.insert([{'s': None, 'k': None}], print_stats=False)
        assert sorted(t.select(t.s, t.k).collect().raw_rows(), key=str) == [
            ('a', 1),
            (None, None),
        ]
    finally:
        cat.close()
