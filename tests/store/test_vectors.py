"""Vector search: exact top-k against a brute-force twin (hypothesis), ANN recall and updates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reverie.store.vectors import AnnIndex, Metric, VectorSet, pick_current


def twin(vectors: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """Pixeltable's value of every vector, computed the plain way in float64."""
    x, q = vectors.astype(np.float64), q.astype(np.float64)
    if metric == 'cosine':
        return (x @ q) / np.maximum(np.linalg.norm(x, axis=1), 1e-30) / np.linalg.norm(q)
    if metric == 'ip':
        return x @ q
    return np.linalg.norm(x - q, axis=1)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    dims=st.integers(1, 24),
    k=st.integers(1, 40),
    metric=st.sampled_from(['cosine', 'ip', 'l2']),
    seed=st.integers(0, 2**32 - 1),
    subset=st.booleans(),
)
def test_exact_top_k_is_the_true_top_k(
    n: int, dims: int, k: int, metric: Metric, seed: int, subset: bool
) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dims)).astype(np.float32)
    rowids = rng.permutation(10 * n)[:n].astype(np.int64)
    q = rng.normal(size=dims).astype(np.float32)
    vset = VectorSet.build(metric, rowids, np.zeros(n, dtype=np.int64), vectors)
    allowed = np.ones(n, dtype=bool)
    positions = None
    if subset:
        allowed = rng.random(n) < 0.5
        positions = vset.positions(rowids[allowed])
    ids, values = vset.top_k(vset.query(q), k, positions)
    truth = twin(vectors, q, metric)
    ranked = np.where(allowed, -truth if metric != 'l2' else truth, np.inf)
    want = min(k, int(allowed.sum()))
    assert len(ids) == want
    # The k-th best value bounds the rest: equal values may be in any order.
    kth = np.sort(ranked)[want - 1] if want else None
    by_row = dict(zip(rowids.tolist(), truth.tolist(), strict=True))
    got = np.array([by_row[int(r)] for r in ids])
    assert np.allclose(values, got, atol=1e-4)
    if want:
        assert np.all((-got if metric != 'l2' else got) <= kth + 1e-4)
    assert len(set(ids.tolist())) == len(ids)
    assert all(allowed[np.nonzero(rowids == r)[0][0]] for r in ids)
    step = -1 if metric != 'l2' else 1
    assert np.all(np.diff(values) * step >= -1e-5)  # best first


def test_reverse_gives_the_farthest() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    vset = VectorSet.build('l2', np.arange(50, dtype=np.int64), np.zeros(50, dtype=np.int64), x)
    q = rng.normal(size=8).astype(np.float32)
    ids, _ = vset.top_k(vset.query(q), 3, reverse=True)
    assert ids.tolist() == np.argsort(-twin(x, q, 'l2'))[:3].tolist()


FRESH_RECALL = 0.9  # recall@10 on queries the index did not measure itself with


