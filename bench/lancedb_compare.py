"""Issue 23: LanceDB on the same vectors as ``bench/search.py`` (not part of ``python -m bench``).

LanceDB is not a dependency. Install it apart and point PYTHONPATH at it, e.g.::

    pip install --target /tmp/lancedb_pkg --no-deps lancedb
    pip install --target /tmp/lancedb_deps overrides deprecation lance-namespace
    PYTHONPATH=/tmp/lancedb_pkg:/tmp/lancedb_deps python -m bench.lancedb_compare

It prints, at 10k and 100k 512-d vectors: LanceDB's flat (exact) top-10 latency, then at
100k its IVF_HNSW_SQ index build time, latency and recall@10 against our exact search; and
our exact top-10 latency in the same run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import numpy as np

from bench.search import _data


def main() -> None:
    import lancedb
    import pyarrow as pa

    from reverie.store.vectors import VectorSet

    for n in (10_000, 100_000):
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
        if n == 100_000:
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
    main()
