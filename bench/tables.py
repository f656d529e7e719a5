"""Issue 2: import time, inserts (rows and images), collect, peak RSS."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import Timer, fresh_home, rss_mib

N_ROWS = 10_000
N_IMAGES = 200
IMAGE_SIDE = 512
REPEATS = 3

IMPORT_SNIPPET = 'import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)'


def _import_runs(module: str) -> list[float]:
    env = {**os.environ, 'REVERIE_PROGRESS': '0'}
    runs = []
    for _ in range(REPEATS):
        out = subprocess.run(
            [sys.executable, '-c', IMPORT_SNIPPET.format(module)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return runs


def import_time() -> dict[str, Any]:
    """Median wall time of `import reverie` in 3 fresh interpreters, next to its floor:
    `import sqlalchemy` alone (reverie needs it at import), also median of 3."""
    runs = _import_runs('reverie')
    floor = _import_runs('sqlalchemy')
    return {
        'import_s': statistics.median(runs),
        'import_runs': runs,
        'sqlalchemy_import_s': statistics.median(floor),
    }


def _rows(n: int) -> list[dict[str, Any]]:
    return [{'s': f'row {i}', 'i': i, 'f': i * 0.5} for i in range(n)]


def _raw_insert_rate(db_path: Path, n: int) -> float:
    """Bound: SQLAlchemy Core executemany into an equivalent plain SQLite table."""
    import sqlalchemy as sa

    engine = sa.create_engine(f'sqlite:///{db_path}')
    meta = sa.MetaData()
    best = 0.0
    for k in range(REPEATS):
        t = sa.Table(
            f'raw_{k}',
            meta,
            sa.Column('rowid', sa.Integer, primary_key=True),
            sa.Column('s', sa.String),
            sa.Column('i', sa.BigInteger),
            sa.Column('f', sa.Float),
        )
        meta.create_all(engine)
        rows = _rows(n)
        with Timer() as tm, engine.begin() as conn:
            conn.execute(sa.insert(t), rows)
        best = max(best, n / tm.seconds)
    engine.dispose()
    return best


def _write_pngs(folder: Path, n: int, salt: int = 0) -> list[Path]:
    import PIL.Image
    import PIL.ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        img = PIL.Image.new('RGB', (IMAGE_SIDE, IMAGE_SIDE), ((k * 37) % 256, (k * 91) % 256, 128))
        draw = PIL.ImageDraw.Draw(img)
        draw.rectangle((k % 200, k % 150, 300 + k % 200, 260 + k % 150), fill=(255, k % 256, 0))
        draw.text((20, 20), f'image {k} set {salt}', fill=(0, 0, 0))
        path = folder / f'img_{k:04d}.png'
        img.save(path)
        paths.append(path)
    return paths


def tables() -> dict[str, Any]:
    """Insert and collect rates; run in its own process so its peak RSS is its own."""
    import reverie as rv

    out: dict[str, Any] = {}
    with fresh_home() as home:
        # Row inserts: best of 3, each into a new table.
        best = 0.0
        for k in range(REPEATS):
            t = rv.create_table(f'rows_{k}', {'s': rv.String, 'i': rv.Int, 'f': rv.Float})
            rows = _rows(N_ROWS)
            with Timer() as tm:
                t.insert(rows, print_stats=False)
            best = max(best, N_ROWS / tm.seconds)
            assert t.count() == N_ROWS
        out['insert_rows_per_s'] = best
        out['raw_rows_per_s'] = _raw_insert_rate(home / 'raw.db', N_ROWS)

        # Collect: best of 3 over the last table.
        best = 0.0
        for _ in range(REPEATS):
            with Timer() as tm:
                rs = t.collect()
            assert len(rs) == N_ROWS
            best = max(best, N_ROWS / tm.seconds)
        out['collect_rows_per_s'] = best

        # Images inserted by path: best of 3, each a new table and 200 new files (the
        # media store is content-addressed, so a repeated file would not be written again).
        best = 0.0
        for k in range(REPEATS):
            paths = _write_pngs(home / f'pngs_{k}', N_IMAGES, salt=k)
            t = rv.create_table(f'images_{k}', {'img': rv.Image})
            with Timer() as tm:
                t.insert([{'img': str(p)} for p in paths], print_stats=False)
            assert t.count() == N_IMAGES
            best = max(best, N_IMAGES / tm.seconds)
        out['images_per_s'] = best
    out['tables_rss_mib'] = rss_mib()
    return out


def _best_insert(n: int, repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` inserts of ``n`` rows, each into a new table."""
    import reverie as rv

    best = float('inf')
    for k in range(repeats):
        t = rv.create_table(f'rows_{k}', {'s': rv.String, 'i': rv.Int, 'f': rv.Float})
        rows = _rows(n)
        with Timer() as tm:
            t.insert(rows, print_stats=False)
        best = min(best, tm.seconds)
        del rows
    return best


