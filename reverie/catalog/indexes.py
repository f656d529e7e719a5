"""Indexes on stored scalar columns: ``t.add_index(t.n)`` and ``t.drop_index(t.n)``."""

from __future__ import annotations

from reverie.catalog.catalog import Catalog
from reverie.catalog.paths import name_of
from reverie.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr


def add_index(catalog: Catalog, schema: TableSchema, column: str | Expr, if_exists: str) -> None:
    """Index ``column``; an index already there is an error unless ``if_exists='ignore'``."""
    col = _index_column(schema, column)
    store = catalog.store
    with store.begin() as conn:
        created = store.create_index(conn, schema.sa_table.name, col.sql.value)
    if not created and if_exists == 'error':
        raise AlreadyExistsError(
            f'Column {col.name!r} of table {schema.path!r} already has an index; pass '
            "if_exists='ignore' to accept that."
        )
    if created:
        print(f'Added index on column {col.name!r} of table {name_of(schema.path)!r}.')


def drop_index(
    catalog: Catalog, schema: TableSchema, column: str | Expr, if_not_exists: str
) -> None:
    """Drop the index of ``column``; none there is an error unless ``if_not_exists='ignore'``."""
    col = _index_column(schema, column)
    store = catalog.store
    with store.begin() as conn:
        dropped = store.drop_index(conn, schema.sa_table.name, col.sql.value)
    if not dropped and if_not_exists == 'error':
        raise NotFoundError(
            f'Column {col.name!r} of table {schema.path!r} has no index; see t.add_index().'
        )
    if dropped:
        print(f'Dropped index on column {col.name!r} of table {name_of(schema.path)!r}.')


def _index_column(schema: TableSchema, column: str | Expr) -> ColumnSchema:
    if isinstance(column, Expr):
        if not isinstance(column.node, n.ColumnRef) or column.node.table_id != schema.id:
            raise InvalidValueError(
                f'add_index() takes a column of this table, e.g. t.n, got {column!r}.'
            )
        column = column.node.name
    col = schema.require(column)
    if not col.col_type.indexable:
        raise InvalidValueError(
            f'Column {col.name!r} is {col.col_type}; only String, Int, Float, Bool, '
            'Timestamp and Date columns can be indexed.'
        )
    return col
