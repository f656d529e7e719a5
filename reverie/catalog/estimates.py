"""Dry runs of table operations: what they would cost, the views they update included.

An operation on a table also computes cells of its views (``propagate``), so its dry run
prices those too. Each view's own computed columns are restated over the base table's
columns (a mirror reads the base column it copies) and priced, in the same dry run, on
the rows the view's filter would admit: a view that edits the image its base creates is
counted as two calls per row. Nothing is written and nothing is sent.

A filter that reads a cell the operation has not computed yet cannot be judged before;
such rows are counted as admitted, so the estimate is what a budget must allow.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.catalog import Catalog
from reverie.catalog.runs import Operation
from reverie.catalog.views import derivation
from reverie.exec.codec import decoder
from reverie.exec.estimate import Estimate, estimate_cells
from reverie.exec.loop import run_sync
from reverie.exec.paid import PaidRun
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.compile import evaluate
from reverie.store.db import VALUE


@dataclasses.dataclass(frozen=True)
class _ViewPart:
    """A view's computed columns restated over the base table, and its filter."""

    view: str
    predicate: n.Node | None  # over the base's columns
    columns: tuple[ColumnSchema, ...]  # every own column of the view, restated
    targets: frozenset[int]  # those the operation would compute


def estimate(
    catalog: Catalog,
    schema: TableSchema,
    rows: Sequence[dict[str, Any]],
    targets: set[int] | None,
    op: Operation,
    *,
    changed: set[int] | Literal[False] | None = False,
) -> Estimate:
    """What computing ``targets`` of ``rows`` would cost, and the views' cells it changes.

    Args:
        catalog: the open catalog.
        schema: the table, possibly with a column not added yet.
        rows: the rows as stored (SQL column names to values).
        targets: column ids to compute in every row (None: each row's pending cells).
        changed: the base columns whose cells the operation changes (their views'
            readers are priced); None: new rows (every computed column of a view); False:
            no view is priced.
        op: the operation's paid-call settings (its budget).
    """
    ctx = catalog.exec
    assert ctx.ledger is not None
    config = ctx.settings()
    options = dataclasses.replace(op.run_options(), dry_run=True)
    paid = PaidRun(config, ctx.ledger, ctx.media, ctx.pools, options, schema.id)
    parts = [] if changed is False else _view_parts(catalog, schema, changed)
    groups = _groups(catalog, schema, rows, parts)

    async def run() -> Estimate:
        result = Estimate(0, 0, 0, 0, 0)
        for members, group in groups.items():
            extra = [p for i, p in enumerate(parts) if i in members]
            columns = (*schema.columns, *(c for p in extra for c in p.columns))
            wanted = None if targets is None else targets.union(*(p.targets for p in extra))
            result = await estimate_cells(  # stats add up in ``paid``: the last is the total
                paid,
                dataclasses.replace(schema, columns=columns),
                group,
                wanted,
                concurrency=config.reve.max_concurrency,
            )
        return result

    found = run_sync(run())
    print(found)
    return found


def stored_rows(catalog: Catalog, schema: TableSchema, cond: Any) -> list[dict[str, Any]]:
    """The stored rows of ``schema`` where ``cond`` (SQL, or None: all)."""
    t = schema.sa_table
    query = sa.select(t) if cond is None else sa.select(t).where(cond)
    with catalog.store.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _view_parts(
    catalog: Catalog,
    base: TableSchema,
    changed: set[int] | None,
    over: dict[int, n.ColumnRef] | None = None,
    predicate: n.Node | None = None,
    root: TableSchema | None = None,
    ids: Iterator[int] | None = None,
) -> list[_ViewPart]:
    """The views of ``base`` (and theirs) restated over ``root`` (default: ``base``).

    ``over``: each column of ``base`` as a ref of ``root`` (when ``base`` is itself a view);
    ``predicate``: ``base``'s own filter over ``root``.
    """
    root = root or base
    ids = ids or itertools.count(-1_000_000, -1)  # ids no real column has
    over = over or {c.id: c.ref(root.id) for c in base.columns}
    parts: list[_ViewPart] = []
    for view_id in base.views:
        view = catalog.schema(view_id)
        if view.kind != 'view':
            continue  # a snapshot is frozen: the operation does not reach it
        d = derivation(catalog, view)
        filt = None if d.predicate is None else _restate(d.predicate, base.id, over)
        both = filt if predicate is None else predicate if filt is None else _and(predicate, filt)
        mapping: dict[int, n.ColumnRef] = {}
        columns: list[ColumnSchema] = []
        hit: set[int] = set()
        for c in view.columns:
            if c.mirror_of is not None:
                mapping[c.id] = over[c.mirror_of]
                if changed is None or c.mirror_of in changed:
                    hit.add(c.id)
                continue
            expr = None if c.expr is None else _restate(c.expr, view.id, mapping)
            new = ColumnSchema(
                next(ids), f'{view.name}.{c.name}', c.col_type, expr, is_computed=c.computes
            )
            columns.append(new)
            mapping[c.id] = new.ref(root.id)
            if c.computes and c.expr is not None:
                reads = {r.column_id for r in n.column_refs(c.expr)}
                if changed is None or reads & hit:
                    hit.add(c.id)
        own = frozenset(mapping[i].column_id for i in hit if mapping[i].column_id < 0)
        parts.append(_ViewPart(view.path, both, tuple(columns), own))
        below_changed = None if changed is None else hit
        parts += _view_parts(catalog, view, below_changed, mapping, both, root, ids)
    return parts


def _restate(node: n.Node, table_id: int, mapping: dict[int, n.ColumnRef]) -> n.Node:
    """``node`` (reading columns of table ``table_id``) reading ``mapping``'s refs instead."""
    refs = {r: mapping[r.column_id] for r in n.column_refs(node) if r.table_id == table_id}
    return n.replace_refs(node, refs)


def _and(a: n.Node, b: n.Node) -> n.Node:
    return n.BoolOp('and', (a, b), ts.Bool)


def _groups(
    catalog: Catalog,
    schema: TableSchema,
    rows: Sequence[dict[str, Any]],
    parts: list[_ViewPart],
) -> dict[frozenset[int], list[dict[str, Any]]]:
    """The rows by the set of views (indexes into ``parts``) that would take them."""
    groups: dict[frozenset[int], list[dict[str, Any]]] = {}
    if not parts:
        return {frozenset(): list(rows)}
    media = catalog.exec.media
    read = {
        r.column_id for p in parts if p.predicate is not None for r in n.column_refs(p.predicate)
    }
    for row in rows:
        env: dict[n.Node, Any] = {
            c.ref(schema.id): _value(c, row, media.open) for c in schema.columns if c.id in read
        }
        members = frozenset(i for i, p in enumerate(parts) if _admits(p.predicate, env))
        groups.setdefault(members, []).append(row)
    return groups


def _value(col: ColumnSchema, row: dict[str, Any], open_image: Any) -> Any:
    raw = row.get(col.sql.value)
    if raw is None or (col.is_computed and row.get(col.sql.state) != VALUE):
        return None
    decode = decoder(col.col_type, open_image)
    try:
        return raw if decode is None else decode(raw)
    except Exception:
        return None


def _admits(predicate: n.Node | None, env: dict[n.Node, Any]) -> bool:
    """Whether a view's filter takes the row; True when it cannot tell (a missing cell)."""
    if predicate is None:
        return True
    try:
        return evaluate(predicate, env) is not False
    except Exception:
        return True