def insert_vs_raw(n: int) -> dict[str, Any]:
    """Issue 20: ``t.insert`` of n (String, Int, Float) rows against raw
    ``sqlite3.executemany`` of the same values (tuples built before the clock starts) into a
    copy of the same data table in the same database file; best of 5 at 10k, of 2 at 100k,
    one run at 1M. The ratio is ours / raw."""
    import sqlite3

    repeats = 1 if n >= 1_000_000 else 2 if n >= 100_000 else 5
    raw = float('inf')
    with fresh_home() as home:
        ours = _best_insert(n, repeats)
        db = sqlite3.connect(home / 'r.db', isolation_level=None)
        (ddl,) = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name LIKE 'rvt_%'"
        ).fetchone()
        name = ddl.split('(', 1)[0].split()[-1]
        cols = [r[1] for r in db.execute(f'PRAGMA table_info({name})')][-3:]
        for k in range(repeats):
            db.execute(ddl.replace(name, f'raw_{k}', 1))
            values = [(1, f'row {i}', i, i * 0.5) for i in range(n)]
            sql = f'INSERT INTO raw_{k} (_v, {", ".join(cols)}) VALUES (?, ?, ?, ?)'
            with Timer() as tm:
                db.execute('BEGIN')
                db.executemany(sql, values)
                db.execute('COMMIT')
            raw = min(raw, tm.seconds)
            del values
        db.close()
    return {
        f'insert_{n}_rows_per_s': n / ours,
        f'insert_{n}_raw_rows_per_s': n / raw,
        f'insert_{n}_vs_raw': raw / ours,
    }


def insert_vs_raw_copy(n: int) -> dict[str, Any]:
    """Issue 20 on PostgreSQL (a throwaway cluster, as the tests start): ``t.insert`` of n rows
    against raw psycopg ``COPY`` of the same tuples (built before the clock starts) into a
    copy of the same data table; best of 2 (one at 1M). The ratio is ours / raw."""
    import psycopg

    import reverie as rv
    from tests.pg import PgCluster, find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is None:
        return {}
    repeats = 1 if n >= 1_000_000 else 2
    raw = float('inf')
    cluster = PgCluster(bin_dir)
    cluster.start()
    try:
        url = cluster.create_database('bench')
        with fresh_home():
            rv.init({'db_url': url})
            ours = _best_insert(n, repeats)
        dsn = f'host=127.0.0.1 port={cluster.port} user={cluster.user} dbname=bench'
        with psycopg.connect(dsn) as db:
            (name,) = db.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'rvt_%' LIMIT 1"
            ).fetchone() or ('',)
            cols = [
                r[0]
                for r in db.execute(
                    'SELECT column_name FROM information_schema.columns '
                    'WHERE table_name = %s ORDER BY ordinal_position',
                    (name,),
                )
            ][-3:]
            for k in range(repeats):
                db.execute(f'CREATE TABLE raw_{k} (LIKE {name} INCLUDING ALL)')
                db.commit()
                values = [(f'row {i}', i, i * 0.5, 1) for i in range(n)]
                with Timer() as tm:
                    with (
                        db.cursor() as cur,
                        cur.copy(f'COPY raw_{k} ({", ".join(cols)}, _v) FROM STDIN') as copy,
                    ):
                        for v in values:
                            copy.write_row(v)
                    db.commit()
                raw = min(raw, tm.seconds)
                del values
    finally:
        cluster.stop()
    return {
        f'insert_pg_{n}_rows_per_s': n / ours,
        f'insert_pg_{n}_raw_rows_per_s': n / raw,
        f'insert_pg_{n}_vs_raw': raw / ours,
    }
