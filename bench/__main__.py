"""``python -m bench``: run every piece in a fresh process and print one table of figures."""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.piece import read_result
from bench.pixeltable_compare import bench_rows as pixeltable_rows
from bench.pixeltable_compare import bench_section as pixeltable_section
from bench.search import piece_names as search_pieces
from bench.tables import import_time
from bench.versions import piece_names as versions_pieces

PIECES = [
    'tables',
    'udf',
    'async_udf',
    'pool',
    'bcd',
    'reve_limited',
    'reve_limited_again',
    'seed_insert_again',
    'seed_insert_no_ledger',
    'seed_add_again',
    'ui',
    's3',
    'workers_throughput',
    'workers_coordination',
]
SCALES = [10_000, 100_000, 1_000_000]


@dataclass
class Row:
    section: str
    figure: str
    measured: str
    bound: str
    target: str
    ok: bool | None  # None: information only
    reference: str = ''


def run_piece(name: str) -> dict[str, Any]:
    env = {**os.environ, 'REVERIE_PROGRESS': '0'}
    proc = subprocess.run(
        [sys.executable, '-m', 'bench.piece', name], capture_output=True, text=True, env=env
    )
    result = read_result(proc.stdout)
    if result is not None:
        return result
    sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
    raise SystemExit(f'bench piece {name!r} failed (exit {proc.returncode})')


def _pct(x: float) -> str:
    return f'{100 * x:.0f}%'


