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
        rows = self.vectors if positions is None else self.vectors[positions]
        out = np.empty(len(rows), dtype=np.float32)
        for start in range(0, len(rows), CHUNK_ROWS):
            out[start : start + CHUNK_ROWS] = rows[start : start + CHUNK_ROWS] @ q
        if self.metric == 'l2':
            assert self.sq_norms is not None
            sq = self.sq_norms if positions is None else self.sq_norms[positions]
            out = np.sqrt(np.maximum(sq - 2 * out + float(q @ q), 0)).astype(np.float32)
        return out

    def top_k(
        self, q: F32, k: int, positions: I64 | None = None, *, reverse: bool = False
    ) -> tuple[I64, F32]:
        """Row ids and values of the ``k`` closest vectors (among ``positions``), best first.

        ``reverse``: the ``k`` farthest, farthest first.
        """
        scores = self.scores(q, positions)
        ranked = -scores if better_first(self.metric) != reverse else scores
        k = min(k, len(scores))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        best = np.argpartition(ranked, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        best = best[np.argsort(ranked[best], kind='stable')]
        where = best if positions is None else positions[best]
        return self.rowids[where], scores[best]


_USEARCH_METRIC = {'cosine': 'Cos', 'ip': 'IP', 'l2': 'L2sq'}


class AnnIndex:
    """An HNSW index (usearch) over a ``VectorSet``'s vectors, keyed by row id.

    ``sync`` brings it in line with a set: it removes the rows gone or re-embedded and adds
    the new vectors, so a write costs the rows it changed. ``save``/``load`` keep it in a
    file next to the database; the file is a cache, rebuilt from the blobs when missing.
    """

    def __init__(self, metric: Metric, dims: int, *, connectivity: int = 16) -> None:
        _load_pyarrow_first()
        from usearch.compiled import MetricKind, ScalarKind
        from usearch.index import Index

        self.metric = metric
        self.dims = dims
        self.index = Index(
            ndim=dims,
            metric=getattr(MetricKind, _USEARCH_METRIC[metric]),
            dtype=ScalarKind.F32,
            connectivity=connectivity,
            expansion_add=128,
            expansion_search=128,
        )
        self.rowids: I64 = np.empty(0, dtype=np.int64)  # sorted, with their vector keys
        self.keys: I64 = np.empty(0, dtype=np.int64)
        self._synced: VectorSet | None = None  # the set last synced with (nothing to do)

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
            pos = vectors.positions(new)
            self.index.add(new.astype(np.uint64), vectors.vectors[pos], threads=0)
        if len(gone) or len(new):
            self.rowids, self.keys = vectors.rowids.copy(), vectors.keys.copy()
        self._synced = vectors
        return len(gone) + len(new)

    def search(self, q: F32, k: int) -> tuple[I64, F32]:
        """Row ids and Pixeltable values of about the ``k`` closest vectors, best first."""
        if not len(self) or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        found = self.index.search(q.astype(np.float32), min(k, len(self)))
        keys = np.asarray(found.keys, dtype=np.int64)
        dist = np.asarray(found.distances, dtype=np.float32)
        # usearch gives squared l2, 1 - cos and 1 - dot; Pixeltable's values are these
        values = np.sqrt(np.maximum(dist, 0)) if self.metric == 'l2' else 1.0 - dist
        return keys, values.astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (a temp file renamed, so readers never see half)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.tmp')
        os.close(fd)
        try:
            self.index.save(tmp)
            np.save(tmp + '.keys.npy', np.stack([self.rowids, self.keys]))
            os.replace(tmp + '.keys.npy', str(path) + '.keys.npy')
            os.replace(tmp, path)
        finally:
            for leftover in (tmp, tmp + '.keys.npy'):
                if os.path.exists(leftover):
                    os.unlink(leftover)

    @classmethod
    def load(cls, path: Path, metric: Metric, dims: int) -> AnnIndex | None:
        """The index saved at ``path``, or None when there is none (or it does not fit)."""
        keys_path = Path(str(path) + '.keys.npy')
        if not path.exists() or not keys_path.exists():
            return None
        ann = cls(metric, dims)
        try:
            ann.index.load(str(path))
            both = np.load(keys_path)
        except (OSError, ValueError, RuntimeError):
            return None  # a cache: rebuilt from the blobs
        if ann.index.ndim != dims or both.shape[0] != 2 or len(ann.index) != both.shape[1]:
            return None
        ann.rowids, ann.keys = both[0].astype(np.int64), both[1].astype(np.int64)
        return ann


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