@pytest.mark.parametrize('metric', ['cosine', 'ip', 'l2'])
def test_ann_recall_and_incremental_sync(metric: Metric, tmp_path: Path) -> None:
    """recall@10 >= 0.9 against exact on fresh queries; removes and adds follow.

    The index reaches ``ANN_RECALL`` (0.97) on its own sample of 64 queries; 50 fresh ones
    spread around it, and the graph (built on every core) differs from run to run: 0.934 was
    seen once in CI's second run of this file, so 0.95 here was a flaky bound.
    """
    rng = np.random.default_rng(7)
    n, dims = 4000, 64
    x = rng.normal(size=(n, dims)).astype(np.float32)
    rowids = np.arange(1, n + 1, dtype=np.int64)
    vset = VectorSet.build(metric, rowids, np.zeros(n, dtype=np.int64), x)
    ann = AnnIndex(metric, dims, timed=False)  # the graph, even where exact is as fast
    assert ann.sync(vset) == n
    assert ann.ef > 0 and ann.usable(10)
    queries = rng.normal(size=(50, dims)).astype(np.float32)
    assert recall(ann, vset, queries) >= FRESH_RECALL
    ids, values = ann.search(vset.query(queries[0]), 10)
    exact = dict(zip(*[a.tolist() for a in vset.top_k(vset.query(queries[0]), n)], strict=True))
    assert np.allclose(values, [exact[i] for i in ids.tolist()], atol=1e-3)
    # Rows 1..100 deleted, rows 101..200 re-embedded (new key): the index follows.
    keep = rowids > 100
    keys = np.where(rowids <= 200, 1, 0)[keep].astype(np.int64)
    moved = x[keep].copy()
    moved[:100] = rng.normal(size=(100, dims))
    vset2 = VectorSet.build(metric, rowids[keep], keys, moved)
    assert ann.sync(vset2) == 300  # 100 gone, 100 replaced (removed and added)
    assert len(ann.index) == n - 100
    assert recall(ann, vset2, queries) >= FRESH_RECALL
    path = tmp_path / 'x.usearch'
    ann.save(path)
    again = AnnIndex.load(path, metric, dims)
    assert again is not None and again.sync(vset2) == 0
    assert (again.ef, again.speedup) == (ann.ef, ann.speedup)  # its measure kept with it
    assert recall(again, vset2, queries) >= FRESH_RECALL
    assert AnnIndex.load(tmp_path / 'missing.usearch', metric, dims) is None


@pytest.mark.parametrize('timed', [False, True])
def test_ann_recall_on_gaussian_512d(timed: bool) -> None:
    """i.i.d. Gaussian 512-d vectors, the worst case for HNSW (recall@10 0.84 here at the
    fixed expansion_search 128 of before): the index measures how far to search, and is
    exact where even that is not enough (``timed``: or where exact search is faster)."""
    rng = np.random.default_rng(11)
    n, dims = 3000, 512
    x = rng.standard_normal((n, dims), dtype=np.float32)
    vset = VectorSet.build(
        'cosine', np.arange(1, n + 1, dtype=np.int64), np.zeros(n, dtype=np.int64), x
    )
    ann = AnnIndex('cosine', dims, timed=timed)
    ann.sync(vset)
    if not timed:
        assert ann.ef > 128 and ann.usable(10)  # searched further than the fixed setting
    assert recall(ann, vset, rng.standard_normal((40, dims), dtype=np.float32)) >= FRESH_RECALL


def test_ann_is_exact_where_no_depth_reaches_the_recall(monkeypatch: pytest.MonkeyPatch) -> None:
    from reverie.store import vectors

    monkeypatch.setattr(vectors, 'ANN_EF', (1,))  # too shallow for any recall
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2000, 256), dtype=np.float32)
    vset = VectorSet.build('l2', np.arange(2000, dtype=np.int64), np.zeros(2000, dtype=np.int64), x)
    ann = AnnIndex('l2', 256, timed=False)
    ann.sync(vset)
    assert ann.ef == 0 and not ann.usable(10)
    q = vset.query(rng.standard_normal(256, dtype=np.float32))
    ids, values = ann.search(q, 10)
    want_ids, want_values = vset.top_k(q, 10)
    assert ids.tolist() == want_ids.tolist() and np.allclose(values, want_values)


def recall(ann: AnnIndex, vset: VectorSet, queries: np.ndarray, k: int = 10) -> float:
    hits = 0
    for q in queries:
        prepared = vset.query(q)
        truth = set(vset.top_k(prepared, k)[0].tolist())
        hits += len(truth & set(ann.search(prepared, k)[0].tolist()))
    return hits / (k * len(queries))


def test_pick_current_takes_the_latest_vector_not_after_the_row() -> None:
    index_rows = np.array([1, 1, 1, 2, 4], dtype=np.int64)
    index_vs = np.array([0, 3, 5, 2, 1], dtype=np.int64)
    data_rows = np.array([1, 1, 2, 3, 4], dtype=np.int64)
    data_vs = np.array([4, 5, 1, 0, 7], dtype=np.int64)
    rows, picked = pick_current(index_rows, index_vs, data_rows, data_vs)
    assert rows.tolist() == [0, 1, 4]  # row 2 at _v 1 predates its vector; row 3 has none
    assert picked.tolist() == [1, 2, 4]