def rows_for(r: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    imp = r['import']['import_s']
    floor = r['import']['sqlalchemy_import_s']
    rows.append(
        Row(
            '2 tables',
            'import reverie (median of 3)',
            f'{imp:.3f} s',
            f'import sqlalchemy alone {floor:.3f} s',
            '< 0.3 s',
            imp < 0.3,
            '1.5 s',
        )
    )
    t = r['tables']
    ratio = t['insert_rows_per_s'] / t['raw_rows_per_s']
    rows.append(
        Row(
            '2 tables',
            'insert 10,000 rows str/int/float (best of 3)',
            f'{t["insert_rows_per_s"]:,.0f} rows/s',
            f'raw SQLAlchemy {t["raw_rows_per_s"]:,.0f} rows/s',
            '>= 250,000 rows/s',
            t['insert_rows_per_s'] >= 250_000,
            '24,700 rows/s',
        )
    )
    rows.append(
        Row('2 tables', '  insert vs raw executemany', _pct(ratio), 'ratio', '>= 50%', ratio >= 0.5)
    )
    rows.append(
        Row(
            '2 tables',
            'insert 200 PNGs 512x512 by path (best of 3)',
            f'{t["images_per_s"]:,.0f} rows/s',
            '',
            '>= 1,000 rows/s',
            t['images_per_s'] >= 1000,
            '213 images/s',
        )
    )
    rows.append(
        Row(
            '2 tables',
            'collect 10,000 rows (best of 3)',
            f'{t["collect_rows_per_s"]:,.0f} rows/s',
            '',
            '>= 500,000 rows/s',
            t['collect_rows_per_s'] >= 500_000,
            '66,000 rows/s',
        )
    )
    rows.append(
        Row(
            '2 tables',
            'peak RSS, table part (own process)',
            f'{t["tables_rss_mib"]:.0f} MiB',
            '',
            '< 150 MiB',
            t['tables_rss_mib'] < 150,
            '480 MiB',
        )
    )
    whole = r['whole_rss_mib']
    rows.append(
        Row('2 tables', 'peak RSS, any bench process', f'{whole:.0f} MiB', '', '(info)', None)
    )
    u = r['udf']['udf_rows_per_s']
    rows.append(
        Row(
            '3 compute',
            'trivial UDF x+1, 10,000 rows',
            f'{u:,.0f} rows/s',
            '',
            '>= 150,000 rows/s',
            u >= 150_000,
            '16,800 rows/s',
        )
    )
    a = r['async_udf']['async_udf_rows_per_s']
    rows.append(
        Row(
            '8 paid',
            'free async UDF x+1, 10,000 rows (no ledger for free functions)',
            f'{a:,.0f} rows/s',
            '',
            '(info)',
            None,
        )
    )
    # The later run (pools start where the last run ended), as the plain UDFs start at their
    # ceiling: the first run's starting window is a choice of the paid-call layer, not a cost.
    with_ledger, without = r['seed_insert_again']['wall_s'], r['seed_insert_no_ledger']['wall_s']
    rows.append(
        Row(
            '8 paid',
            'Reve seed insert: paid-call layer overhead',
            f'{with_ledger:.2f} s with, {without:.2f} s without '
            f'({100 * (with_ledger / without - 1):+.1f}%)',
            '',
            '<= +5%',
            with_ledger <= without * 1.05,
        )
    )
    p = r['pool']
    eff = p['pool_bound_s'] / p['pool_wall_s']
    rows.append(
        Row(
            '3 compute',
            'async 1 s UDF, 40 rows, pool limit 8',
            f'{p["pool_wall_s"]:.2f} s (eff {_pct(eff)})',
            f'{p["pool_bound_s"]:.1f} s',
            'eff >= 90%',
            eff >= 0.9,
        )
    )
    b = r['bcd']
    rows.append(
        Row(
            '3 compute',
            'insert 20 rows, b=f(a) c=g(a) d=h(b,c)',
            f'{b["bcd_wall_s"]:.2f} s',
            f'{b["bcd_bound_s"]:.1f} s',
            '<= 2.4 s',
            b['bcd_wall_s'] <= 2.4,
            '~7 s',
        )
    )
    q = r['reve_limited']
    eff = q['bound_s'] / q['wall_s']
    rows.append(
        Row(
            '3 compute',
            'Reve 3 cols x 20 rows, server limit 4, default settings',
            f'{q["wall_s"]:.2f} s (eff {_pct(eff)})',
            f'{q["bound_s"]:.1f} s',
            'eff >= 90%',
            eff >= 0.9,
        )
    )
    rejected_share = q['rejected_429'] / max(q['calls'], 1)
    rows.append(
        Row(
            '9 engine',
            '  429 rejections',
            f'{q["rejected_429"]} = {_pct(rejected_share)} of {q["calls"]} calls '
            f'(ok {q["ok_calls"]}, peak {q["server_peak"]})',
            '',
            '<= 10% of calls',
            rejected_share <= 0.10,
        )
    )
    rows += limited_again_rows(r['reve_limited_again'])
    rows += seed_rows(r)
    rows += scale_rows(r)
    rows += speed_rows(r)
    rows += versions_rows(r)
    rows += search_rows(r)
    rows += ui_rows(r['ui'], r.get('ui_1000000'))
    rows += s3_rows(r['s3'])
    rows += workers_rows(r)
    if r.get('pixeltable'):  # issue 20: measured in this run, where a Pixeltable venv exists
        rows += [Row('20 vs pxt', *row) for row in pixeltable_rows(r['pixeltable'])]
    return rows


def limited_again_rows(q: dict[str, Any]) -> list[Row]:
    """Issue 20: the server that takes 4 at once, later run (the pool starts at its limit)."""
    eff = q['bound_s'] / q['wall_s']
    refused = q['rejected_429'] / max(q['calls'], 1)
    return [
        Row(
            '20 speed',
            'insert 20 rows, 3 cols, server limit 4, later run',
            f'{q["wall_s"]:.2f} s (eff {_pct(eff)}), {q["rejected_429"]} refused of '
            f'{q["calls"]} ({_pct(refused)})',
            f'{q["bound_s"]:.1f} s',
            'eff >= 90%, <= 5% refused',
            eff >= 0.9 and refused <= 0.05,
        ),
        Row(
            '20 speed',
            '  first run (empty ledger)',
            f'{q["first_run_wall_s"]:.2f} s, {q["first_run_rejected_429"]} refused of '
            f'{q["first_run_calls"]}',
            '',
            '(info)',
            None,
        ),
    ]


def seed_rows(r: dict[str, Any]) -> list[Row]:
    """Issues 4 and 20: the Reve seed workflow, later run (learned pools) and first run."""
    rows: list[Row] = []
    for key, label in (
        ('seed_insert_again', 'insert 20 rows, 3 cols ready'),
        ('seed_add_again', 'add 3 cols to 20 rows'),
    ):
        s = r[key]
        one_each = s['ok_calls'] == 60 and s['calls'] == 60
        steps = ' + '.join(f'{x:.2f}' for x in s['steps_s'])
        eff = s['bound_s'] / s['wall_s']
        rows.append(
            Row(
                '4 reve seed',
                f'{label} (1 s latency, default settings), later run',
                f'{s["wall_s"]:.2f} s (eff {_pct(eff)})' + (f' ({steps})' if steps else ''),
                f'{s["bound_s"]:.1f} s',
                'eff >= 90% (issue 20)',
                eff >= 0.9,
                '9.3 s' if key == 'seed_add_again' else '',
            )
        )
        first_steps = ' + '.join(f'{x:.2f}' for x in s['first_run_steps_s'])
        rows.append(
            Row(
                '4 reve seed',
                '  first run (empty ledger: at most 8 paid calls before the first answer)',
                f'{s["first_run_wall_s"]:.2f} s (eff {_pct(s["bound_s"] / s["first_run_wall_s"])})'
                + (f' ({first_steps})' if first_steps else ''),
                f'{s["bound_s"]:.1f} s',
                '(info)',
                None,
            )
        )
        rows.append(
            Row(
                '4 reve seed',
                '  calls / server peak concurrency (later run)',
                f'{s["calls"]} calls, peak {s["server_peak"]}, '
                f'server-side {s["server_mean_call_s"]:.2f} s/call',
                '60 cells',
                'one call per cell',
                one_each,
            )
        )
    return rows


def workers_rows(r: dict[str, Any]) -> list[Row]:
    """Issue 18: workers sharing one database and one limit (bench/workers.py)."""
    t, c, m = r['workers_throughput'], r['workers_coordination'], r.get('workers_rss')
    rows = [
        Row(
            '18',
            f'{n} workers x 8, limit 64, {t["cells"]} cells of 1 s ({t["database"]})',
            f'{t[f"cells_per_s_{n}"]:.1f} cells/s'
            + (f' ({t[f"ratio_{n}"]:.2f}x)' if n > 1 else ''),
            f'{t[f"refused_{n}"]} refused',
            {1: '(base)', 2: '>= 1.8x', 4: '>= 3.4x'}[n],
            None if n == 1 else t[f'ratio_{n}'] >= {2: 1.8, 4: 3.4}[n],
        )
        for n in (1, 2, 4)
    ]
    rows += [
        Row(
            '18',
            f'{n} simulated workers, DB work per cell ({c["database"]})',
            f'{c[f"cells_per_s_{n}"]:.0f} cells/s',
            f'DB CPU {c[f"db_cpu_ms_per_cell_{n}"]:.2f} ms/cell',
            '(info)',
            None,
        )
        for n in (32, 64)
    ]
    if m is not None:
        rows.append(
            Row(
                '18',
                f'worker peak RSS after {m["cells"]} cells',
                f'{m["worker_peak_rss_mib"]:.0f} MiB',
                f'{m["cells_per_s"]:.0f} cells/s',
                '(info)',
                None,
            )
        )
    return rows


def s3_rows(s: dict[str, Any]) -> list[Row]:
    """Issue 18: media in an object store (moto's S3 server in its own process)."""
    kb = s['upload_mib'] * 1024 / s['uploads']
    over = s['seed_bucket_s'] / s['seed_local_s'] - 1
    return [
        Row(
            '18 s3',
            f'uploads to moto, {s["uploads"]} PNGs of {kb:.0f} KB (1 writer / 8 threads)',
            f'{s["uploads_per_s_1"]:.1f} / {s["uploads_per_s_8"]:.1f} per s',
            f'{s["mib_per_s_1"]:.1f} / {s["mib_per_s_8"]:.1f} MiB/s; cold reads '
            f'{s["cold_reads_per_s"]:.0f}/s',
            '(info)',
            None,
        ),
        Row(
            '18 s3',
            'Reve seed insert: media in a bucket vs a local folder (best of 2 each)',
            f'{s["seed_bucket_s"]:.2f} s vs {s["seed_local_s"]:.2f} s ({100 * over:+.0f}%)',
            '',
            '(info)',
            None,
        ),
    ]


def ui_rows(u: dict[str, Any], big: dict[str, Any] | None) -> list[Row]:
    """Issue 21: ``reverie ui`` on a 100k-row table (its own process, timed over loopback)."""
    ms = 1000
    rows = []
    if big is not None:  # the full run: the same page on 1M rows
        rows.append(
            Row(
                '21 ui',
                'grid page first byte, 1M rows (keyset paging)',
                f'{big["ui_grid_ttfb_s"] * ms:.1f} ms',
                f'after row 999,000 {big["ui_deep_ttfb_s"] * ms:.1f} ms; sorted, no index '
                f'{big["ui_sorted_ttfb_s"] * ms:.0f} ms',
                '(info)',
                None,
            )
        )
    return [
        *rows,
        Row(
            '21 ui',
            'grid page first byte, 100k rows (warm, median of 7)',
            f'{u["ui_grid_ttfb_s"] * ms:.1f} ms',
            f'after row 99,000 {u["ui_deep_ttfb_s"] * ms:.1f} ms',
            '< 100 ms',
            u['ui_grid_ttfb_s'] < 0.1,
        ),
        Row(
            '21 ui',
            '48 thumbnails, one after another (warm cache)',
            f'{u["ui_thumbs48_warm_s"]:.2f} s',
            f'cold (made and cached) {u["ui_thumbs48_cold_s"]:.2f} s',
            '< 1 s',
            u['ui_thumbs48_warm_s'] < 1.0,
        ),
        Row(
            '21 ui',
            'grid sorted by an Int column without index, first byte',
            f'{u["ui_sorted_ttfb_s"] * ms:.1f} ms',
            '',
            '(info)',
            None,
        ),
    ]


def scale_rows(r: dict[str, Any]) -> list[Row]:
    """The same work at 10k / 100k / 1M rows, side by side; targets apply to the 1M column."""
    runs = [r[f'scale_{n}'] for n in SCALES if f'scale_{n}' in r]
    if not runs:
        return []
    big = runs[-1]

    def side(key: str, fmt: str) -> str:
        return ' | '.join(format(run[key], fmt) for run in runs)

    sizes = ' | '.join(f'{run["rows"]:,}' for run in runs)
    rows = [Row('9 scale', f'rows: {sizes}', '', '', '', None)]
    for key, label, target, ok in (
        ('insert_rows_per_s', 'insert (batches of 100k), rows/s', '>= 200,000', 200_000),
        ('udf_rows_per_s', 'trivial UDF column, rows/s', '>= 150,000', 150_000),
        ('expr_rows_per_s', 'expression column i*2+1 (SQL), rows/s', '>= 1,000,000', 1_000_000),
        ('sql_filter_rows_per_s', 'where(i % 2 == 0) collect, rows/s', '>= 500,000', 500_000),
        ('py_filter_rows_per_s', 'where(udf(i)) collect, rows/s', '>= 200,000', 200_000),
    ):
        rows.append(Row('9 scale', label, side(key, ',.0f'), '', target, big[key] >= ok))
    if all('expr_raw_rows_per_s' in x for x in runs):
        ratios = ' | '.join(f'{x["expr_rows_per_s"] / x["expr_raw_rows_per_s"]:.2f}x' for x in runs)
        rows.append(
            Row('9 scale', '  expression column vs raw UPDATE', ratios, '1.0x', '(info)', None)
        )
    ratio = big['insert_one_big_ms'] / big['insert_one_empty_ms']
    rows.append(
        Row(
            '9 scale',
            'insert 1 row, 2 computed cols, ms',
            side('insert_one_big_ms', '.2f'),
            'empty table: ' + side('insert_one_empty_ms', '.2f'),
            '<= 2x empty and <= 10 ms',
            ratio <= 2 and big['insert_one_big_ms'] <= 10,
        )
    )
    rows.append(
        Row(
            '9 scale',
            'point lookup where(i == k), indexed, ms',
            side('lookup_indexed_ms', '.2f'),
            'unindexed: ' + side('lookup_unindexed_ms', '.1f'),
            '<= 5 ms',
            big['lookup_indexed_ms'] <= 5,
        )
    )
    rows.append(
        Row(
            '9 scale',
            'peak RSS of the run, MiB',
            side('rss_mib', '.0f'),
            '',
            '<= 300 MiB',
            big['rss_mib'] <= 300,
        )
    )
    return rows


def speed_rows(r: dict[str, Any]) -> list[Row]:
    """Issue 20: the distance to the raw floor, as ratios measured in one run."""
    rows: list[Row] = []
    for db, floor in (('', 'sqlite3.executemany'), ('pg_', 'psycopg COPY')):
        for n in SCALES:
            x = r.get(f'insert_{db}{n}')
            if not x:
                continue
            ratio = x[f'insert_{db}{n}_vs_raw']
            rows.append(
                Row(
                    '20 speed',
                    f'insert {n:,} rows{" (PostgreSQL)" if db else ""} vs raw',
                    f'{ratio:.2f}x ({x[f"insert_{db}{n}_rows_per_s"]:,.0f} rows/s)',
                    f'raw {floor} {x[f"insert_{db}{n}_raw_rows_per_s"]:,.0f} rows/s',
                    '>= 0.6x',
                    ratio >= 0.6 if n >= 100_000 else None,
                )
            )
    for n in SCALES:
        x = r.get(f'scale_{n}')
        if x and 'raw_read_rows_per_s' in x:
            ratio = x['py_filter_rows_per_s'] / x['raw_read_rows_per_s']
            rows.append(
                Row(
                    '20 speed',
                    f'where(is_even(i)) over {n:,} rows vs raw read',
                    f'{ratio:.2f}x ({x["py_filter_rows_per_s"]:,.0f} rows/s)',
                    f'raw sqlite3 read {x["raw_read_rows_per_s"]:,.0f} rows/s',
                    '>= 300,000 rows/s',
                    x['py_filter_rows_per_s'] >= 300_000,
                )
            )
    return rows


def versions_rows(r: dict[str, Any]) -> list[Row]:
    """Issue 11: insert/collect against the tree before versioning, time travel, storage."""
    rows: list[Row] = []
    for n in (10_000, 100_000, 1_000_000):
        v = r.get(f'versions_{n}')
        if v is None:
            continue
        runs = f'median of {v["rounds"]} alternating runs'
        for key, cpu, label in (
            ('insert_s', 'insert_cpu_s', f'insert {n:,} rows in one call'),
            ('collect_s', 'collect_cpu_s', f'collect {n:,} rows'),
            ('single_ms', 'single_cpu_ms', '1,000 single-row inserts, per insert'),
        ):
            if f'after_{key}' not in v:
                continue
            after, before = v[f'after_{key}'], v[f'before_{key}']
            cpu_change = v[f'after_{cpu}'] / v[f'before_{cpu}'] - 1
            best_change = min(v[f'after_{key}_runs']) / min(v[f'before_{key}_runs']) - 1
            if key == 'single_ms':
                shown, bound = f'{after:.2f} ms', f'before {before:.2f} ms'
            else:
                shown, bound = f'{n / after:,.0f} rows/s', f'before {n / before:,.0f} rows/s'
            rows.append(
                Row(
                    '11 versions',
                    f'{label} ({runs})',
                    f'{shown} (time {100 * (after / before - 1):+.0f}%, '
                    f'best {100 * best_change:+.0f}%, CPU {100 * cpu_change:+.0f}%)',
                    bound,
                    '<= 10% slower',
                    after <= 1.10 * before,
                )
            )
    for n in (10_000, 100_000):
        h = r.get(f'history_{n}')
        if h is None:
            continue
        now, v3 = h['rows_now'], h['rows_v3']
        rows.append(
            Row(
                '11 versions',
                f'{n:,}-row table, 20 versions: collect t:3 ({v3:,} rows), best of 3',
                f'{h["collect_v3_s"]:.3f} s ({v3 / h["collect_v3_s"]:,.0f} rows/s)',
                f't.collect() {now:,} rows {h["collect_now_s"]:.3f} s',
                '(info)',
                None,
            )
        )
        rows.append(
            Row(
                '11 versions',
                f'  collect t:20 (= now, {now:,} rows) / t.collect()',
                f'{h["collect_v20_s"] / h["collect_now_s"]:.2f}x',
                f'{h["collect_v20_s"]:.3f} s vs {h["collect_now_s"]:.3f} s',
                '(info)',
                None,
            )
        )
        rows.append(
            Row(
                '11 versions',
                '  count() t:3 / now',
                f'{1000 * h["count_v3_s"]:.1f} ms / {1000 * h["count_now_s"]:.1f} ms',
                '',
                '(info)',
                None,
            )
        )
        ratio = h['versioned_bytes'] / h['once_bytes']
        rows.append(
            Row(
                '11 versions',
                f'  storage after VACUUM, {h["history_rows"]:,} history rows',
                f'{h["versioned_bytes"]:,} B ({100 * (ratio - 1):+.0f}%)',
                f'same rows in 1 insert {h["once_bytes"]:,} B',
                '(info)',
                None,
            )
        )
    return rows


def search_rows(r: dict[str, Any]) -> list[Row]:
    """Issue 23: top-10 latency exact and ANN, ANN build rate, recall and memory."""
    rows: list[Row] = []
    for n in (10_000, 100_000, 1_000_000):
        v = r.get(f'vectors_{n}') or r.get(f'vectors_{n}_exact')
        if v is None:
            continue
        mib = v['vector_bytes'] / 2**20
        rows.append(
            Row(
                '23 search',
                f'{n:,} x 512-d cosine: exact top-10 (median of {v.get("queries", 50)})',
                f'{v["exact_ms_median"]:.1f} ms (p90 {v["exact_ms_p90"]:.1f})',
                f'vectors {mib:,.0f} MiB, process {v["rss_after_set_mib"]:,.0f} MiB',
                '(info)',
                None,
            )
        )
        if 'ann_ms_median' not in v:
            rows.append(
                Row(
                    '23 search',
                    '  ANN (usearch HNSW)',
                    'built in the full bench only',
                    '',
                    '',
                    None,
                )
            )
            continue
        for tag, label in (('', 'clustered'), ('_gaussian', 'i.i.d. Gaussian')):
            if f'ann_ms_median{tag}' not in v:
                continue
            graph = 'graph' if v[f'ann_graph{tag}'] else 'exact (graph not used)'
            recall = v[f'recall_at_10{tag}']
            rows.append(
                Row(
                    '23 search',
                    f'  ANN top-10, {label}: {graph}, recall@10 vs exact',
                    f'{v[f"ann_ms_median{tag}"]:.2f} ms (p90 {v[f"ann_ms_p90{tag}"]:.2f}), '
                    f'recall {recall:.3f}, ef {v[f"ann_ef{tag}"]}',
                    f'build {v[f"ann_build_per_s{tag}"]:,.0f} vectors/s '
                    f'({v[f"ann_build_s{tag}"]:.1f} s with {v[f"ann_measure_s{tag}"]:.1f} s '
                    'measuring recall)',
                    'recall >= 0.95' if n == 100_000 else '(info)',
                    recall >= 0.95 if n == 100_000 else None,
                )
            )
        rows.append(
            Row(
                '23 search',
                '  ANN index memory; sync after 1% re-embedded',
                f'{v["ann_memory_bytes"] / 2**20:,.0f} MiB; {v["ann_sync_1pct_s"]:.2f} s',
                f'process {v["rss_mib"]:,.0f} MiB',
                '(info)',
                None,
            )
        )
        if 'build_before_per_s' in v:
            rows.append(
                Row(
                    '23 search',
                    f'  ANN build, same vectors: before / threads / after ({v["build_threads"]} '
                    'cores)',
                    f'{v["build_before_per_s"]:,.0f} / {v["build_threads_per_s"]:,.0f} / '
                    f'{v["build_after_per_s"]:,.0f} vectors/s',
                    f'CPU {v["build_before_cpu_s"]:.1f} / {v["build_threads_cpu_s"]:.1f} / '
                    f'{v["build_after_cpu_s"]:.1f} s',
                    '(info)',
                    None,
                )
            )
    s = r.get('table_search')
    if s is not None:
        rows.append(
            Row(
                '23 search',
                f'table of {s["n"]:,}: add_embedding_index (512-d UDF)',
                f'{s["index_rows_per_s"]:,.0f} rows/s ({s["index_build_s"]:.2f} s)',
                '',
                '(info)',
                None,
            )
        )
        rows.append(
            Row(
                '23 search',
                '  order_by(similarity).limit(10).collect(): first / again',
                f'{s["first_query_s"]:.3f} s / {s["query_ms_median"]:.1f} ms',
                f'after a 1-row insert {s["query_after_insert_s"]:.3f} s '
                f'(insert {s["insert_one_s"]:.3f} s)',
                '(info)',
                None,
            )
        )
    return rows


def render(rows: list[Row]) -> str:
    head = ('issue', 'figure', 'measured', 'bound', 'target', 'result', 'Pixeltable*')
    table = [head] + [
        (
            x.section,
            x.figure,
            x.measured,
            x.bound,
            x.target,
            'info' if x.ok is None else ('PASS' if x.ok else 'MISS'),
            x.reference,
        )
        for x in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    out = []
    for k, line in enumerate(table):
        out.append('  '.join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if k == 0:
            out.append('  '.join('-' * w for w in widths))
    return '\n'.join(out)


def run_pieces(names: list[str], results: dict[str, Any]) -> dict[str, Any]:
    """Run each piece in its own process, saying how long it took; ``results`` filled."""
    for name in names:
        t0 = time.perf_counter()
        results[name] = run_piece(name)
        print(f'  ran {name:<16} {time.perf_counter() - t0:6.1f} s', flush=True)
    return results


def run_section(names: list[str], rows_of: Callable[[dict[str, Any]], list[Row]]) -> None:
    """One section's pieces alone (``python -m bench.search``/``bench.versions``): its rows."""
    results = run_pieces(names, {})
    print()
    print(render(rows_of(results)))
    print('raw: ' + json.dumps(results, sort_keys=True))


def main() -> None:
    start = time.perf_counter()
    print(
        f'reverie benchmarks — {datetime.datetime.now():%Y-%m-%d %H:%M}, '
        f'Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}'
    )
    results: dict[str, Any] = {'import': import_time()}
    quick = '--quick' in sys.argv
    names = PIECES + [f'scale_{n}' for n in (SCALES[:-1] if quick else SCALES)]
    names += versions_pieces(quick)  # without the 1M-row runs when quick
    names += search_pieces(quick)  # issue 23: without 1M vectors when quick
    names += [f'insert_{n}' for n in (SCALES[:-1] if quick else SCALES)]
    names += ['insert_pg_100000'] + ([] if quick else ['insert_pg_1000000'])
    names += [] if quick else ['ui_1000000', 'workers_rss']
    run_pieces(names, results)
    results['pixeltable'] = pixeltable_section()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results['whole_rss_mib'] = max(children, own)
    rows = rows_for(results)
    print()
    print(render(rows))
    print()
    print(
        '* Pixeltable figures are quoted from the issues, not measured here; the "20 vs pxt" '
        'rows are measured in this run (bench/pixeltable_compare.py).'
    )
    print('  Reve rows run with default settings (the pool starts at 8 and finds its limit).')
    misses = sum(1 for x in rows if x.ok is False)
    passes = sum(1 for x in rows if x.ok)
    print(f'{passes} PASS, {misses} MISS; total {time.perf_counter() - start:.1f} s')
    print('raw: ' + json.dumps(results, sort_keys=True))


if __name__ == '__main__':
    main()
