"""Run one benchmark piece in this process and print its figures as one JSON line.

``python -m bench.piece tables`` — used by ``python -m bench`` so that every piece gets a
fresh interpreter (fresh pools, its own peak RSS) and a fresh temp REVERIE_HOME.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

MARK = 'BENCH-RESULT '


def read_result(stdout: str, mark: str = MARK) -> dict[str, Any] | None:
    """The figures a child process printed (its last ``mark`` line); None if it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(mark):
            return dict(json.loads(line[len(mark) :]))
    return None


def _mod(name: str) -> Any:
    """A bench module, imported only for the piece that runs (its imports count in its RSS)."""
    return importlib.import_module(f'bench.{name}')


def _pieces() -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        'tables': lambda: _mod('tables').tables(),
        'udf': lambda: _mod('compute').trivial_udf(),
        'async_udf': lambda: _mod('compute').trivial_async_udf(),
        'pool': lambda: _mod('compute').async_pool(),
        'bcd': lambda: _mod('compute').pipeline(),
        'reve_limited': lambda: _mod('reve').limited_server(),
        'reve_limited_again': lambda: _mod('reve').limited_server_again(),
        'seed_insert': lambda: _mod('reve').seed('insert', None),
        'seed_add': lambda: _mod('reve').seed('add', None),
        'seed_insert_fixed8': lambda: _mod('reve').seed('insert', 8),
        'seed_insert_no_ledger': lambda: _mod('reve').seed('insert', None, ledger=False),
        'seed_add_fixed8': lambda: _mod('reve').seed('add', 8),
        'seed_insert_again': lambda: _mod('reve').seed('insert', None, runs=2),
        'seed_add_again': lambda: _mod('reve').seed('add', None, runs=2),
        'scale_10000': lambda: _mod('scale').scale(10_000),
        'scale_100000': lambda: _mod('scale').scale(100_000),
        'scale_1000000': lambda: _mod('scale').scale(1_000_000),
        'versions_10000': lambda: _mod('versions').versions_piece(10_000),
        'versions_100000': lambda: _mod('versions').versions_piece(100_000),
        'versions_1000000': lambda: _mod('versions').versions_piece(1_000_000),
        'history_10000': lambda: _mod('versions').history(10_000),
        'history_100000': lambda: _mod('versions').history(100_000),
        'vectors_10000': lambda: _mod('search').vectors(10_000),
        'vectors_100000': lambda: _mod('search').vectors(100_000),
        'vectors_1000000': lambda: _mod('search').vectors(1_000_000),
        'vectors_1000000_exact': lambda: _mod('search').vectors(1_000_000, ann=False),
        'table_search': lambda: _mod('search').table_search(),
        'ui': lambda: _mod('ui').ui_piece(),
        'insert_10000': lambda: _mod('tables').insert_vs_raw(10_000),
        'insert_100000': lambda: _mod('tables').insert_vs_raw(100_000),
        'insert_1000000': lambda: _mod('tables').insert_vs_raw(1_000_000),
        'insert_pg_100000': lambda: _mod('tables').insert_vs_raw_copy(100_000),
        'insert_pg_1000000': lambda: _mod('tables').insert_vs_raw_copy(1_000_000),
        's3': lambda: _mod('s3').s3_piece(),
        'workers_throughput': lambda: _mod('workers').throughput(),
        'workers_rss': lambda: _mod('workers').worker_rss(),
        'workers_coordination': lambda: _mod('workers').coordination(),
        'ui_1000000': lambda: _mod('ui').ui_piece(1_000_000),
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
