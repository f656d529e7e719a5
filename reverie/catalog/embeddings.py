"""Embedding indexes, the catalog side: define, drop, and keep them in line with the rows.

``add_embedding_index`` records the index (``rv_indexes``) and embeds every row;
``after_write`` (called by ``Table`` after each write) embeds what changed since: a new row
once, a re-written cell again; a cell whose value did not change keeps its vector; a
revert deletes the vectors of the versions it undid. ``vector_set`` gives the vectors of a
table version, loaded once per version and kept in memory; ``ann_for`` the ANN index of
the latest version. Vector math lives in ``store/vectors.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import PIL.Image
import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.changes import chunks
from reverie.catalog.options import check_option
from reverie.errors import (
    AlreadyExistsError,
    ExecutionError,
    InvalidValueError,
    NotFoundError,
    TypeMismatchError,
)
from reverie.exec.caller import Caller
from reverie.exec.loop import run_sync
from reverie.exec.queries import ROWID_REF, QuerySpec, run_query
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs import serialize
from reverie.exprs.expr import Expr
from reverie.functions.udf import CellValue, Function
from reverie.store.db import ROWID, VALUE, VERSION, VERSION_END, versions_table
from reverie.store.vector_tables import (
    ann_files,
    ann_folder,
    build_vectors_table,
    has_indexes,
    indexes_table,
    remove_ann_files,
    sweep_ann_files,
)
from reverie.store.vectors import (
    ANN_THRESHOLD,
    METRICS,
    AnnIndex,
    Metric,
    VectorSet,
    decode_many,
    encode,
    pick_current,
    to_vector,
)
from reverie.store.versions import current_version

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog

EmbeddingFn = Function | Callable[[Expr], Expr]
IfExists = Literal['error', 'ignore', 'replace', 'replace_force']
EMBED_ROWS = 256  # rows embedded per query


@dataclass(frozen=True)
class EmbeddingIndex:
    """One embedding index of a table.

    ``rows``: the call embedding the column; ``queries``: per kind of query item
    ('string', 'image'), the call embedding it (its first argument is replaced by the item).
    """

    id: int
    table_id: int
    column: ColumnSchema
    name: str
    metric: Metric
    rows: n.FunctionCall
    queries: dict[str, n.FunctionCall]


# -- defining ---------------------------------------------------------------------------


def add_embedding_index(
    catalog: Catalog,
    schema: TableSchema,
    column: str | Expr,
    *,
    idx_name: str | None = None,
    embedding: EmbeddingFn | None = None,
    string_embed: EmbeddingFn | None = None,
    image_embed: EmbeddingFn | None = None,
    metric: str = 'cosine',
    if_exists: IfExists = 'error',
) -> None:
    """Define an embedding index on ``column`` and embed the rows it has (see ``Table``)."""
    check_option('metric', metric, METRICS)
    check_option('if_exists', if_exists, ('error', 'ignore', 'replace', 'replace_force'))
    col = _column(schema, column, 'add_embedding_index')
    ref = Expr(col.ref(schema.id))
    is_image = isinstance(col.col_type, ts.ImageType)
    own = (image_embed if is_image else string_embed) or embedding
    if own is None:
        kind = 'image_embed' if is_image else 'string_embed'
        raise InvalidValueError(
            f'add_embedding_index(): give embedding= (or {kind}=), a function embedding '
            f'column {col.name!r}, e.g. embedding=clip.embed_image.'
        )
    rows = _embedding_call(own, ref, col.name)
    queries = {'image' if is_image else 'string': rows}
    for kind, fn, probe in (
        ('string', string_embed or embedding, n.Literal('', ts.String)),
        ('image', image_embed or embedding, n.Literal(None, ts.Image)),
    ):
        if kind not in queries and fn is not None:
            try:
                queries[kind] = _embedding_call(fn, Expr(probe), col.name)
            except (TypeMismatchError, InvalidValueError):
                if fn is not embedding:
                    raise
    existing = {ix.name: ix for ix in indexes_of(catalog, schema)}
    name = idx_name or _free_name(existing)
    if name in existing:
        if if_exists == 'ignore':
            return
        if if_exists == 'error':
            raise AlreadyExistsError(
                f'Index {name!r} already exists on table {schema.path!r}; pick another '
                "idx_name, or pass if_exists='ignore' or 'replace'."
            )
        drop_embedding_index(catalog, schema, idx_name=name)
    embed = {kind: serialize.to_json(call) for kind, call in queries.items()}
    embed['rows'] = serialize.to_json(rows)
    with catalog.store.begin() as conn:
        index_id = conn.execute(
            sa.insert(indexes_table)
            .values(
                table_id=schema.id,
                column_id=col.id,
                name=name,
                metric=metric,
                embed=embed,
                created_at=time.time(),
            )
            .returning(indexes_table.c.id)
        ).scalar_one()
        build_vectors_table(index_id).create(conn)
    after_write(catalog, schema.id)


def drop_embedding_index(
    catalog: Catalog,
    schema: TableSchema,
    *,
    column: str | Expr | None = None,
    idx_name: str | None = None,
    if_not_exists: Literal['error', 'ignore'] = 'error',
) -> None:
    """Drop an index given by its column (when it has one index) or by its name."""
    check_option('if_not_exists', if_not_exists, ('error', 'ignore'))
    if (column is None) == (idx_name is None):
        raise InvalidValueError('drop_embedding_index(): give exactly one of column= or idx_name=.')
    try:
        found = find_index(catalog, schema, column, idx_name)
    except NotFoundError:
        if if_not_exists == 'ignore':
            return
        raise
    with catalog.store.begin() as conn:
        conn.execute(sa.delete(indexes_table).where(indexes_table.c.id == found.id))
        build_vectors_table(found.id).drop(conn, checkfirst=True)
    _cache(catalog).forget(found.id)
    remove_ann_files(_ann_folder(catalog), [found.id])


def indexes_of(catalog: Catalog, schema: TableSchema) -> list[EmbeddingIndex]:
    """The embedding indexes of a table (those whose column still exists)."""
    with catalog.store.read() as conn:
        rows = conn.execute(
            sa.select(indexes_table)
            .where(indexes_table.c.table_id == schema.id)
            .order_by(indexes_table.c.id)
        ).all()
    found = []
    for r in rows:
        try:
            col = schema.by_id(r.column_id)
        except KeyError:
            continue  # its column was dropped

        def lookup(column_id: int) -> n.ColumnRef:
            return schema.by_id(column_id).ref(schema.id)

        calls = {k: serialize.from_json(v, lookup) for k, v in r.embed.items()}
        rows_call = calls.pop('rows')
        assert isinstance(rows_call, n.FunctionCall)
        queries = {k: c for k, c in calls.items() if isinstance(c, n.FunctionCall)}
        found.append(EmbeddingIndex(r.id, schema.id, col, r.name, r.metric, rows_call, queries))
    return found


def find_index(
    catalog: Catalog,
    schema: TableSchema,
    column: str | Expr | n.ColumnRef | None,
    idx_name: str | None,
) -> EmbeddingIndex:
    """The index named ``idx_name``, or the one index on ``column``."""
    indexes = indexes_of(catalog, schema)
    if idx_name is not None:
        for ix in indexes:
            if ix.name == idx_name:
                return ix
        raise NotFoundError(
            f'Table {schema.path!r} has no index {idx_name!r}; its embedding indexes are '
            f'{[ix.name for ix in indexes]}.'
        )
    assert column is not None
    col = (
        schema.by_id(column.column_id)
        if isinstance(column, n.ColumnRef)
        else _column(schema, column, 'drop_embedding_index')
    )
    on_column = [ix for ix in indexes if ix.column.id == col.id]
    if not on_column:
        raise NotFoundError(
            f'Column {col.name!r} of table {schema.path!r} has no embedding index; add one '
            f"with t.add_embedding_index('{col.name}', embedding=...)."
        )
    if len(on_column) > 1:
        raise InvalidValueError(
            f'Column {col.name!r} has several embedding indexes '
            f'({", ".join(ix.name for ix in on_column)}); name one with idx=/idx_name=.'
        )
    return on_column[0]


def _column(schema: TableSchema, column: str | Expr, what: str) -> ColumnSchema:
    if isinstance(column, Expr):
        if not isinstance(column.node, n.ColumnRef) or column.node.table_id != schema.id:
            raise InvalidValueError(f'{what}() takes a column of table {schema.path!r}.')
        return schema.by_id(column.node.column_id)
    return schema.require(column)


def _free_name(existing: dict[str, EmbeddingIndex]) -> str:
    k = 0
    while f'idx{k}' in existing:
        k += 1
    return f'idx{k}'


def _embedding_call(fn: EmbeddingFn, arg: Expr, column: str) -> n.FunctionCall:
    """``fn(arg)`` as a call node, checked to return a vector."""
    expr = fn(arg)
    node = expr.node if isinstance(expr, Expr) else None
    if not isinstance(node, n.FunctionCall) or not node.args or node.args[0] != arg.node:
        raise InvalidValueError(
            f'The embedding function for column {column!r} must be a UDF (or a lambda calling '
            'one with the column as its first argument).'
        )
    if not isinstance(node.col_type, ts.ArrayType | ts.JsonType):
        raise TypeMismatchError(
            f'Embedding function {node.fn.name}() returns {node.col_type}; it must return a '
            'vector, e.g. def emb(s: str) -> rv.Array[(512,), rv.Float].'
        )
    for _, value in node.kwargs:
        if not isinstance(value, n.Literal):
            raise InvalidValueError(
                f'Embedding function {node.fn.name}() may take constant options only.'
            )
    return node


# -- embedding ----------------------------------------------------------------------------


def embed_item(catalog: Catalog, index: EmbeddingIndex, item: Any, kind: str) -> Any:
    """The query item (``kind``: 'string' or 'image') embedded by the index's function."""
    call = index.queries.get(kind)
    if call is None:
        raise InvalidValueError(
            f'Index {index.name!r} on column {index.column.name!r} cannot embed a {kind}; '
            f'add it with {kind}_embed= (or an embedding= that takes a {kind}).'
        )
    if kind == 'image':
        item = _open_image(catalog, item)
    kwargs = {k: v.value for k, v in call.kwargs if isinstance(v, n.Literal)}
    args = (item, *(a.value for a in call.args[1:] if isinstance(a, n.Literal)))
    caller = Caller(catalog.exec)  # a paid function goes through the paid-call layer
    value = run_sync(caller.acall(call, args, kwargs))
    return value.value if isinstance(value, CellValue) else value  # a paid call's cell


