"""Issue 23: vector search. Top-10 latency exact and ANN over 10k / 100k / 1M 512-d vectors,
ANN build rate and recall@10 against exact, memory; and the whole road through a table.

``python -m bench.search`` runs these pieces alone and prints their rows (``--quick``: the
1M piece without its ANN index); ``python -m bench`` includes them.

Vectors: 512-d float32 drawn around 1,000 random centres (embeddings cluster), queries near
random stored vectors; cosine. At 10k and 100k the same is measured over i.i.d. Gaussian
vectors too (no structure: the worst case for HNSW). ``vectors_N`` times ``VectorSet``
(exact: one matrix-vector product and ``argpartition``) and ``AnnIndex`` (usearch HNSW,
M=16, ef_add=128, bfloat16, re-ranked exactly; its search depth measured at build, exact
search where no depth reaches recall@10 0.97 or the graph is not faster) directly.
``vectors_1000000_exact`` (the quick bench) leaves the 1M ANN build out: on 2 shared cores it
takes long; ``vectors_1000000`` (the full bench) builds it. At 10k, the build with the
settings before issue 23's fix (float32, usearch's cosine, ``threads=0``) runs in the same
process for the before/after rate. ``table_search`` is the user's road: a 10,000-row
table, ``add_embedding_index`` with a 512-d UDF (embedding and storing every row), then
``t.order_by(sim, asc=False).limit(10).collect()``.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

import reverie as rv
from bench.common import Timer, fresh_home, rss_mib

DIMS = 512
SIZES = (10_000, 100_000, 1_000_000)
QUERIES = 50


def _data(n: int, seed: int = 0, *, gaussian: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if gaussian:  # no structure at all: the worst case for HNSW
        x = rng.standard_normal((n, DIMS), dtype=np.float32)
        return x, rng.standard_normal((QUERIES, DIMS), dtype=np.float32)
    centres = rng.standard_normal((1000, DIMS), dtype=np.float32)
    x = np.empty((n, DIMS), dtype=np.float32)
    for start in range(0, n, 100_000):  # in pieces: the noise would double the peak
        stop = min(start + 100_000, n)
        x[start:stop] = centres[rng.integers(0, 1000, stop - start)]
        x[start:stop] += 0.5 * rng.standard_normal((stop - start, DIMS), dtype=np.float32)
    picks = x[rng.integers(0, n, QUERIES)]
    queries = picks + 0.3 * rng.standard_normal((QUERIES, DIMS), dtype=np.float32)
    return x, queries


def vectors(n: int, *, ann: bool = True) -> dict[str, Any]:
    """Exact and ANN top-10 over ``n`` vectors: latency, build rate, recall, memory."""
    from reverie.store.vectors import VectorSet

    x, queries = _data(n)
    rss_data = rss_mib()
    with Timer() as t_set:
        vset = VectorSet.build(
            'cosine', np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64), x
        )
    del x
    prepared = [vset.query(q) for q in queries]
    exact_ms, truth = [], []
    for q in prepared:
        t0 = time.perf_counter()
        ids, _ = vset.top_k(q, 10)
        exact_ms.append(1000 * (time.perf_counter() - t0))
        truth.append(set(ids.tolist()))
    out: dict[str, Any] = {
        'n': n,
        'queries': len(prepared),
        'set_build_s': t_set.seconds,
        'exact_ms_median': statistics.median(exact_ms),
        'exact_ms_p90': float(np.percentile(exact_ms, 90)),
        'rss_after_set_mib': rss_mib(),
        'rss_data_mib': rss_data,
        'vector_bytes': int(vset.vectors.nbytes),
    }
    if not ann:
        return out
    ann_index, ann_out = _ann(vset, prepared, truth)
    out.update(ann_out)
    # Incremental: 1% of the rows re-embedded, then synced (removes and adds that many).
    k = max(n // 100, 1)
    moved = vset.vectors.copy()
    moved[:k] = np.random.default_rng(1).standard_normal((k, DIMS), dtype=np.float32)
    keys = np.zeros(n, dtype=np.int64)
    keys[:k] = 1
    again = VectorSet.build('cosine', vset.rowids, keys, moved)
    with Timer() as t_sync:
        changed = ann_index.sync(again)
    out['ann_sync_1pct_s'] = t_sync.seconds
    out['ann_sync_changed'] = changed
    out['rss_mib'] = rss_mib()
    del ann_index, again, moved
    if n == SIZES[0]:
        out.update(_build_before_and_after(vset))
    if n < SIZES[-1]:
        out.update({f'{k}_gaussian': v for k, v in _gaussian(n).items()})
    return out


def _ann(vset: Any, prepared: list[Any], truth: list[set[int]]) -> tuple[Any, dict[str, Any]]:
    """Build the ANN index over ``vset`` and time top-10 through it (as a search goes)."""
    from reverie.store.vectors import AnnIndex

    n = len(vset)
    ann = AnnIndex('cosine', DIMS)
    cpu0 = time.process_time()
    with Timer() as t_build:
        ann.sync(vset)  # adds every vector, then measures the search depth
    cpu1 = time.process_time()
    with Timer() as t_measure:
        ann.measure(vset)  # again, to tell the two apart
    cpu_measure = time.process_time() - cpu1
    ann_ms, hits = [], 0
    for q, want in zip(prepared, truth, strict=True):
        t0 = time.perf_counter()
        ids, _ = ann.search(q, 10)
        ann_ms.append(1000 * (time.perf_counter() - t0))
        hits += len(want & set(ids.tolist()))
    return ann, {
        'ann_build_s': t_build.seconds,
        'ann_build_cpu_s': cpu1 - cpu0 - cpu_measure,
        'ann_measure_s': t_measure.seconds,
        'ann_build_per_s': n / max(t_build.seconds - t_measure.seconds, 1e-9),
        'ann_memory_bytes': int(ann.index.memory_usage),
        'ann_ef': ann.ef,
        'ann_graph': ann.usable(10),
        'ann_ms_median': statistics.median(ann_ms),
        'ann_ms_p90': float(np.percentile(ann_ms, 90)),
        'recall_at_10': hits / (10 * len(prepared)),
    }


def _gaussian(n: int) -> dict[str, Any]:
    """The ANN road over i.i.d. Gaussian vectors (no clusters), queries Gaussian too."""
    from reverie.store.vectors import VectorSet

    x, queries = _data(n, 2, gaussian=True)
    vset = VectorSet.build('cosine', np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64), x)
    del x
    prepared = [vset.query(q) for q in queries]
    exact_ms, truth = [], []
    for q in prepared:
        t0 = time.perf_counter()
        truth.append(set(vset.top_k(q, 10)[0].tolist()))
        exact_ms.append(1000 * (time.perf_counter() - t0))
    _, out = _ann(vset, prepared, truth)
    out['exact_ms_median'] = statistics.median(exact_ms)
    return out


def _build_before_and_after(vset: Any) -> dict[str, Any]:
    """The build rate with the settings before the fix and after, on the same vectors."""
    from reverie.store.vectors import AnnIndex, cores

    AnnIndex('cosine', DIMS)  # loads pyarrow before usearch
    from usearch.compiled import MetricKind, ScalarKind
    from usearch.index import Index

    n = len(vset)
    before = Index(
        ndim=DIMS,
        metric=MetricKind.Cos,
        dtype=ScalarKind.F32,
        connectivity=16,
        expansion_add=128,
        expansion_search=128,
    )
    keys = vset.rowids.astype(np.uint64)
    out: dict[str, Any] = {'build_threads': cores()}
    for name, index, threads in (
        ('before', before, 0),  # usearch 2.26: 0 ran on one core
        ('threads', before.copy(), cores()),  # the same, on every core
        ('after', AnnIndex('cosine', DIMS).index, cores()),  # + inner product, bfloat16
    ):
        index.reset()
        cpu0 = time.process_time()
        with Timer() as t_add:
            index.add(keys, vset.vectors, threads=threads)
        out[f'build_{name}_per_s'] = n / t_add.seconds
        out[f'build_{name}_cpu_s'] = time.process_time() - cpu0
    return out


@rv.udf
def emb(s: str) -> rv.Array[(512,), rv.Float]:
    """A stand-in 512-d embedding: 'doc N' lies near centre N % 1000, as in ``_data``."""
    seed = int(s.split()[1])
    v = np.random.default_rng(seed % 1000).standard_normal(DIMS).astype(np.float32)
    return v + 0.5 * np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)


def table_search(n: int = 10_000) -> dict[str, Any]:
    """The user's road: index a table's column with a 512-d UDF, then query top-10."""
    with fresh_home():
        t = rv.create_table('docs', {'s': rv.String})
        t.insert([{'s': f'doc {i}'} for i in range(n)], print_stats=False)
        with Timer() as t_index:
            t.add_embedding_index('s', embedding=emb)
        sim = t.s.similarity('doc 77')
        query = t.order_by(sim, asc=False).limit(10).select(t.s, sim)
        with Timer() as t_first:
            first = query.collect()
        runs = []
        for _ in range(5):
            with Timer() as t_q:
                query.collect()
            runs.append(t_q.seconds)
        with Timer() as t_insert:
            t.insert(s='doc 123456', print_stats=False)
        with Timer() as t_after:
            query.collect()
        assert first['s'][0] == 'doc 77'
        return {
            'n': n,
            'index_build_s': t_index.seconds,
            'index_rows_per_s': n / t_index.seconds,
            'first_query_s': t_first.seconds,
            'query_ms_median': 1000 * statistics.median(runs),
            'insert_one_s': t_insert.seconds,
            'query_after_insert_s': t_after.seconds,
        }


def piece_names(quick: bool) -> list[str]:
    """The pieces ``python -m bench`` runs for issue 23 (``quick``: no ANN index at 1M)."""
    last = f'vectors_{SIZES[-1]}' + ('_exact' if quick else '')
    return [f'vectors_{n}' for n in SIZES[:-1]] + [last, 'table_search']


def main(argv: list[str]) -> None:
    from bench.__main__ import run_section, search_rows

    run_section(piece_names('--quick' in argv), search_rows)


if __name__ == '__main__':
    main(sys.argv[1:])
