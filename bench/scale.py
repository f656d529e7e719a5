"""How cost grows with the table: the same work at 10k, 100k and 1M rows.

``python -m bench.piece scale_100000`` runs one size in its own interpreter (its own peak
RSS); ``python -m bench`` prints the sizes side by side.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.common import Timer, fresh_home, rss_mib

INSERT_BATCH = 100_000


def scale(n_rows: int) -> dict[str, Any]:
    import reverie as rv

    @rv.udf
    def inc(x: int) -> int:
        return x + 1

    @rv.udf
    def is_even(x: int) -> bool:
        return x % 2 == 0

    out: dict[str, Any] = {'rows': n_rows}
    with fresh_home():
        t = rv.create_table('big', {'s': rv.String, 'i': rv.Int, 'f': rv.Float})
        with Timer() as timer:
            for start in range(0, n_rows, INSERT_BATCH):
                stop = min(n_rows, start + INSERT_BATCH)
                t.insert(
                    [{'s': f'row {k}', 'i': k, 'f': k * 0.5} for k in range(start, stop)],
                    print_stats=False,
                )
        out['insert_rows_per_s'] = n_rows / timer.seconds

        with Timer() as timer:
            t.add_computed_column(j=inc(t.i), print_stats=False)
        out['udf_rows_per_s'] = n_rows / timer.seconds

        with Timer() as timer:
            t.add_computed_column(k=t.i * 2 + 1, print_stats=False)
        out['expr_rows_per_s'] = n_rows / timer.seconds

        with Timer() as timer:
            rs = t.where(t.i % 2 == 0).select(t.s, t.j).collect()
        assert len(rs) == (n_rows + 1) // 2
        out['sql_filter_rows_per_s'] = n_rows / timer.seconds

        with Timer() as timer:
            rs = t.where(is_even(t.i)).select(t.s, t.j).collect()
        assert len(rs) == (n_rows + 1) // 2
        out['py_filter_rows_per_s'] = n_rows / timer.seconds
        out['raw_read_rows_per_s'] = _raw_read_rate(n_rows)

        # A 1-row insert into the big table (2 computed columns) vs into an empty one.
        out['insert_one_big_ms'] = _insert_one_ms(t)
        empty = rv.create_table('empty', {'s': rv.String, 'i': rv.Int, 'f': rv.Float})
        empty.add_computed_column(j=inc(empty.i), print_stats=False)
        empty.add_computed_column(k=empty.i * 2 + 1, print_stats=False)
        out['insert_one_empty_ms'] = _insert_one_ms(empty)

        key = n_rows // 3
        out['lookup_unindexed_ms'] = _lookup_ms(t, key)
        with Timer() as timer:
            t.add_index(t.i)
        out['add_index_s'] = timer.seconds
        out['lookup_indexed_ms'] = _lookup_ms(t, key)
        out['expr_raw_rows_per_s'] = _raw_update_rate(n_rows)  # last: it adds SQL columns
    out['rss_mib'] = rss_mib()
    return out


def _insert_one_ms(t: Any) -> float:
    times = []
    for k in range(7):
        start = time.perf_counter()
        t.insert([{'s': 'one more', 'i': 10**9 + k, 'f': 1.0}], print_stats=False)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _lookup_ms(t: Any, key: int) -> float:
    times = []
    for _ in range(7):
        start = time.perf_counter()
        rs = t.where(t.i == key).select(t.s, t.j).collect()
        times.append(time.perf_counter() - start)
        assert len(rs) == 1
    return 1000 * statistics.median(times)


def _data_table(db: Any) -> str:
    """The data table of the 'big' table (the first one made)."""
    (name,) = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rvt_%' "
        'ORDER BY name LIMIT 1'
    ).fetchone()
    return str(name)


def _raw_update_rate(n_rows: int) -> float:
    """The floor of a column computed in SQL (issue 20): sqlite3 adding the same SQL columns
    (value, state, error type and message, metadata) to the same data table and filling the
    value with one ``UPDATE`` of i*2+1, in one transaction."""
    import os
    import sqlite3

    db = sqlite3.connect(os.path.join(os.environ['REVERIE_HOME'], 'r.db'), isolation_level=None)
    name = _data_table(db)
    i = [r[1] for r in db.execute(f'PRAGMA table_info({name})')][5]  # s, i, f after 4 system
    added = ('x BIGINT', "x_s SMALLINT DEFAULT '0' NOT NULL", 'x_et TEXT', 'x_em TEXT', 'x_m JSON')
    with Timer() as timer:
        db.execute('BEGIN IMMEDIATE')
        for column in added:
            db.execute(f'ALTER TABLE {name} ADD COLUMN {column}')
        db.execute(f'UPDATE {name} SET x = {i} * 2 + 1, x_s = 1 WHERE x_s = 0')
        db.execute('COMMIT')
    db.close()
    return n_rows / timer.seconds


def _raw_read_rate(n_rows: int) -> float:
    """The floor of a Python filter (issue 20): sqlite3 reading the data table's row id and
    every stored column of the 'big' table, all rows, nothing else."""
    import os
    import sqlite3

    db = sqlite3.connect(os.path.join(os.environ['REVERIE_HOME'], 'r.db'))
    name = _data_table(db)
    with Timer() as timer:
        rows = db.execute(f'SELECT * FROM {name}').fetchall()
    db.close()
    assert len(rows) == n_rows
    return n_rows / timer.seconds
