"""Run one benchmark piece in this process and print its figures as one JSON line.

``python -m bench.piece tables`` — used by ``python -m bench`` so that every piece gets a
fresh interpreter (fresh pools, its own peak RSS) and a fresh temp REVERIE_HOME.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

MARK = 'BENCH-RESULT '


def _pieces() -> dict[str, Callable[[], dict[str, Any]]]:
    from bench import compute, reve, s3, scale, search, tables, ui, versions, workers

    return {
        'tables': tables.tables,
        'udf': compute.trivial_udf,
        'async_udf': compute.trivial_async_udf,
        'pool': compute.async_pool,
        'bcd': compute.pipeline,
        'reve_limited': reve.limited_server,
        'reve_limited_again': reve.limited_server_again,
        'seed_insert': lambda: reve.seed('insert', None),
        'seed_add': lambda: reve.seed('add', None),
        'seed_insert_fixed8': lambda: reve.seed('insert', 8),
        'seed_insert_no_ledger': lambda: reve.seed('insert', None, ledger=False),
        'seed_add_fixed8': lambda: reve.seed('add', 8),
        'scale_10000': lambda: scale.scale(10_000),
        'scale_100000': lambda: scale.scale(100_000),
        'scale_1000000': lambda: scale.scale(1_000_000),
        'versions_10000': lambda: versions.versions_piece(10_000),
        'versions_100000': lambda: versions.versions_piece(100_000),
        'versions_1000000': lambda: versions.versions_piece(1_000_000),
        'history_10000': lambda: versions.history(10_000),
        'history_100000': lambda: versions.history(100_000),
        'vectors_10000': lambda: search.vectors(10_000),
        'vectors_100000': lambda: search.vectors(100_000),
        'vectors_1000000': lambda: search.vectors(1_000_000),
        'vectors_1000000_exact': lambda: search.vectors(1_000_000, ann=False),
        'table_search': search.table_search,
        'ui': ui.ui_piece,
        'insert_10000': lambda: tables.insert_vs_raw(10_000),
        'insert_100000': lambda: tables.insert_vs_raw(100_000),
        'insert_1000000': lambda: tables.insert_vs_raw(1_000_000),
        'insert_pg_100000': lambda: tables.insert_vs_raw_copy(100_000),
        'insert_pg_1000000': lambda: tables.insert_vs_raw_copy(1_000_000),
        's3': s3.s3_piece,
        'workers_throughput': workers.throughput,
        'workers_rss': workers.worker_rss,
        'workers_coordination': workers.coordination,
        'ui_1000000': lambda: ui.ui_piece(1_000_000),
    }


def main(argv: list[str]) -> None:
    os.environ['REVERIE_PROGRESS'] = '0'
    (name,) = argv
    result = _pieces()[name]()
    from bench.common import rss_mib

    result.setdefault('rss_mib', rss_mib())
    sys.stdout.flush()
    print(MARK + json.dumps(result), flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