def _open_image(catalog: Catalog, item: Any) -> Any:
    """A query image: a PIL image, or a local file path."""
    if isinstance(item, PIL.Image.Image):
        return item
    if isinstance(item, str | Path) and Path(item).is_file():
        with PIL.Image.open(item) as img:
            img.load()
            return img
    raise InvalidValueError(
        f'similarity(image=...) takes a PIL image or a local image file, got {item!r}.'
    )


def after_write(catalog: Catalog, table_id: int, rowids: Sequence[int] | None = None) -> None:
    """Bring the table's indexes in line with its rows (``rowids``: only these changed)."""
    with catalog.store.read() as conn:
        if not has_indexes(conn, table_id):
            return
    schema = catalog.schema(table_id)
    for index in indexes_of(catalog, schema):
        sync_index(catalog, schema, index, rowids)


def sync_index(
    catalog: Catalog,
    schema: TableSchema,
    index: EmbeddingIndex,
    rowids: Sequence[int] | None = None,
) -> int:
    """Embed the rows whose indexed cell changed since the last sync; returns how many."""
    store, t = catalog.store, schema.sa_table
    vt = build_vectors_table(index.id)
    col = index.column
    with store.begin() as conn:  # a reverted version's vectors go with it
        conn.execute(sa.delete(vt).where(vt.c.v > current_version(conn, schema.id)))
    value_col = t.c[col.sql.value]
    state_col = t.c[col.sql.state] if col.is_computed else None
    changed: list[tuple[int, int, str | None]] = []  # (row, _v, fingerprint or None)
    latest: dict[int, tuple[int, str | None, bool]] = {}  # row -> (v, src, has vector)
    parts: list[Sequence[int] | None] = [None] if rowids is None else list(chunks(list(rowids)))
    with store.read() as conn:
        for part in parts:
            q = sa.select(vt.c.row_id, vt.c.v, vt.c.src, vt.c.vec.is_not(None))
            rq = sa.select(t.c[ROWID], t.c[VERSION], value_col, *_opt(state_col))
            if part is not None:
                q = q.where(vt.c.row_id.in_(part))
                rq = rq.where(t.c[ROWID].in_(part))
            for row_id, v, src, has in conn.execute(q.order_by(vt.c.row_id, vt.c.v)):
                latest[int(row_id)] = (int(v), src, bool(has))
            for r in conn.execute(rq):
                state = r[3] if state_col is not None else VALUE
                src = _fingerprint(r[2]) if r[2] is not None and state == VALUE else None
                changed.append((int(r[0]), int(r[1]), src))
    copy: list[tuple[int, int, int]] = []  # (row, from v, to v)
    nulls: list[tuple[int, int]] = []
    embed: dict[int, tuple[int, str]] = {}
    for row_id, v, src in changed:
        last = latest.get(row_id)
        if last is not None and last[1] == src and (src is None or last[2]):
            if v > last[0]:
                copy.append((row_id, last[0], v))
        elif src is None:
            nulls.append((row_id, v))
        else:
            embed[row_id] = (v, src)
    vectors = _embed_rows(catalog, schema, index, sorted(embed))
    with store.begin() as conn:
        keys = [(r, v) for r, (v, _) in embed.items()] + nulls + [(r, to) for r, _, to in copy]
        for done in chunks(keys):  # cells done again replace their vectors
            conn.execute(sa.delete(vt).where(sa.tuple_(vt.c.row_id, vt.c.v).in_(done)))
        for row_id, old, new in copy:
            conn.execute(
                sa.insert(vt).from_select(
                    ['row_id', 'v', 'src', 'vec'],
                    sa.select(vt.c.row_id, sa.literal(new), vt.c.src, vt.c.vec).where(
                        vt.c.row_id == row_id, vt.c.v == old
                    ),
                )
            )
        rows = [
            {'row_id': r, 'v': v, 'src': src, 'vec': vectors.get(r)}
            for r, (v, src) in embed.items()
        ]
        rows += [{'row_id': r, 'v': v, 'src': None, 'vec': None} for r, v in nulls]
        if rows:
            conn.execute(sa.insert(vt), rows)
    return len(embed)


