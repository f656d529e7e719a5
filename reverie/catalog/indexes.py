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
    _change(catalog, schema, column, drop=False, strict=if_exists == 'error')


def drop_index(
    catalog: Catalog, schema: TableSchema, column: str | Expr, if_not_exists: str
) -> None:
    """Drop the index of ``column``; none there is an error unless ``if_not_exists='ignore'``."""
    _change(catalog, schema, column, drop=True, strict=if_not_exists == 'error')


def _change(
    catalog: Catalog, schema: TableSchema, column: str | Expr, *, drop: bool, strict: bool
) -> None:
    """Create (or drop) the index of ``column`` and say so; ``strict``: no change is an error."""
    col = _index_column(schema, column)
    store = catalog.store
    change = store.drop_index if drop else store.create_index
    with store.begin() as conn:
        changed = change(conn, schema.sa_table.name, col.sql.value)
    if changed:
        verb = 'Dropped' if drop else 'Added'
        print(f'{verb} index on column {col.name!r} of table {name_of(schema.path)!r}.')
    elif strict and drop:
        raise NotFoundError(
            f'Column {col.name!r} of table {schema.path!r} has no index; see t.add_index().'
        )
    elif strict:
        raise AlreadyExistsError(
            f'Column {col.name!r} of table {schema.path!r} already has an index; pass '
            "if_exists='ignore' to accept that."
        )


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
