"""Views and snapshots: tables whose rows follow a base table, or a query over one.

A view (or snapshot) is a table of its own. Its base columns are *mirrors*: copies of the
base's cells (value, state and error), and each row keeps the id of its base row. Only the
view's own computed columns are computed, and only for its rows.

``sync_rows`` brings chosen rows of a view in line with its base: rows the filter now admits
are added (their own cells pending), rows it no longer admits (or that are gone) are removed,
and rows whose mirrored cells changed take the new cells and have the view's own cells that
read them reset. Every change is a version of the view, so a view has history and time
travel like any table. A snapshot is filled once, when it is made, and is read-only after.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.changes import chunks, pending_values
from reverie.exec.queries import ROWID_REF, QuerySpec, run_query, sql_resolver
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs import serialize
from reverie.exprs.to_sql import to_sql
from reverie.store.db import ROWID, VERSION, derived_table, rowid_bounds
from reverie.store.versions import add_counts, archive_rows, begin_version, lock_table

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog

SYNC_RANGE = 20_000  # rows of the base compared at a time when every row is synced


@dataclass(frozen=True)
class Derivation:
    """What a view or snapshot is made of."""

    kind: str  # 'view' or 'snapshot'
    base: TableSchema
    base_version: int
    predicate: n.Node | None


def derivation(catalog: Catalog, view: TableSchema) -> Derivation:
    """The base and filter of a view or snapshot."""
    assert view.base_id is not None
    base = catalog.schema(view.base_id)
    with catalog.store.read() as conn:
        row = conn.execute(
            sa.select(derived_table).where(derived_table.c.table_id == view.id)
        ).one()
    predicate = None
    if row.predicate is not None:
        predicate = serialize.from_json(
            row.predicate, lambda column_id: base.by_id(column_id).ref(base.id)
        )
    return Derivation(str(row.kind), base, int(row.base_version), predicate)


def predicate_json(predicate: n.Node | None) -> Any:
    """How a view's filter is kept in the catalog."""
    return None if predicate is None else serialize.to_json(predicate)


def sync_rows(
    catalog: Catalog, view: TableSchema, rowids: Sequence[int] | None, *, version: int | None = None
) -> list[int]:
    """Bring rows of ``view`` (those of ``rowids``, or all) in line with its base.

    Changes go in as one version of the view (``version``, or a new 'sync' version made when
    the first change is found). Returns the ids of the rows added, changed or removed.
    """
    d = derivation(catalog, view)
    mirrors = [(c, d.base.by_id(c.mirror_of)) for c in view.columns if c.mirror_of is not None]
    sync = _Sync(catalog, view, d, mirrors, version)
    for lo, hi, wanted in _pieces(catalog, view, d.base, rowids):
        sync.piece(lo, hi, wanted)
    return sync.touched


