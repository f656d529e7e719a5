"""Issue 18: workers on many hosts, one limit for all (simulated on one machine).

Three pieces, each against its own throwaway PostgreSQL server when ``initdb`` is installed
(SQLite otherwise, said in the figures):

- ``workers_throughput``: the Reve stand-in (1 s latency, server limit 64), cluster limit
  64, then 1, 2 and 4 ``reverie worker --concurrency 8`` processes (each with its own
  ``REVERIE_HOME``), started and polling before 128 pending cells arrive; throughput from
  the server's log (first request start to last answer), ratios in the same run.
- ``workers_rss``: one worker computing 10,000 Reve cells from a stand-in that answers at
  once (``--concurrency 8``); the worker's peak RSS (``VmHWM``) read just before it is stopped.
- ``workers_coordination``: 32 and 64 simulated workers (forked processes, one connection
  each) doing a worker's database work for each cell with no call in between: claim (a
  batch of 16), lease renewal (once per batch, the real one is every 40 s), limit slot
  taken and given back, ledger start and answer rows, cell write; cells/s and the
  PostgreSQL server's own CPU seconds per cell (from ``/proc``), which gives the ceiling of
  one database.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import reverie as rv
from bench.common import Timer, server_process
from reverie.api import default_catalog
from reverie.exec.cells import CellResult, write_results
from reverie.exec.schema import TableSchema
from reverie.exec.shared_limits import SharedLimits
from reverie.exec.worker import Claimer, renew_claims
from reverie.store.db import VALUE, Store
from reverie.store.ledger import Ledger
from reverie.store.ledger_tables import CallSite

CELLS = 128
LATENCY = 1.0
RSS_CELLS = 10_000
SIM_CELLS = 4_000
SIM_SECONDS = 20.0  # each simulated worker stops after this long
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def database() -> Iterator[tuple[str, list[int]]]:
    """A throwaway PostgreSQL database (its server's pids, for CPU), else a SQLite file."""
    from tests.pg import PgCluster, find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix='reverie-bench-db-'))
        try:
            yield f'sqlite:///{tmp}/r.db', []
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    cluster = PgCluster(bin_dir)
    cluster.start()
    try:
        yield cluster.create_database('bench_workers'), [_postmaster(cluster)]
    finally:
        cluster.stop()


def _postmaster(cluster: Any) -> int:
    pid_file = Path(cluster.data) / 'postmaster.pid'
    return int(pid_file.read_text().split()[0])


def _cpu_seconds(root_pid: int) -> float:
    """CPU seconds of a process and all its children, live or exited (PostgreSQL's backends)."""
    tick = os.sysconf('SC_CLK_TCK')
    total = 0.0
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root_pid:  # with the CPU of its children that have exited (cutime, cstime)
            total += sum(int(f) for f in fields[11:15]) / tick
        elif ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _reve_table(path: str) -> rv.Table:
    """An empty table with one Reve column."""
    from reverie.functions import reve as reve_fns

    t = rv.create_table(path, {'prompt': rv.String})
    t.add_computed_column(out=reve_fns.create(t.prompt), print_stats=False)
    return t


def _add_pending(t: rv.Table, cells: int) -> None:
    """Insert ``cells`` rows whose Reve cells stay pending for the workers (budget 0 stops
    the insert's own run before it sends anything)."""
    path = t._schema().path
    with contextlib.suppress(rv.RunStoppedError):
        t.insert(
            [{'prompt': f'{path}: scene {i}'} for i in range(cells)], budget=0, print_stats=False
        )


def _pending_table(path: str, cells: int) -> rv.Table:
    """A table of ``cells`` rows whose computed column is left pending for the workers."""
    t = _reve_table(path)
    _add_pending(t, cells)
    return t


