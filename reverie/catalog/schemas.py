"""A table's schema built from its catalog rows: columns, expressions, SQL tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.errors import NotFoundError
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs import serialize
from reverie.store.db import derived_table, is_unstored, row_tables


def derived_row(conn: sa.Connection, table_id: int) -> Any:
    """The table's row of ``derived_table`` (None for a plain table)."""
    return conn.execute(
        sa.select(derived_table).where(derived_table.c.table_id == table_id)
    ).one_or_none()


def build_schema(
    table_id: int,
    path: str,
    version: int,
    cols: Sequence[dict[str, Any]],
    derived: Any = None,
) -> TableSchema:
    """The schema of a table from its column rows (``cols``) and ``derived`` row."""
    columns: list[ColumnSchema] = []
    unstored: list[ColumnSchema] = []
    by_id: dict[int, ColumnSchema] = {}

    def lookup(column_id: int) -> n.ColumnRef:
        if column_id not in by_id:
            raise NotFoundError(f'column #{column_id} of table {path!r} is gone')
        return by_id[column_id].ref(table_id)

    for r in cols:
        col_type = ts.ColumnType.from_json(r['col_type'])
        computed = r['computed']
        expr, load_error = None, None
        if computed is not None and 'expr' in computed:
            try:
                expr = serialize.from_json(computed['expr'], lookup)
            except NotFoundError as e:
                load_error = f'column {r["name"]!r} cannot be computed: {e}'
        col = ColumnSchema(
            r['id'],
            r['name'],
            col_type,
            expr,
            load_error,
            is_computed=computed is not None,
            mirror_of=r.get('mirror_of'),
        )
        if is_unstored(r):
            unstored.append(col)  # its expression reads stored columns only
            continue
        columns.append(col)
        by_id[col.id] = col
    data, history = row_tables(table_id, [(c.sql, c.col_type.sql_type()) for c in columns])
    return TableSchema(
        table_id,
        path,
        version,
        tuple(columns),
        data,
        history=history,
        kind='table' if derived is None else str(derived.kind),
        base_id=None if derived is None else int(derived.base_id),
        unstored=tuple(unstored),
    )
