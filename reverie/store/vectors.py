"""Vector indexes: float32 vectors of one column, exact search with numpy, ANN with usearch.

An embedding index keeps its vectors in its own SQL table ``rvi_<index id>``: one row per
(data row id, the row version ``_v`` it was embedded for), the vector as a float32 blob (NULL
when the cell was null, pending or an error). A row image of the data table (live, or from
history for time travel) uses the index row with its row id and the greatest ``v`` not above
its own ``_v``; a revert deletes the index rows of the versions it undid. The blobs are the
truth: the in-memory ``VectorSet`` (one per table version) and the ANN file are caches
rebuilt from them, which is what a PostgreSQL user with several hosts needs (each host keeps
its own ANN file). pgvector would slot in as another ``search`` behind the same
``VectorSet`` interface; it is not available on this machine (no Debian package), so it is
not built.

Values follow Pixeltable: ``cosine`` and ``ip`` give a similarity (larger is closer),
``l2`` a Euclidean distance (smaller is closer).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Metric = Literal['cosine', 'ip', 'l2']
METRICS: tuple[Metric, ...] = ('cosine', 'ip', 'l2')
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

ANN_THRESHOLD = 50_000  # vectors from which a search goes through the ANN index
CHUNK_ROWS = 65_536  # rows scored per matrix product (bounds the temporary memory)


def to_vector(value: Any) -> F32:
    """A 1-d float32 vector from what an embedding function returned (list, numpy array)."""
    vec = np.asarray(value, dtype=np.float32)
    if vec.ndim != 1 or vec.size == 0:
        raise ValueError(f'an embedding must be a non-empty 1-d array, got shape {vec.shape}')
    return vec


def _normalized(matrix: F32) -> F32:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    out: F32 = (matrix / norms).astype(np.float32, copy=False)
    return out


def better_first(metric: Metric) -> bool:
    """Whether larger values are closer (similarities) rather than smaller (distances)."""
    return metric != 'l2'


@dataclass
class VectorSet:
    """The vectors of one table version, in memory, searched exactly with numpy.

    ``rowids`` are sorted ascending; ``keys`` identify each vector (its ``v``), so an ANN
    index can tell which of its vectors are still current.
    """

    metric: Metric
    rowids: I64
    keys: I64
    vectors: F32  # normalised for cosine
    sq_norms: F32 | None = field(default=None, repr=False)  # l2 only

    @classmethod
    def build(cls, metric: Metric, rowids: I64, keys: I64, vectors: F32) -> VectorSet:
        """A set from raw vectors (sorted by row id here)."""
        if len(rowids) > 1 and not np.all(rowids[1:] > rowids[:-1]):  # else: no copy
            order = np.argsort(rowids, kind='stable')
            rowids, keys, vectors = rowids[order], keys[order], vectors[order]
        if metric == 'cosine':
            vectors = _normalized(vectors)
        sq = np.einsum('ij,ij->i', vectors, vectors) if metric == 'l2' else None
        return cls(metric, rowids, keys, np.ascontiguousarray(vectors), sq)

    def __len__(self) -> int:
        return len(self.rowids)

    def replaced(self, gone: I64, new: VectorSet) -> VectorSet:
        """This set without the rows ``gone``, plus the vectors of ``new`` (same metric)."""
        keep = ~np.isin(self.rowids, gone)
        if not keep.any():
            return new
        if not len(new):
            new = VectorSet(self.metric, new.rowids, new.keys, self.vectors[:0], None)
        rowids = np.concatenate([self.rowids[keep], new.rowids])
        keys = np.concatenate([self.keys[keep], new.keys])
        vectors = np.concatenate([self.vectors[keep], new.vectors])
        if len(rowids) > 1 and not np.all(rowids[1:] > rowids[:-1]):
            order = np.argsort(rowids, kind='stable')
            rowids, keys, vectors = rowids[order], keys[order], vectors[order]
        sq = np.einsum('ij,ij->i', vectors, vectors) if self.metric == 'l2' else None
        return VectorSet(self.metric, rowids, keys, vectors, sq)

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0

    def query(self, q: Any) -> F32:
        """The query vector, prepared for this metric."""
        vec = to_vector(q)
        if len(self) and vec.shape[0] != self.dims:
            raise ValueError(
                f'the query embeds to {vec.shape[0]} dimensions, the index holds {self.dims}'
            )
        return _normalized(vec[None, :])[0] if self.metric == 'cosine' else vec

    def positions(self, rowids: Sequence[int] | I64) -> I64:
        """Positions of ``rowids`` in this set (row ids without a vector are left out)."""
        want = np.asarray(rowids, dtype=np.int64)
        pos = np.searchsorted(self.rowids, want)
        pos = np.minimum(pos, max(len(self.rowids) - 1, 0))
        found = self.rowids[pos] == want if len(self.rowids) else np.zeros(len(want), dtype=bool)
        out: I64 = pos[found].astype(np.int64)
        return out

    def scores(self, q: F32, positions: I64 | None = None) -> F32:
        """Pixeltable's value for each vector (or those at ``positions``) against ``q``."""
        if self.metric != 'l2':
            return self._products(q, positions)
        rows = self.vectors if positions is None else self.vectors[positions]
        out = np.empty(len(rows), dtype=np.float32)
        for start in range(0, len(rows), CHUNK_ROWS):  # the difference: exact near zero
            diff = rows[start : start + CHUNK_ROWS] - q
            out[start : start + CHUNK_ROWS] = np.sqrt(np.einsum('ij,ij->i', diff, diff))
        return out

    def _products(self, q: F32, positions: I64 | None) -> F32:
        rows = self.vectors if positions is None else self.vectors[positions]
        out = np.empty(len(rows), dtype=np.float32)
        for start in range(0, len(rows), CHUNK_ROWS):
            out[start : start + CHUNK_ROWS] = rows[start : start + CHUNK_ROWS] @ q
        return out

    def _distances_sq(self, q: F32, positions: I64 | None) -> F32:
        """l2: squared distances from one matrix product (fast; to rank, not to report)."""
        assert self.sq_norms is not None
        sq = self.sq_norms if positions is None else self.sq_norms[positions]
        out: F32 = (sq - 2 * self._products(q, positions) + float(q @ q)).astype(np.float32)
        return out

    def top_k(
        self, q: F32, k: int, positions: I64 | None = None, *, reverse: bool = False
    ) -> tuple[I64, F32]:
        """Row ids and values of the ``k`` closest vectors (among ``positions``), best first.

        ``reverse``: the ``k`` farthest, farthest first.
        """
        where, scores = self.top_positions(q, k, positions, reverse=reverse)
        return self.rowids[where], scores

    def top_positions(
        self, q: F32, k: int, positions: I64 | None = None, *, reverse: bool = False
    ) -> tuple[I64, F32]:
        """As ``top_k``, with positions in this set instead of row ids."""
        l2 = self.metric == 'l2'
        scores = self._distances_sq(q, positions) if l2 else self.scores(q, positions)
        ranked = -scores if better_first(self.metric) != reverse else scores
        k = min(k, len(scores))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        best = np.argpartition(ranked, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        best = best[np.argsort(ranked[best], kind='stable')]
        where = (best if positions is None else positions[best]).astype(np.int64)
        if not l2:
            return where, scores[best]
        values = self.scores(q, where)  # exact, and ranked by them
        order = np.argsort(-values if reverse else values, kind='stable')
        return where[order], values[order]


ANN_RECALL = 0.97  # recall@10 an ANN index must reach on its sample, or search is exact
ANN_EF = (64, 128, 256, 512, 1024, 2048, 4096)  # expansion_search values tried, in order
ANN_SAMPLE = 64  # queries that measure recall (see ``_probes``)
ANN_RECHECK = 0.2  # measured again once this share of the vectors changed


class AnnIndex:
    """An HNSW index (usearch) over a ``VectorSet``'s vectors, keyed by row id.

    ``sync`` brings it in line with a set: it removes the rows gone or re-embedded and adds
    the new vectors (one batch, on every core), so a write costs the rows it changed.

    The graph holds the vectors as bfloat16 (a quarter of float32's cost per distance, half
    the memory); ``search`` takes twice the rows it needs from it and ranks them again with
    the set's float32 vectors, so the values are exact. How far the graph must search
    depends on the data (clustered embeddings: little; i.i.d. Gaussian vectors: far), so
    ``sync`` measures it: leave-one-out queries from a sample of the stored vectors, exact
    top-10 against the graph's at growing ``expansion_search``, until recall@10 reaches
    ``ANN_RECALL``. If none does, or the graph is no faster than exact search there,
    ``search`` is exact (``ef`` 0). ``save``/``load`` keep it (and that measure) in files
    next to the database; they are a cache, rebuilt from the blobs when missing.
    """

    def __init__(
        self,
        metric: Metric,
        dims: int,
        *,
        connectivity: int = 16,
        expansion_add: int = 128,
        timed: bool = True,
    ) -> None:
        _load_pyarrow_first()
        from usearch.compiled import MetricKind, ScalarKind
        from usearch.index import Index

        self.metric = metric
        self.dims = dims
        self.timed = timed  # False: use the graph where its recall holds, however slow
        self.index = Index(
            ndim=dims,
            # cosine sets hold unit vectors: their inner product is the cosine, fewer flops
            metric=MetricKind.L2sq if metric == 'l2' else MetricKind.IP,
            dtype=ScalarKind.BF16,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=ANN_EF[0],
        )
        self.rowids: I64 = np.empty(0, dtype=np.int64)  # sorted, with their vector keys
        self.keys: I64 = np.empty(0, dtype=np.int64)
        self.ef = 0  # expansion_search reaching ANN_RECALL; 0: search exactly
        self.speedup = 0.0  # exact time / graph time at ``ef``, measured with it
        self.measured_at = 0  # vectors held when measured
        self.changed = 0  # vectors changed since
        self._synced: VectorSet | None = None  # the set last synced with (searched)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.rowids)

    def sync(self, vectors: VectorSet) -> int:
        """Make the index hold exactly ``vectors``; returns how many vectors changed."""
        if vectors is self._synced:
            return 0
        shift = np.int64(1) << np.int64(32)
        held = self.rowids * shift + self.keys
        wanted = vectors.rowids * shift + vectors.keys
        gone = self.rowids[~np.isin(held, wanted)]
        new = vectors.rowids[~np.isin(wanted, held)]  # sorted, as the set's row ids are
        if len(gone):
            self.index.remove(gone.astype(np.uint64))
        if len(new):
            # threads=0 ran on one core (usearch 2.26): name them all
            pos = vectors.positions(new)
            self.index.add(new.astype(np.uint64), vectors.vectors[pos], threads=cores())
        if len(gone) or len(new):
            self.rowids, self.keys = vectors.rowids.copy(), vectors.keys.copy()
        self._synced = vectors
        self.changed += len(gone) + len(new)
        if self.changed > ANN_RECHECK * max(self.measured_at, 1):
            self.measure(vectors)
        return len(gone) + len(new)

    def measure(self, vectors: VectorSet, k: int = 10) -> None:
        """Find the ``expansion_search`` that reaches ``ANN_RECALL`` on a sample (see class)."""
        self.ef, self.speedup, self.measured_at, self.changed = 0, 0.0, len(vectors), 0
        if len(vectors) <= 2 * k:
            return
        queries, made_of = _probes(vectors, min(ANN_SAMPLE, len(vectors) // 2))
        truth = _leave_out(made_of, k, exact_top_positions(vectors, queries, k + 2))
        times = []
        for q in queries[-5:]:  # one query at a time, as a search asks
            started = time.perf_counter()
            vectors.top_k(q, k)
            times.append(time.perf_counter() - started)
        exact_s = float(np.median(times))
        for ef in ANN_EF:
            started = time.perf_counter()
            found = [self._graph_top(q, k + 2, ef)[0] for q in queries]
            graph_s = (time.perf_counter() - started) / len(queries)
            got = _leave_out(made_of, k, found)
            hits = np.array([len(np.intersect1d(a, b)) for a, b in zip(truth, got, strict=True)])
            half = len(queries) // 2  # each kind of query must reach the recall
            if min(hits[:half].mean(), hits[half:].mean()) >= ANN_RECALL * k:
                if graph_s < exact_s or not self.timed:
                    self.ef, self.speedup = ef, exact_s / graph_s if self.timed else np.inf
                return
            if graph_s >= exact_s and self.timed:
                return  # further out it is only slower

    def usable(self, k: int) -> bool:
        """Whether a top-``k`` search through the graph is right and faster than exact."""
        return self.ef > 0 and self._ef_for(k) / self.ef < self.speedup

    def _ef_for(self, k: int) -> int:
        return self.ef * max(1, -(-k // 10))  # measured for 10: more rows, further out

    def _graph_top(self, q: F32, k: int, ef: int) -> tuple[I64, F32]:
        """Positions in the synced set of the graph's ``k`` best, re-ranked exactly."""
        assert self._synced is not None
        with self._lock:  # the search depth is a setting of the index
            self.index.expansion_search = ef  # type: ignore[misc]  # a setter usearch types miss
            found = self.index.search(q.astype(np.float32), min(2 * k, len(self)), threads=1)
        pos = self._synced.positions(np.asarray(found.keys, dtype=np.int64))
        return self._synced.top_positions(q, k, pos)

    def search(self, q: F32, k: int) -> tuple[I64, F32]:
        """Row ids and Pixeltable values of the ``k`` closest vectors, best first.

        Through the graph where ``usable``, else exact over the synced set.
        """
        vectors = self._synced
        if vectors is None or not len(self) or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if not self.usable(k):
            return vectors.top_k(q, k)
        pos, scores = self._graph_top(q, k, self._ef_for(k))
        return vectors.rowids[pos], scores

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (temp files renamed, so readers never see half)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.tmp')
        os.close(fd)
        side = Path(str(path) + '.keys.npz')
        try:
            self.index.save(tmp)
            with open(tmp + '.npz', 'wb') as f:
                measured = [self.ef, self.speedup, self.measured_at, self.changed]
                np.savez(f, rowids=self.rowids, keys=self.keys, measured=np.array(measured))
            os.replace(tmp + '.npz', side)
            os.replace(tmp, path)
        finally:
            for leftover in (tmp, tmp + '.npz'):
                if os.path.exists(leftover):
                    os.unlink(leftover)

    @classmethod
    def load(cls, path: Path, metric: Metric, dims: int) -> AnnIndex | None:
        """The index saved at ``path``, or None when there is none (or it does not fit)."""
        side = Path(str(path) + '.keys.npz')
        if not path.exists() or not side.exists():
            return None
        ann = cls(metric, dims)
        try:
            ann.index.load(str(path))
            with np.load(side) as saved:
                rowids, keys, measured = saved['rowids'], saved['keys'], saved['measured']
        except (OSError, ValueError, RuntimeError, KeyError):
            return None  # a cache: rebuilt from the blobs
        if ann.index.ndim != dims or len(ann.index) != len(rowids) or len(measured) != 4:
            return None
        ann.rowids, ann.keys = rowids.astype(np.int64), keys.astype(np.int64)
        ann.ef, ann.speedup = int(measured[0]), float(measured[1])
        ann.measured_at, ann.changed = int(measured[2]), int(measured[3])
        return ann


def exact_top_positions(vectors: VectorSet, queries: F32, k: int) -> list[I64]:
    """Positions of the exact top ``k`` (best first) of each of ``queries`` (prepared).

    One matrix product per chunk of rows for all the queries at once.
    """
    k = min(k, len(vectors))
    best_val = np.empty((len(queries), 0), dtype=np.float32)
    best_pos = np.empty((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), CHUNK_ROWS):
        rows = vectors.vectors[start : start + CHUNK_ROWS]
        block = (rows @ queries.T).T  # queries x rows, larger is closer
        if vectors.metric == 'l2':
            assert vectors.sq_norms is not None
            block = 2 * block - vectors.sq_norms[None, start : start + CHUNK_ROWS]
        vals = np.concatenate([best_val, block], axis=1)
        here = np.broadcast_to(np.arange(start, start + len(rows)), block.shape)
        pos = np.concatenate([best_pos, here], axis=1)
        if vals.shape[1] > k:
            keep = np.argpartition(-vals, k - 1, axis=1)[:, :k]
            vals, pos = np.take_along_axis(vals, keep, 1), np.take_along_axis(pos, keep, 1)
        best_val, best_pos = vals, pos
    order = np.argsort(-best_val, axis=1, kind='stable')
    return list(np.take_along_axis(best_pos, order, 1))


def _probes(vectors: VectorSet, count: int) -> tuple[F32, I64]:
    """Queries to measure recall with, and the two stored vectors each was made of (-1).

    Half lie between two stored vectors (like "rows like this one"), half are drawn from a
    normal distribution with the vectors' mean and spread (off the data, as a text query of
    an image index is).
    """
    rng = np.random.default_rng(len(vectors))
    half = count // 2
    pairs = rng.choice(len(vectors), (half, 2), replace=False)
    between = vectors.vectors[pairs].mean(axis=1)
    sample = vectors.vectors[rng.choice(len(vectors), min(len(vectors), 2000), replace=False)]
    drawn = rng.normal(sample.mean(axis=0), sample.std(axis=0), (count - half, vectors.dims))
    queries = np.concatenate([between, drawn.astype(np.float32)])
    if vectors.metric == 'cosine':
        queries = _normalized(queries)
    made_of = np.concatenate([pairs, np.full((count - half, 2), -1)])
    return queries.astype(np.float32), made_of.astype(np.int64)


def _leave_out(pairs: I64, k: int, found: Sequence[I64]) -> list[I64]:
    """Each query's ``k`` best (best first) without the two stored vectors it was made of."""
    return [pos[~np.isin(pos, pair)][:k] for pair, pos in zip(pairs, found, strict=True)]


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1


def _load_pyarrow_first() -> None:
    """Load pyarrow before usearch, where it is installed.

    Loaded after usearch (its numkong kernels), pyarrow's Parquet reader crashes the process
    (segmentation fault, seen with pyarrow 26.0.1 and usearch 2.26.6): the two libraries'
    native code must load in this order.
    """
    with contextlib.suppress(ImportError):
        import pyarrow.parquet  # noqa: F401


def encode(vec: F32) -> bytes:
    """A vector as stored: float32 little-endian bytes."""
    return np.asarray(vec, dtype='<f4').tobytes()


def decode_many(blobs: Sequence[bytes], dims: int) -> F32:
    """Stored blobs back into an ``(n, dims)`` float32 matrix."""
    if not blobs:
        return np.empty((0, dims), dtype=np.float32)
    return np.frombuffer(b''.join(blobs), dtype='<f4').reshape(len(blobs), dims).astype(np.float32)


def pick_current(index_rows: I64, index_vs: I64, data_rows: I64, data_vs: I64) -> tuple[I64, I64]:
    """For each data row image (row id, ``_v``), the index row it uses, if any.

    The index rows must be sorted by (row id, v). Returns the positions of the data rows
    that have one, and the position of that index row: the same row id with the greatest
    ``v`` not above the row's ``_v``.
    """
    if not len(index_rows) or not len(data_rows):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    shift = np.int64(1) << np.int64(32)
    index_keys = index_rows * shift + index_vs
    data_keys = data_rows * shift + data_vs
    pos = np.searchsorted(index_keys, data_keys, side='right') - 1
    ok = pos >= 0
    safe = np.where(ok, pos, 0)
    ok &= index_rows[safe] == data_rows
    return np.nonzero(ok)[0].astype(np.int64), safe[ok].astype(np.int64)
