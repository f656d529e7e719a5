"""Column definitions in the database: add, remove and rename a column (each a version).

The layers above check what the user asked for (``columns.py``); these functions only
change the catalog rows and the SQL tables, in one transaction each.
"""

from __future__ import annotations

import sqlalchemy as sa

from reverie import types as ts
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs import serialize
from reverie.store.db import (
    VERSION,
    ColumnSql,
    Store,
    columns_json,
    columns_table,
    history_table_name,
    tables_table,
)
from reverie.store.versions import archive_rows, begin_version


def add_column(
    store: Store,
    schema: TableSchema,
    name: str,
    col_type: ts.ColumnType,
    node: n.Node | None,
    *,
    stored: bool = True,
) -> int:
    """Add a stored (``node`` None) or computed column (a new version); returns the version.

    A computed column with ``stored=False`` is only a catalog row: no SQL column.
    """
    with store.begin() as conn:
        # The version first: on PostgreSQL its row lock orders this change against
        # inserts (which lock it too) before the ALTER TABLE can wait on them.
        bump_version(conn, schema.id)
        col_id = store.next_id(conn, columns_table)
        conn.execute(
            sa.insert(columns_table).values(
                id=col_id,
                table_id=schema.id,
                name=name,
                position=len(schema.columns) + len(schema.unstored),
                col_type=col_type.to_json(),
                computed=None
                if node is None
                else {'expr': serialize.to_json(node), **({} if stored else {'stored': False})},
            )
        )
        sql = ColumnSql(col_id, node is not None)
        for table in (schema.sa_table.name, history_table_name(schema.id)) if stored else ():
            store.add_sql_columns(conn, table, sql.sa_columns(col_type.sql_type()))
        return begin_version(
            conn, store, schema.id, 'add_column', columns=columns_json(conn, schema.id)
        )


def remove_column(store: Store, schema: TableSchema, col: ColumnSchema) -> None:
    """Drop a column (a new version).

    The rows as they were go to the history first, so time travel and ``revert()`` still
    see the column; then its SQL columns leave the data table.
    """
    with store.begin() as conn:
        bump_version(conn, schema.id)  # first, as in add_column
        conn.execute(sa.delete(columns_table).where(columns_table.c.id == col.id))
        version = begin_version(
            conn, store, schema.id, 'drop_column', columns=columns_json(conn, schema.id)
        )
        if col in schema.unstored:
            return  # no cells, no SQL column
        assert schema.history is not None
        archive_rows(conn, schema.sa_table, schema.history, None, version)
        conn.execute(sa.update(schema.sa_table).values({VERSION: version}))
        store.drop_index(conn, schema.sa_table.name, col.sql.value)
        sql_names = [c.name for c in col.sql.sa_columns(col.col_type.sql_type())]
        store.drop_sql_columns(conn, schema.sa_table.name, sql_names)


def rename_column(store: Store, schema: TableSchema, col: ColumnSchema, new: str) -> None:
    """Rename a column (a new version); expressions refer to columns by id and work on."""
    with store.begin() as conn:
        bump_version(conn, schema.id)
        conn.execute(sa.update(columns_table).where(columns_table.c.id == col.id).values(name=new))
        begin_version(
            conn, store, schema.id, 'rename_column', columns=columns_json(conn, schema.id)
        )


def bump_version(conn: sa.Connection, table_id: int) -> None:
    """Mark the table's schema as changed, so every handle reloads it."""
    conn.execute(
        sa.update(tables_table)
        .where(tables_table.c.id == table_id)
        .values(version=tables_table.c.version + 1)
    )