class _Sync:
    """One pass of ``sync_rows``: compares and writes a range of rows at a time."""

    def __init__(
        self,
        catalog: Catalog,
        view: TableSchema,
        d: Derivation,
        mirrors: list[tuple[ColumnSchema, ColumnSchema]],
        version: int | None,
    ) -> None:
        self.catalog, self.view, self.d, self.version = catalog, view, d, version
        self.touched: list[int] = []
        # (base SQL column, view SQL column) of every mirrored cell part (value, state, ...);
        # per mirror: where its parts sit in a row of them, and the view's own computed
        # columns that read it (reset when it changes)
        self.pairs: list[tuple[str, str]] = []
        self.readers: list[tuple[slice, list[ColumnSchema]]] = []
        for vc, bc in mirrors:
            start = len(self.pairs)
            self.pairs += [
                (b.name, v.name)
                for b, v in zip(
                    bc.sql.sa_columns(bc.col_type.sql_type()),
                    vc.sql.sa_columns(vc.col_type.sql_type()),
                    strict=True,
                )
            ]
            self.readers.append((slice(start, len(self.pairs)), view.dependents(vc.id)))

    def piece(self, lo: int, hi: int, wanted: set[int] | None) -> None:
        store = self.catalog.store
        base_t, view_t = self.d.base.sa_table, self.view.sa_table
        members = self._members(lo, hi, wanted)  # the filter's work, before the lock
        with store.begin() as conn:
            lock_table(conn, store, self.view.id)
            view_rid = view_t.c[ROWID]
            in_range = view_rid.between(lo, hi) if wanted is None else view_rid.in_(sorted(wanted))
            view_query = sa.select(view_t.c[ROWID], *(view_t.c[v] for _, v in self.pairs)).where(
                in_range
            )
            view_rows = {
                r[0]: tuple(r[1:])
                for r in conn.execute(view_query)
                if wanted is None or r[0] in wanted
            }
            # Rows to add or remove are judged again under the lock: another process may have
            # written and synced them since the filter ran (removing its row would lose it).
            doubtful = set(view_rows) ^ set(members)
            if doubtful:
                again = self._members(lo, hi, doubtful, conn)
                members = sorted((set(members) - doubtful) | set(again))
            base_rows = self._read(conn, base_t, [b for b, _ in self.pairs], members)
            gone = sorted(set(view_rows) - set(base_rows))
            new = sorted(set(base_rows) - set(view_rows))
            changed = sorted(
                r for r in base_rows.keys() & view_rows.keys() if base_rows[r] != view_rows[r]
            )
            if not (gone or new or changed):
                return
            version = self._version(conn)
            assert self.view.history is not None
            for chunk in chunks(gone + changed):
                archive_rows(conn, view_t, self.view.history, view_t.c[ROWID].in_(chunk), version)
            for chunk in chunks(gone):
                conn.execute(sa.delete(view_t).where(view_t.c[ROWID].in_(chunk)))
            self._update(conn, changed, base_rows, view_rows, version)
            if new:
                names = [v for _, v in self.pairs]
                conn.execute(
                    sa.insert(view_t),
                    [
                        {ROWID: r, VERSION: version, **dict(zip(names, base_rows[r], strict=True))}
                        for r in new
                    ],
                )
            add_counts(
                conn,
                self.view.id,
                version,
                inserted=len(new),
                updated=len(changed),
                deleted=len(gone),
            )
        self.touched += gone + new + changed

    def _version(self, conn: sa.Connection) -> int:
        if self.version is None:
            self.version = begin_version(conn, self.catalog.store, self.view.id, 'sync')
        return self.version

    def _members(
        self, lo: int, hi: int, wanted: set[int] | None, conn: sa.Connection | None = None
    ) -> list[int]:
        """Base rows in [lo, hi] (of ``wanted``) the filter admits (read in ``conn`` if given)."""
        base = self.d.base
        pred = self.d.predicate
        rid = base.sa_table.c[ROWID]
        clause = None if pred is None else to_sql(pred, sql_resolver(base))
        if pred is None or clause is not None:
            # only the rows wanted: a sparse update must not read every row between its ids
            where = rid.between(lo, hi) if wanted is None else rid.in_(sorted(wanted))
            query = sa.select(rid).where(where)
            if clause is not None:
                query = query.where(clause)
            if conn is not None:
                found = list(conn.execute(query).scalars())
            else:
                with self.catalog.store.read() as own:
                    found = list(own.execute(query).scalars())
        else:  # the filter needs Python (a function, an image property): the query engine
            rows: tuple[n.Node, ...] = (
                n.BinaryOp('>=', ROWID_REF, n.Literal(lo, ts.Int), ts.Bool),
                n.BinaryOp('<=', ROWID_REF, n.Literal(hi, ts.Int), ts.Bool),
            )
            if wanted is not None:
                ids = tuple(n.Literal(r, ts.Int) for r in sorted(wanted))
                rows = (*rows, n.IsIn(ROWID_REF, ids, ts.Bool))
            in_range = n.BoolOp('and', (pred, *rows), ts.Bool)
            spec = QuerySpec(items=((ROWID, ROWID_REF),), predicate=in_range)
            result = run_query(self.catalog.exec, base, spec, lambda ref: ref)
            found = [int(r) for r in result.columns[0]]
        return [r for r in found if wanted is None or r in wanted]

    def _read(
        self, conn: sa.Connection, t: sa.Table, names: list[str], rowids: list[int]
    ) -> dict[int, tuple[Any, ...]]:
        out: dict[int, tuple[Any, ...]] = {}
        for chunk in chunks(rowids):
            query = sa.select(t.c[ROWID], *(t.c[c] for c in names)).where(t.c[ROWID].in_(chunk))
            out.update({r[0]: tuple(r[1:]) for r in conn.execute(query)})
        return out

    def _update(
        self,
        conn: sa.Connection,
        changed: list[int],
        base_rows: dict[int, tuple[Any, ...]],
        view_rows: dict[int, tuple[Any, ...]],
        version: int,
    ) -> None:
        """New mirrored cells, and the view's own cells that read a changed one reset."""
        view_t = self.view.sa_table
        names = [v for _, v in self.pairs]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for r in changed:
            values: dict[str, Any] = dict(zip(names, base_rows[r], strict=True))
            values[VERSION] = version
            for parts, readers in self.readers:
                if base_rows[r][parts] != view_rows[r][parts]:
                    for dep in readers:
                        values.update(pending_values(dep))
            groups.setdefault(tuple(sorted(values)), []).append(
                {'p_rid': r, **{f'p_{k}': v for k, v in values.items()}}
            )
        for keys, rows in groups.items():
            stmt = (
                sa.update(view_t)
                .where(view_t.c[ROWID] == sa.bindparam('p_rid'))
                .values({k: sa.bindparam(f'p_{k}', type_=view_t.c[k].type) for k in keys})
            )
            conn.execute(stmt, rows)


def _pieces(
    catalog: Catalog, view: TableSchema, base: TableSchema, rowids: Sequence[int] | None
) -> Iterator[tuple[int, int, set[int] | None]]:
    """Ranges of row ids to compare: (low, high, the rows wanted in it or None for all)."""
    if rowids is not None:
        ordered = sorted(set(rowids))
        for chunk in chunks(ordered, 2000):
            yield chunk[0], chunk[-1], set(chunk)
        return
    with catalog.store.read() as conn:
        bounds = [rowid_bounds(conn, t) for t in (base.sa_table, view.sa_table)]
    lows = [lo for lo, _ in bounds if lo is not None]
    highs = [hi for _, hi in bounds if hi is not None]
    if not lows:
        return
    for lo in range(min(lows), max(highs) + 1, SYNC_RANGE):
        yield lo, lo + SYNC_RANGE - 1, None