def _start_workers(
    n: int, table: str, env: dict[str, str], home: Path
) -> list[subprocess.Popen[bytes]]:
    cmd = [sys.executable, '-m', 'reverie.cli', 'worker', '--tables', table, '--interval', '0.2']
    return [
        subprocess.Popen(
            [*cmd, '--concurrency', '8'],
            env={**env, 'REVERIE_HOME': str(home / f'{table}-{i}')},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]


def _wait(t: rv.Table, cells: int, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while t.where(t.out != None).count() < cells:  # noqa: E711
        if time.monotonic() > deadline:
            raise RuntimeError(f'the workers did not finish {t!r}')
        time.sleep(0.1)


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=60)


def _env(db_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(('REVERIE_', 'REVE_'))}
    env.update(
        REVERIE_DB_URL=db_url,
        REVERIE_MEDIA_DIR=str(tmp / 'media'),
        REVERIE_PROGRESS='0',
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def throughput() -> dict[str, Any]:
    """1, 2, 4 workers of --concurrency 8 under a cluster limit of 64, 128 cells each."""
    flags = ('--latency', str(LATENCY), '--megapixels', '0.01', '--max-concurrency', '64')
    tmp = Path(tempfile.mkdtemp(prefix='reverie-bench-workers-'))
    out: dict[str, Any] = {'cells': CELLS}
    with database() as (url, _), server_process(*flags) as server:
        env = _env(url, tmp, REVE_API_URL=server.url, REVE_API_KEY='papi.bench')
        env['REVE_MAX_CONCURRENCY'] = '64'
        os.environ.update(REVE_API_KEY='papi.bench', REVE_MAX_CONCURRENCY='64')
        rv.init({'db_url': url, 'media_dir': str(tmp / 'media'), 'home': str(tmp / 'bench')})
        out['database'] = 'postgresql' if url.startswith('postgresql') else 'sqlite'
        for n in (1, 2, 4):
            t = _reve_table(f'w{n}')
            workers = _start_workers(n, f'w{n}', env, tmp)
            try:
                while len(rv.workers()) < n:  # all started (imports done) and polling
                    time.sleep(0.1)
                seen = len(server.requests)
                _add_pending(t, CELLS)
                _wait(t, CELLS)
            finally:
                _stop(workers)
            records = server.requests[seen:]
            ok = [r for r in records if r.status == 200]
            span = max(r.t_end for r in ok) - min(r.t_start for r in ok)
            out[f'cells_per_s_{n}'] = CELLS / span
            out[f'span_s_{n}'] = span
            out[f'refused_{n}'] = sum(1 for r in records if r.status == 429)
            out[f'calls_{n}'] = len(ok)
        out['server_peak'] = server.peak_concurrency
    shutil.rmtree(tmp, ignore_errors=True)
    out['ratio_2'] = out['cells_per_s_2'] / out['cells_per_s_1']
    out['ratio_4'] = out['cells_per_s_4'] / out['cells_per_s_1']
    return out


def worker_rss() -> dict[str, Any]:
    """One worker, 10,000 cells from a stand-in that answers at once: peak RSS and pace."""
    tmp = Path(tempfile.mkdtemp(prefix='reverie-bench-rss-'))
    out: dict[str, Any] = {'cells': RSS_CELLS}
    flags = ('--latency', '0', '--megapixels', '0.01')
    with database() as (url, _), server_process(*flags) as server:
        os.environ.update(REVE_API_KEY='papi.bench', REVE_MAX_CONCURRENCY='64')
        rv.init({'db_url': url, 'media_dir': str(tmp / 'media'), 'home': str(tmp / 'bench')})
        t = _pending_table('rss', RSS_CELLS)
        env = _env(url, tmp, REVE_API_URL=server.url, REVE_API_KEY='papi.bench')
        (worker,) = _start_workers(1, 'rss', {**env, 'REVE_MAX_CONCURRENCY': '64'}, tmp)
        try:
            with Timer() as tm:
                _wait(t, RSS_CELLS, limit=900)
            status = Path(f'/proc/{worker.pid}/status').read_text()
            hwm = next(line for line in status.splitlines() if line.startswith('VmHWM'))
            out['worker_peak_rss_mib'] = int(hwm.split()[1]) / 1024
            out['cells_per_s'] = RSS_CELLS / tm.seconds
        finally:
            _stop([worker])
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def _simulated_worker(url: str, schema: TableSchema, counter: Any) -> None:
    """A worker's database work for every cell it claims, with no call in between."""
    path = schema.path
    store = Store(url)
    ledger = Ledger(store)
    window = SharedLimits(store).window('bench-coord', 64, None)
    assert window is not None
    window._ensure()
    while window.window < window.ceiling:  # the window a long run has grown to
        window._grow()
    column = next(iter(schema.computed()))
    claimer = Claimer(store, schema, batch=16)
    done = 0
    stop_at = time.monotonic() + SIM_SECONDS
    while time.monotonic() < stop_at and (ids := claimer.next_batch()):
        renew_claims(store, schema)
        for rid in ids:
            slot = None
            while slot is None:
                slot, _ = window._take()
                if slot is None:
                    time.sleep(0.005)
            site = CallSite(schema.id, column.id, rid)
            fp = hashlib.sha256(f'{path}:{rid}'.encode()).hexdigest()
            ledger.find_answers(fp, site)  # the journal and the cache, read before a call
            call_id = ledger.start(
                site,
                function='bench',
                endpoint='/v1/image/create',
                fingerprint=fp,
                attempt=1,
                credits=18.0,
            )
            ledger.answered(call_id, sha256=fp, size=1000, media_ref=f'{fp}.png', data=None)
            write_results(
                store, schema, [CellResult(rid, column, VALUE, f'{fp}.png')], [rid], [call_id]
            )
            window._release(slot)
            done += 1
    with counter.get_lock():
        counter.value += done
    store.dispose()


def coordination() -> dict[str, Any]:
    """32 and 64 simulated workers against one database: cells/s and DB CPU per cell."""
    tmp = Path(tempfile.mkdtemp(prefix='reverie-bench-coord-'))
    out: dict[str, Any] = {'cells': SIM_CELLS}
    os.environ.update(REVE_API_KEY='papi.bench')
    with database() as (url, pids):
        out['database'] = 'postgresql' if pids else 'sqlite'
        rv.init({'db_url': url, 'media_dir': str(tmp / 'media'), 'home': str(tmp / 'bench')})
        ctx = multiprocessing.get_context('fork')
        for n in (32, 64):
            schema = _pending_table(f'coord{n}', SIM_CELLS)._schema()
            default_catalog().store.dispose()  # no pooled connection crosses the fork
            counter = ctx.Value('i', 0)
            cpu0 = _cpu_seconds(pids[0]) if pids else 0.0
            clients = resource.getrusage(resource.RUSAGE_CHILDREN)
            client0 = clients.ru_utime + clients.ru_stime
            procs = [
                ctx.Process(target=_simulated_worker, args=(url, schema, counter)) for _ in range(n)
            ]
            with Timer() as tm:
                for p in procs:
                    p.start()
                for p in procs:
                    p.join(timeout=SIM_SECONDS + 60)
            cpu = (_cpu_seconds(pids[0]) - cpu0) if pids else 0.0
            clients = resource.getrusage(resource.RUSAGE_CHILDREN)
            client_cpu = clients.ru_utime + clients.ru_stime - client0
            out[f'client_cpu_ms_per_cell_{n}'] = 1000 * client_cpu / max(1, counter.value)
            out[f'cells_done_{n}'] = counter.value
            out[f'cells_per_s_{n}'] = counter.value / tm.seconds
            out[f'db_cpu_ms_per_cell_{n}'] = 1000 * cpu / max(1, counter.value)
    shutil.rmtree(tmp, ignore_errors=True)
    return out
