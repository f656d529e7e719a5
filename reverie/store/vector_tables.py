"""The SQL tables of embedding indexes (no numpy here: the catalog creates them at start).

``rv_indexes`` holds each index's definition; ``rvi_<index id>`` its vectors, one row per
(data row id, the row version ``_v`` it was embedded for), the vector as float32 bytes (NULL
when the cell was null, pending or an error). See ``store/vectors.py`` for the search.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reverie.store.shared_columns import catalog_table

vector_metadata = sa.MetaData()

indexes_table = catalog_table(
    'rv_indexes',
    vector_metadata,
    sa.Column('table_id', sa.Integer, nullable=False, index=True),
    sa.Column('column_id', sa.Integer, nullable=False),
    sa.Column('name', sa.Text, nullable=False),
    sa.Column('metric', sa.String(16), nullable=False),
    sa.Column('embed', sa.JSON, nullable=False),  # {'string': call JSON, 'image': call JSON}
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


def drop_indexes_of(conn: Connection, table_id: int, home: Path) -> None:
    """Drop a dropped table's index rows, their vector tables and this host's ANN files."""
    drop_ann_files(conn, home, table_id)
    for index_id in index_ids(conn, table_id):
        build_vectors_table(index_id).drop(conn, checkfirst=True)
    conn.execute(sa.delete(indexes_table).where(indexes_table.c.table_id == table_id))


def index_ids(conn: Connection, table_id: int, column_id: int | None = None) -> list[int]:
    """The ids of a table's indexes (``column_id``: those on this column)."""
    q = sa.select(indexes_table.c.id).where(indexes_table.c.table_id == table_id)
    if column_id is not None:
        q = q.where(indexes_table.c.column_id == column_id)
    return [int(i) for i in conn.execute(q).scalars()]


# -- ANN files: a per-host cache of the blobs (see store/vectors.py) --------------------------

ANN_SUFFIXES = ('.usearch', '.usearch.keys.npz')
_ANN_FILE = re.compile(r'^(\d+)\.usearch')


def ann_folder(home: Path, url: sa.URL) -> Path:
    """Where this host keeps the ANN files of one database (named by its URL's hash)."""
    db = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(home) / 'vectors' / db


def ann_files(folder: Path, index_id: int) -> list[Path]:
    """An index's ANN files: the usearch graph and its row ids with the search settings."""
    return [folder / f'{int(index_id)}{suffix}' for suffix in ANN_SUFFIXES]


def remove_ann_files(folder: Path, ids: list[int]) -> None:
    """Delete the ANN files of these indexes (a cache: rebuilt from the blobs if needed)."""
    for index_id in ids:
        for path in ann_files(folder, index_id):
            path.unlink(missing_ok=True)


def drop_ann_files(
    conn: Connection, home: Path, table_id: int, column_id: int | None = None
) -> None:
    """Delete this host's ANN files of a table's indexes (``column_id``: on that column).

    A dropped column's index stays defined (a revert brings it back) but is not searched;
    its ANN file is rebuilt from the blobs if it is searched again.
    """
    remove_ann_files(ann_folder(home, conn.engine.url), index_ids(conn, table_id, column_id))


def sweep_ann_files(conn: Connection, folder: Path) -> list[Path]:
    """Delete the ANN files of indexes that no longer exist, and those of an older layout.

    Another host's drop removes only its own files: this finds the rest.
    """
    if not folder.is_dir():
        return []
    files = list(folder.iterdir())  # before the ids: a file's index row was written first
    live = set(conn.execute(sa.select(indexes_table.c.id)).scalars())
    gone = []
    for path in files:
        found = _ANN_FILE.match(path.name)
        if found is None:
            continue
        suffix = path.name[len(found.group(1)) :]
        if int(found.group(1)) not in live or suffix not in ANN_SUFFIXES:
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone
