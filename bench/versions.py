"""Issue 11: what versions cost. Insert and collect against the tree before versioning,
time travel to an old version, and the storage of 20 versions.

``python -m bench.versions`` runs these pieces alone and prints their rows (``--quick``:
without the 1M-row run); ``python -m bench`` includes them.

Before/after: the commit before versioning (``BEFORE``) is extracted from git into a temp
directory at bench time (only its ``reverie`` package, never committed), and the same timing
child (``python -m bench.versions timing ...``) runs under both trees with ``PYTHONPATH``
pointing at each, alternating before, after, before, after ...; the figures are medians.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import Timer, fresh_home, rss_mib
from bench.piece import read_result

BEFORE = '85e3a43'  # main's last commit before versioning (issue 11)
REPO = Path(__file__).resolve().parents[1]
MARK = 'TIMING-RESULT '
SINGLES = 1000  # single-row inserts: per-insert overhead (a version row per insert)
N_VERSIONS = 20


# -- insert and collect: one tree, in a child process ----------------------------------------
def _rows(start: int, n: int) -> list[dict[str, Any]]:
    return [{'i': k, 's': f'row {k}', 'f': k * 0.5} for k in range(start, start + n)]


class _Clocks:
    """Wall-clock and CPU seconds of a block (SQLite works in-process, so CPU time is the
    part other processes on a busy machine cannot inflate as much)."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> _Clocks:
        self._start = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self._start[0]
        self.cpu = time.process_time() - self._start[1]


def timing(n_rows: int, repeats: int, singles: int) -> dict[str, Any]:
    """Insert ``n_rows`` in one call and collect them (best of ``repeats``, each insert into a
    new table), then ``singles`` one-row inserts into a new table; whatever reverie is on the
    path."""
    import reverie as rv

    out: dict[str, Any] = {'reverie': str(Path(rv.__file__).resolve().parent)}
    with fresh_home():
        inserts, collects = [], []
        for k in range(repeats):
            t = rv.create_table(f't{k}', {'i': rv.Int, 's': rv.String, 'f': rv.Float})
            rows = _rows(0, n_rows)
            with _Clocks() as clocks:
                t.insert(rows, print_stats=False)
            inserts.append(clocks)
            del rows
            with _Clocks() as clocks:
                rs = t.collect()
            assert len(rs) == n_rows
            collects.append(clocks)
            del rs
            rv.drop_table(f't{k}')
        out['insert_s'] = min(c.wall for c in inserts)
        out['insert_cpu_s'] = min(c.cpu for c in inserts)
        out['collect_s'] = min(c.wall for c in collects)
        out['collect_cpu_s'] = min(c.cpu for c in collects)
        if singles:
            t = rv.create_table('singles', {'i': rv.Int, 's': rv.String, 'f': rv.Float})
            one = [_rows(k, 1) for k in range(singles)]
            with _Clocks() as clocks:
                for row in one:
                    t.insert(row, print_stats=False)
            assert t.count() == singles
            out['single_ms'] = 1000 * clocks.wall / singles
            out['single_cpu_ms'] = 1000 * clocks.cpu / singles
    out['rss_mib'] = rss_mib()
    return out


@contextlib.contextmanager
def _before_tree() -> Iterator[Path]:
    """The ``reverie`` package of ``BEFORE``, extracted into a temp directory."""
    tmp = Path(tempfile.mkdtemp(prefix='reverie-before-'))
    try:
        archive = subprocess.run(
            ['git', '-C', str(REPO), 'archive', BEFORE, 'reverie'],
            capture_output=True,
            check=True,
        )
        subprocess.run(['tar', '-x', '-C', str(tmp)], input=archive.stdout, check=True)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_timing(root: Path, n_rows: int, repeats: int, singles: int) -> dict[str, Any]:
    """One timing child with ``reverie`` imported from ``root`` (and ``bench`` from here).

    The child runs in an empty directory: ``-m`` puts the working directory first on the path.
    """
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(root), str(REPO)])}
    env['REVERIE_PROGRESS'] = '0'
    args = ['timing', str(n_rows), str(repeats), str(singles)]
    with tempfile.TemporaryDirectory(prefix='reverie-bench-cwd-') as cwd:
        proc = subprocess.run(
            [sys.executable, '-m', 'bench.versions', *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
        )
    result = read_result(proc.stdout, MARK)
    if result is not None:
        if Path(result['reverie']) != (root / 'reverie').resolve():
            raise RuntimeError(f'timing child imported {result["reverie"]}, not {root}')
        return result
    sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
    raise RuntimeError(f'timing child failed (exit {proc.returncode})')


def versus_before(n_rows: int, rounds: int, repeats: int, singles: int) -> dict[str, Any]:
    """Medians of ``rounds`` alternating runs under the tree before versioning and this one."""
    runs: dict[str, list[dict[str, Any]]] = {'before': [], 'after': []}
    with _before_tree() as before:
        for _ in range(rounds):
            runs['before'].append(_run_timing(before, n_rows, repeats, singles))
            runs['after'].append(_run_timing(REPO, n_rows, repeats, singles))
    out: dict[str, Any] = {'rows': n_rows, 'rounds': rounds, 'before_commit': BEFORE}
    for tree, results in runs.items():
        for key in (
            'insert_s',
            'insert_cpu_s',
            'collect_s',
            'collect_cpu_s',
            'single_ms',
            'single_cpu_ms',
        ):
            if key in results[0]:
                values = [r[key] for r in results]
                out[f'{tree}_{key}'] = statistics.median(values)
                out[f'{tree}_{key}_runs'] = values
        out[f'{tree}_rss_mib'] = max(r['rss_mib'] for r in results)
    return out


# -- time travel and storage: 20 versions -----------------------------------------------------
def _quiet() -> contextlib.redirect_stdout[io.StringIO]:
    """update() and delete() print a line each; the piece prints only its result."""
    return contextlib.redirect_stdout(io.StringIO())


def _best(fn: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _vacuumed_bytes(db: Path) -> int:
    """The SQLite file's size after VACUUM (and its WAL, emptied first)."""
    con = sqlite3.connect(db)
    try:
        con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        con.execute('VACUUM')
        con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    finally:
        con.close()
    wal = db.with_name(db.name + '-wal')
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _history_rows(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        names = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if r[0].startswith('rvh_')
        ]
        return sum(int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names)
    finally:
        con.close()


def history(n_rows: int) -> dict[str, Any]:
    """A table of about ``n_rows`` rows built in 20 versions, against the same rows in one.

    Version 1 inserts 55 % of ``n_rows``; versions 2-19 alternate an insert of 5 % and an
    update of 1 % of the rows (``f = f + 1`` where ``i % 100 == k``); version 20 deletes 1 %
    (``i % 100 == 99``). So version 3 holds 60 %, the latest 99 %.
    """
    import reverie as rv

    first, step = n_rows * 55 // 100, n_rows * 5 // 100
    out: dict[str, Any] = {'rows': n_rows}
    with fresh_home() as home:
        t = rv.create_table('t', {'i': rv.Int, 's': rv.String, 'f': rv.Float})
        t.insert(_rows(0, first), print_stats=False)
        start = first
        with _quiet(), Timer() as build:
            for k in range(9):
                t.insert(_rows(start, step), print_stats=False)
                start += step
                t.update({'f': t.f + 1.0}, where=t.i % 100 == k)
            t.delete(where=t.i % 100 == 99)
        versions = t.get_versions()
        assert versions[0]['version'] == N_VERSIONS, versions[0]
        out['versions_build_s'] = build.seconds

        old = rv.get_table('t:3')
        latest = rv.get_table(f't:{N_VERSIONS}')
        out['rows_v3'] = old.count()
        out['rows_now'] = t.count()
        assert out['rows_v3'] == first + step
        out['collect_now_s'] = _best(t.collect)
        out['collect_v3_s'] = _best(old.collect)
        out['collect_v20_s'] = _best(latest.collect)
        out['count_now_s'] = _best(t.count)
        out['count_v3_s'] = _best(old.count)
        final = t.select(t.i, t.s, t.f).collect()
        final_rows = [
            {'i': i, 's': s, 'f': f}
            for i, s, f in zip(final['i'], final['s'], final['f'], strict=True)
        ]
        rv.init({'home': str(home), 'db_url': f'sqlite:///{home}/r.db'}).close()
        out['history_rows'] = _history_rows(home / 'r.db')
        out['versioned_bytes'] = _vacuumed_bytes(home / 'r.db')
    with fresh_home() as home:
        once = rv.create_table('t', {'i': rv.Int, 's': rv.String, 'f': rv.Float})
        once.insert(final_rows, print_stats=False)
        assert once.count() == out['rows_now']
        rv.init({'home': str(home), 'db_url': f'sqlite:///{home}/r.db'}).close()
        out['once_bytes'] = _vacuumed_bytes(home / 'r.db')
    out['rss_mib'] = rss_mib()
    return out


# -- pieces -----------------------------------------------------------------------------------
SIZES = [10_000, 100_000, 1_000_000]


def versions_piece(n_rows: int) -> dict[str, Any]:
    """Insert/collect before vs after; the single-row inserts ride with the 10k run."""
    if n_rows >= 1_000_000:
        return versus_before(n_rows, rounds=3, repeats=1, singles=0)
    return versus_before(n_rows, rounds=5, repeats=3, singles=SINGLES if n_rows <= 10_000 else 0)


def piece_names(quick: bool) -> list[str]:
    """The pieces ``python -m bench`` runs for issue 11 (``quick``: without 1M rows)."""
    sizes = SIZES[:-1] if quick else SIZES
    return [f'versions_{n}' for n in sizes] + [f'history_{n}' for n in SIZES[:2]]


def main(argv: list[str]) -> None:
    if argv[:1] == ['timing']:
        n_rows, repeats, singles = (int(a) for a in argv[1:4])
        result = timing(n_rows, repeats, singles)
        print(MARK + json.dumps(result), flush=True)
        return
    from bench.__main__ import run_section, versions_rows

    run_section(piece_names('--quick' in argv), versions_rows)


if __name__ == '__main__':
    main(sys.argv[1:])
