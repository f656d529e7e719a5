"""Issue 23: LanceDB on the same vectors as ``bench/search.py`` (not part of ``python -m bench``).

LanceDB is not a dependency. Install it apart and point PYTHONPATH at it, e.g.::

    pip install --target /tmp/lancedb_pkg --no-deps lancedb
    pip install --target /tmp/lancedb_deps --no-deps overrides deprecation lance-namespace \
        lance-namespace-urllib3-client
    PYTHONPATH=/tmp/lancedb_pkg:/tmp/lancedb_deps python -m bench.lancedb_compare

It prints, at 10k and 100k 512-d vectors: LanceDB's flat (exact) top-10 latency, then at
100k its IVF_HNSW_SQ index build time, latency and recall@10 against our exact search; and
ours in the same run: exact top-10 latency, and at 100k our ANN index (build, latency,
recall). ``--1m`` adds 1M vectors (LanceDB flat and IVF_HNSW_SQ, ours exact and ANN: long).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench.search import _data


def main(argv: list[str]) -> None:
    import lancedb
    import pyarrow as pa

    from bench.search import _ann
    from reverie.store.vectors import VectorSet

    for n in (10_000, 100_000, 1_000_000) if '--1m' in argv else (10_000, 100_000):
        x, queries = _data(n)
        vset = VectorSet.build(
            'cosine', np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64), x
        )
        truth = [set(vset.top_k(vset.query(q), 10)[0].tolist()) for q in queries]
        ours = []
        for q in queries:
            t0 = time.perf_counter()
            vset.top_k(vset.query(q), 10)
            ours.append(time.perf_counter() - t0)
        db = lancedb.connect(tempfile.mkdtemp())
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), x.shape[1])
        tbl = db.create_table('v', pa.table({'id': np.arange(n), 'vector': vectors}))

        flat_ms, flat_recall = _search(tbl, queries, truth)
        print(
            f'{n:,}: ours exact {1000 * statistics.median(ours):.1f} ms; LanceDB flat '
            f'{flat_ms:.1f} ms (recall {flat_recall:.3f})',
            flush=True,
        )
        if n >= 100_000:
            _, ann = _ann(vset, [vset.query(q) for q in queries], truth)
            print(
                f'  ours ANN: build {ann["ann_build_s"]:.1f} s, {ann["ann_ms_median"]:.2f} ms, '
                f'recall {ann["recall_at_10"]:.3f} (ef {ann["ann_ef"]}, graph {ann["ann_graph"]})',
                flush=True,
            )
            t0 = time.perf_counter()
            tbl.create_index(metric='cosine', vector_column_name='vector', index_type='IVF_HNSW_SQ')
            built = time.perf_counter() - t0
            ann_ms, recall = _search(tbl, queries, truth)
            print(
                f'  LanceDB IVF_HNSW_SQ: build {built:.1f} s, {ann_ms:.2f} ms, recall {recall:.3f}'
            )


def _search(tbl: Any, queries: np.ndarray, truth: list[set[int]]) -> tuple[float, float]:
    """LanceDB's median top-10 latency (ms) and recall@10 against ``truth``."""
    times, hits = [], 0
    for q, want in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        found = tbl.search(q).metric('cosine').limit(10).to_arrow()
        times.append(time.perf_counter() - t0)
        hits += len(want & set(found['id'].to_pylist()))
    return 1000 * statistics.median(times), hits / (10 * len(queries))


if __name__ == '__main__':
    main(sys.argv[1:])
