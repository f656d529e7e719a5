"""Answer ``similarity()`` in a query, and find near-duplicates, with the embedding indexes.

``answer_similarity`` runs before the query: it embeds each similarity's item, finds the rows
the query can return and their values, and gives back the query with each similarity node
replaced by a lookup of those values (by row id). When the first ``order_by`` key is a
similarity and the query has a ``limit``, only the top rows are looked for (exact with
numpy, or the ANN index above its threshold), and the query reads only those rows
(``rowid IN (...)``); ``where`` filters are applied first, so the top rows are the top rows
that match. Otherwise every matching row gets its value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from reverie import types as ts
from reverie.catalog.embeddings import ann_for, embed_item, find_index, vector_set
from reverie.display.resultset import ResultSet
from reverie.display.values import ImagePath
from reverie.errors import InvalidValueError
from reverie.exec.queries import ROWID_REF, QuerySpec, run_query
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, as_node
from reverie.exprs.similarity import Similarity, replace_nodes, similarity_nodes
from reverie.exprs.to_sql import split_conjuncts
from reverie.functions.udf import Function
from reverie.store.vectors import F32, I64, VectorSet, better_first

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog
    from reverie.catalog.embeddings import EmbeddingIndex

ANN_OVERFETCH = 4  # an ANN search with a filter asks for this many times the rows it needs


def spec_nodes(spec: QuerySpec) -> list[n.Node]:
    """Every top-level expression of a query."""
    nodes = [node for _, node in spec.items or ()]
    nodes += [k for k, _ in spec.order]
    if spec.predicate is not None:
        nodes.append(spec.predicate)
    return nodes


def answer_similarity(catalog: Catalog, schema: TableSchema, spec: QuerySpec) -> QuerySpec:
    """``spec`` with its similarity nodes answered (unchanged when it has none)."""
    sims = [s for node in spec_nodes(spec) for s in similarity_nodes(node)]
    if not sims:
        return spec
    if spec.keys is not None:
        raise InvalidValueError('similarity() cannot be used with group_by().')
    conjuncts = split_conjuncts(spec.predicate) if spec.predicate is not None else []
    plain = [c for c in conjuncts if not similarity_nodes(c)]
    candidates = _matching_rows(catalog, schema, plain) if plain else None
    first = spec.order[0][0] if spec.order else None
    top: I64 | None = None
    values: dict[Similarity, dict[int, float]] = {}
    searched = {}
    for sim in dict.fromkeys(sims):
        index = find_index(catalog, schema, sim.column, sim.idx)
        vset = vector_set(catalog, schema, index)
        q = vset.query(embed_item(catalog, index, sim.item, sim.kind))
        searched[sim] = (index, vset, q)
    if isinstance(first, Similarity) and spec.max_rows is not None and len(plain) == len(conjuncts):
        index, vset, q = searched[first]
        best = spec.order[0][1] != better_first(index.metric)
        k = spec.offset + spec.max_rows
        top, scores = _search(catalog, schema, index, vset, q, k, candidates, best)
        values[first] = dict(zip(top.tolist(), scores.tolist(), strict=True))
    rows = top if top is not None else candidates
    for sim, (_, vset, q) in searched.items():
        if sim in values:
            continue
        positions = vset.positions(rows) if rows is not None else None
        scores = vset.scores(q, positions)
        ids = vset.rowids if positions is None else vset.rowids[positions]
        values[sim] = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    mapping: dict[n.Node, n.Node] = {sim: _lookup(values[sim]) for sim in values}
    predicate = spec.predicate
    if rows is not None:
        keep = n.IsIn(ROWID_REF, tuple(n.Literal(int(r), ts.Int) for r in rows), ts.Bool)
        predicate = keep if predicate is None else n.BoolOp('and', (keep, predicate), ts.Bool)
    return dataclasses.replace(
        spec,
        items=None
        if spec.items is None
        else tuple((name, replace_nodes(node, mapping)) for name, node in spec.items),
        predicate=None if predicate is None else replace_nodes(predicate, mapping),
        order=tuple((replace_nodes(k, mapping), asc) for k, asc in spec.order),
    )


def _matching_rows(catalog: Catalog, schema: TableSchema, where: list[n.Node]) -> I64:
    pred = where[0] if len(where) == 1 else n.BoolOp('and', tuple(where), ts.Bool)
    spec = QuerySpec(items=(('r', ROWID_REF),), predicate=pred)
    result = run_query(catalog.exec, schema, spec, lambda ref: ref)
    return np.asarray(result.columns[0], dtype=np.int64)


def _search(
    catalog: Catalog,
    schema: TableSchema,
    index: EmbeddingIndex,
    vset: VectorSet,
    q: F32,
    k: int,
    candidates: I64 | None,
    best: bool,
) -> tuple[I64, F32]:
    """The ``k`` rows (among ``candidates``) closest to ``q`` (farthest unless ``best``)."""
    positions = None if candidates is None else vset.positions(candidates)
    ann = ann_for(catalog, index, vset) if best and schema.at_version is None else None
    if ann is not None and (positions is None or len(positions) * 10 >= len(vset)):
        want = k if positions is None else k * ANN_OVERFETCH * len(vset) // max(len(positions), 1)
        while want < len(vset) and ann.usable(want):
            ids, scores = ann.search(q, want)
            if candidates is not None:
                keep = np.isin(ids, candidates)
                ids, scores = ids[keep], scores[keep]
            if len(ids) >= k:
                return ids[:k], scores[:k]
            want *= 4  # too few matched the filter: look further (exact where the graph
            # is no longer faster, or past the whole set)
    return vset.top_k(q, k, positions, reverse=not best)


def _lookup(values: dict[int, float]) -> n.FunctionCall:
    """A call giving each row's value by its row id (None for rows without a vector)."""

    def similarity(rowid: int) -> float | None:
        return values.get(rowid)

    fn = Function(similarity, path='reverie.catalog.similarity.lookup', source='')
    return n.FunctionCall(fn, (ROWID_REF,), (), ts.Float)


