"""The SQL tables of embedding indexes (no numpy here: the catalog creates them at start).

``rv_indexes`` holds each index's definition; ``rvi_<index id>`` its vectors, one row per
(data row id, the row version ``_v`` it was embedded for), the vector as float32 bytes (NULL
when the cell was null, pending or an error). See ``store/vectors.py`` for the search.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reverie.store.shared_columns import created_at_column, id_column

vector_metadata = sa.MetaData()

indexes_table = sa.Table(
    'rv_indexes',
    vector_metadata,
    id_column(),
    sa.Column('table_id', sa.Integer, nullable=False, index=True),
    sa.Column('column_id', sa.Integer, nullable=False),
    sa.Column('name', sa.Text, nullable=False),
    sa.Column('metric', sa.String(16), nullable=False),
    sa.Column('embed', sa.JSON, nullable=False),  # {'string': call JSON, 'image': call JSON}
    created_at_column(),
    sa.UniqueConstraint('table_id', 'name'),
    # Ids are never handed out twice: another process may still hold a dropped index's
    # vectors in memory, and its ANN file under that id.
    sqlite_autoincrement=True,
)


def vectors_table_name(index_id: int) -> str:
    """The SQL table holding an index's vectors (names are ours, never user input)."""
    return f'rvi_{int(index_id)}'


def build_vectors_table(index_id: int) -> sa.Table:
    """The SQL table of an index's vectors: (row id, row version) -> float32 blob."""
    return sa.Table(
        vectors_table_name(index_id),
        sa.MetaData(),
        sa.Column('row_id', sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column('v', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('src', sa.String(64)),  # fingerprint of the value embedded
        sa.Column('vec', sa.LargeBinary),
    )


def has_indexes(conn: Connection, table_id: int) -> bool:
    """Whether the table has an embedding index (one indexed lookup)."""
    found = conn.execute(
        sa.select(indexes_table.c.id).where(indexes_table.c.table_id == table_id).limit(1)
    ).first()
    return found is not None


def drop_indexes_of(conn: Connection, table_id: int) -> None:
    """Drop a dropped table's index rows and their vector tables (its ANN files stay)."""
    ids = conn.execute(
        sa.select(indexes_table.c.id).where(indexes_table.c.table_id == table_id)
    ).scalars()
    for index_id in list(ids):
        build_vectors_table(index_id).drop(conn, checkfirst=True)
    conn.execute(sa.delete(indexes_table).where(indexes_table.c.table_id == table_id))