def _opt(col: Any) -> list[Any]:
    return [] if col is None else [col]


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()[:32]


def _embed_rows(
    catalog: Catalog, schema: TableSchema, index: EmbeddingIndex, rowids: list[int]
) -> dict[int, bytes | None]:
    """Each row's vector (float32 bytes) from the index's function, through the engine."""
    out: dict[int, bytes | None] = {}
    for part in chunks(rowids, EMBED_ROWS):
        pred = n.IsIn(ROWID_REF, tuple(n.Literal(r, ts.Int) for r in part), ts.Bool)
        spec = QuerySpec(items=(('r', ROWID_REF), ('e', index.rows)), predicate=pred)
        try:
            result = run_query(catalog.exec, schema, spec, lambda ref: ref)
        except ExecutionError as e:
            raise ExecutionError(
                f'Embedding column {index.column.name!r} for index {index.name!r} failed: {e} '
                'The rows are written; the index catches up at the next write or search.'
            ) from None
        for row_id, value in zip(result.columns[0], result.columns[1], strict=True):
            out[int(row_id)] = None if value is None else encode(to_vector(value))
    return out


# -- reading ------------------------------------------------------------------------------


class _Cache:
    """Per catalog: the vector set of each (index, table version) and each index's ANN."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sets: dict[tuple[int, bool], tuple[tuple[int, float], VectorSet]] = {}
        self.anns: dict[int, AnnIndex] = {}
        self.swept = False  # ANN files of dropped indexes looked for

    def forget(self, index_id: int) -> None:
        with self.lock:
            for latest in (True, False):
                self.sets.pop((index_id, latest), None)
            self.anns.pop(index_id, None)


_caches: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()


def _cache(catalog: Catalog) -> _Cache:
    cache = _caches.get(catalog)
    if cache is None:
        cache = _caches[catalog] = _Cache()
    return cache


def vector_set(catalog: Catalog, schema: TableSchema, index: EmbeddingIndex) -> VectorSet:
    """The vectors of the table's rows at the schema's version (kept per version).

    The latest version is kept in memory and brought forward by the rows later versions
    changed (read from the database: this process's writes and other processes' alike);
    an older version (time travel) is loaded whole.
    """
    latest = schema.at_version is None
    with catalog.store.read() as conn:
        version = current_version(conn, schema.id) if latest else schema.at_version
        assert version is not None
        key = (version, _made_at(conn, schema.id, version))
    cache = _cache(catalog)
    slot = (index.id, latest)
    held = cache.sets.get(slot)
    if held is not None and held[0] == key:
        return held[1]
    vset = None
    if latest and held is not None:
        with catalog.store.read() as conn:  # still there: no revert took it away
            known = _made_at(conn, schema.id, held[0][0]) == held[0][1]
            changed = _changed_since(conn, schema, held[0][0]) if known else None
        if changed is not None:
            sync_index(catalog, schema, index, changed.tolist())
            vset = held[1].replaced(changed, _load(catalog, schema, index, version, changed))
    if vset is None:
        if latest:
            sync_index(catalog, schema, index)  # rows another process wrote
        vset = _load(catalog, schema, index, version)
    with cache.lock:
        cache.sets[slot] = (key, vset)
    return vset


def _made_at(conn: sa.Connection, table_id: int, version: int) -> float:
    """When a version was made: with its number it names the version (a revert frees it)."""
    made = conn.execute(
        sa.select(versions_table.c.created_at).where(
            versions_table.c.table_id == table_id, versions_table.c.version == version
        )
    ).scalar()
    return float(made or 0.0)


def _changed_since(conn: sa.Connection, schema: TableSchema, version: int) -> Any:
    """Ids of the rows written, replaced or deleted by the versions after ``version``."""
    t, h = schema.sa_table, schema.history
    found = {int(r) for r in conn.scalars(sa.select(t.c[ROWID]).where(t.c[VERSION] > version))}
    if h is not None:
        gone = sa.select(h.c[ROWID]).where(h.c[VERSION_END] > version)
        found |= {int(r) for r in conn.scalars(gone)}
    return np.array(sorted(found), dtype=np.int64)


def _load(
    catalog: Catalog,
    schema: TableSchema,
    index: EmbeddingIndex,
    version: int,
    only: Any = None,
) -> VectorSet:
    """The vectors of the rows at ``version`` (``only``: of these row ids)."""
    t, h = schema.sa_table, schema.history
    vt = build_vectors_table(index.id)
    images: sa.Select[Any] | sa.CompoundSelect[Any]
    if schema.at_version is None or h is None:
        images = sa.select(t.c[ROWID], t.c[VERSION])
    else:
        images = sa.union_all(
            sa.select(t.c[ROWID], t.c[VERSION]).where(t.c[VERSION] <= version),
            sa.select(h.c[ROWID], h.c[VERSION]).where(
                h.c[VERSION] <= version, h.c[VERSION_END] > version
            ),
        )
    stored_q = sa.select(vt.c.row_id, vt.c.v, vt.c.vec).where(vt.c.v <= version)
    data_parts: list[Any] = []
    stored: list[Any] = []
    with catalog.store.read() as conn:
        for part in [None] if only is None else chunks(only.tolist()):
            q, sq = images, stored_q
            if part is not None:
                sub = images.subquery()
                q = sa.select(sub).where(sub.c[ROWID].in_(part))
                sq = stored_q.where(vt.c.row_id.in_(part))
            data_parts += conn.execute(q).all()
            stored += conn.execute(sq.order_by(vt.c.row_id, vt.c.v)).all()
    data = np.array(data_parts, dtype=np.int64).reshape(-1, 2)
    stored.sort(key=lambda r: (r[0], r[1]))
    ids = np.array([r[0] for r in stored], dtype=np.int64)
    vs = np.array([r[1] for r in stored], dtype=np.int64)
    _, picked = pick_current(ids, vs, data[:, 0], data[:, 1])
    picked = np.array([p for p in picked if stored[p][2] is not None], dtype=np.int64)
    blobs = [stored[p][2] for p in picked]
    dims = len(blobs[0]) // 4 if blobs else 0
    return VectorSet.build(index.metric, ids[picked], vs[picked], decode_many(blobs, dims))


def ann_for(catalog: Catalog, index: EmbeddingIndex, vset: VectorSet) -> AnnIndex | None:
    """The ANN index holding ``vset`` (the latest version), or None below the threshold."""
    if len(vset) < ANN_THRESHOLD or importlib.util.find_spec('usearch') is None:
        return None  # without usearch (the [search] extra) every search is exact
    cache = _cache(catalog)
    with cache.lock:
        ann = cache.anns.get(index.id)
        folder = _ann_folder(catalog)
        path = ann_files(folder, index.id)[0]
        if not cache.swept:  # once per process: files of indexes dropped elsewhere
            with catalog.store.read() as conn:
                sweep_ann_files(conn, folder)
            cache.swept = True
        if ann is None or ann.dims != vset.dims:
            ann = AnnIndex.load(path, index.metric, vset.dims) or AnnIndex(index.metric, vset.dims)
            cache.anns[index.id] = ann
        if ann.sync(vset):
            ann.save(path)
        return ann


def _ann_folder(catalog: Catalog) -> Path:
    """Where this host keeps the ANN files of the catalog's database."""
    return ann_folder(Path(catalog.config.home), catalog.store.engine.url)
