"""Keeping views in line after their base changed: sync the rows, compute the views' cells.

A write to a table (insert, update, delete, recompute, revert) ends with ``propagate``:
each view takes the rows the write changed (``views.sync_rows``), computes its own cells
for them within what is left of the operation's budget, and passes the changes on to its
own views. A view whose paid calls stop on the budget keeps its rows in line (only cells
stay pending); the first such stop is raised once every view is synced.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from reverie.catalog.catalog import Catalog
from reverie.catalog.runs import Operation, compute
from reverie.catalog.views import derivation, sync_rows
from reverie.errors import RunStoppedError
from reverie.exec.schema import TableSchema
from reverie.exprs import nodes as n
from reverie.store.db import derived_table
from reverie.store.vector_tables import has_indexes
from reverie.store.versions import version_rows


def propagate(
    catalog: Catalog,
    schema: TableSchema,
    op: Operation,
    version: int | None,
    rows: list[int] | None = None,
) -> None:
    """Bring the views of ``schema``'s table in line with the rows ``version`` wrote.

    ``schema``: the one the write used (its ``views`` are current); ``version`` None: every
    row; ``rows``: the rows ``version`` wrote, when known (else they are looked up).
    """
    indexed = _has_indexes(catalog, schema.id)
    if not schema.views and not indexed:
        return
    if (rows is None or (indexed and not rows)) and version is not None:
        assert schema.history is not None
        with catalog.store.read() as conn:
            rows = version_rows(conn, schema.sa_table, schema.history, version)
    sync_indexes(catalog, schema.id, rows)
    views = list(schema.views)
    if not views:
        return
    stopped = _sync_views(catalog, views, rows, op)
    if stopped is not None:
        raise stopped


def _sync_views(
    catalog: Catalog, views: list[int], rows: list[int] | None, op: Operation
) -> RunStoppedError | None:
    """Sync each view's rows (``rows``, or all), compute its cells, pass the changes on.

    Returns the first stop of a view's paid calls (its rows are synced all the same).
    """
    stopped: RunStoppedError | None = None
    for view_id in views:
        view = catalog.schema(view_id)
        touched = sync_rows(catalog, view, rows)
        if not touched and rows is not None:
            continue
        if view.computed():  # the rows the sync touched (all, after a full sync)
            try:
                compute(
                    catalog,
                    view,
                    op,
                    rowids=touched if rows is not None else None,
                    on_error='ignore',
                    desc=f'Computing view {view.name}',
                    use_cache=True,  # only cells whose inputs changed are computed
                )
            except RunStoppedError as e:
                stopped = stopped or e
        sync_indexes(catalog, view_id, touched if rows is not None else None)
        children = list(catalog.schema(view_id).views)
        if children:
            below = _sync_views(catalog, children, touched if rows is not None else None, op)
            stopped = stopped or below
    return stopped


def views_using(catalog: Catalog, table_id: int, column_id: int) -> list[str]:
    """Paths of the views and snapshots whose columns or filter use a column of the table."""
    with catalog.store.read() as conn:
        ids = (
            conn.execute(
                sa.select(derived_table.c.table_id).where(derived_table.c.base_id == table_id)
            )
            .scalars()
            .all()
        )
    found = []
    for view_id in ids:
        view = catalog.schema(int(view_id))
        d = derivation(catalog, view)
        used = {c.mirror_of for c in view.columns}
        if d.predicate is not None:
            used |= {r.column_id for r in n.column_refs(d.predicate)}
        if column_id in used:
            found.append(view.path)
    return found


def sync_indexes(catalog: Catalog, table_id: int, rows: list[int] | None) -> None:
    """The table's embedding indexes embed what a write changed (``rows``; None: all)."""
    if not _has_indexes(catalog, table_id):
        return
    # Imported here: numpy and the vector code load only for tables with an index.
    from reverie.catalog.embeddings import after_write

    after_write(catalog, table_id, rows)


# Whether a table has an embedding index, read at most once a second per table and process:
# the read cost a third of a single-row insert. An index another process adds meanwhile
# misses nothing: a search brings the vectors up to the latest version first.
INDEX_CHECK_SECONDS = 1.0
_indexed: dict[tuple[int, int], tuple[float, bool]] = {}


def _has_indexes(catalog: Catalog, table_id: int) -> bool:
    key, now = (id(catalog), table_id), time.monotonic()
    known = _indexed.get(key)
    if known is not None and now - known[0] < INDEX_CHECK_SECONDS:
        return known[1]
    with catalog.store.read() as conn:
        found = has_indexes(conn, table_id)
    _indexed[key] = (now, found)
    return found


def forget_indexes(catalog: Catalog, table_id: int) -> None:
    """This process added or dropped an index of the table: read it again next time."""
    _indexed.pop((id(catalog), table_id), None)