def near_duplicates(
    catalog: Catalog,
    schema: TableSchema,
    column: Any,
    *,
    threshold: float,
    idx: str | None = None,
    select: Sequence[Any] | None = None,
) -> ResultSet:
    """Clusters of rows whose ``column`` vectors are within ``threshold`` (see ``Table``)."""
    ref = column.node if isinstance(column, Expr) else schema.require(column).ref(schema.id)
    if not isinstance(ref, n.ColumnRef):
        raise InvalidValueError(f'near_duplicates() takes a column, not {column!r}.')
    index = find_index(catalog, schema, ref, idx)
    clusters = cluster_rows(vector_set(catalog, schema, index), threshold)
    items: list[tuple[str, n.Node]] = [('_rowid', ROWID_REF)]
    for i, e in enumerate(select if select is not None else schema.columns):
        node = e.ref(schema.id) if isinstance(e, ColumnSchema) else as_node(e)
        name = node.name if isinstance(node, n.ColumnRef) else f'col_{i}'
        items.append((name, node))
    rowids = [r for c in clusters for r in c]
    pred = n.IsIn(ROWID_REF, tuple(n.Literal(r, ts.Int) for r in rowids), ts.Bool)
    media = catalog.media
    result = run_query(
        catalog.exec,
        schema,
        QuerySpec(items=tuple(items), predicate=pred),
        lambda ref: ImagePath(media.path(ref)),
    )
    where = {r: i for i, r in enumerate(result.columns[0])}
    cluster_of = {r: k for k, c in enumerate(clusters) for r in c}
    order = [where[r] for r in rowids if r in where]
    columns = [[cluster_of[result.columns[0][i]] for i in order]]
    columns += [[col[i] for i in order] for col in result.columns[1:]]
    names = ['cluster', *result.names[1:]]
    return ResultSet(names, [ts.Int, *result.types[1:]], columns)


def cluster_rows(vset: VectorSet, threshold: float) -> list[list[int]]:
    """Row ids linked by closeness (similarity >= ``threshold``, or l2 distance <=), grouped.

    Groups are the connected sets of two or more rows, largest first, each in row order.
    """
    parent = np.arange(len(vset))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for a, b in _close_pairs(vset, threshold):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(len(vset)):
        groups.setdefault(root(i), []).append(int(vset.rowids[i]))
    clusters = [sorted(g) for g in groups.values() if len(g) > 1]
    return sorted(clusters, key=lambda g: (-len(g), g[0]))


def _close_pairs(vset: VectorSet, threshold: float, block: int = 1024) -> Sequence[Any]:
    """Pairs (i < j) of positions whose vectors are within ``threshold`` (blocked products)."""
    pairs: list[tuple[int, int]] = []
    close_is_high = better_first(vset.metric)
    for start in range(0, len(vset), block):
        stop = min(start + block, len(vset))
        scores = vset.vectors[start:stop] @ vset.vectors.T
        if vset.metric == 'l2':
            assert vset.sq_norms is not None
            sq = vset.sq_norms[start:stop, None] - 2 * scores + vset.sq_norms[None, :]
            scores = np.sqrt(np.maximum(sq, 0))
        hit = scores >= threshold if close_is_high else scores <= threshold
        rows, cols = np.nonzero(hit)
        rows = rows + start
        keep = rows < cols
        pairs.extend(zip(rows[keep].tolist(), cols[keep].tolist(), strict=True))
    return pairs
