"""Scale-out: worker processes share one backfill on PostgreSQL (FOR UPDATE SKIP LOCKED and
row claims): every pending cell is computed exactly once, and each worker does part of it.
The pending cells come from an inserting process killed (SIGKILL) before it computed them;
its claims are taken over because it is dead."""

from __future__ import annotations

import collections
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

import reverie as rv
from tests.reliability._util import PYTHON, ROOT, child_env, run_cli

N_ROWS = 200

INSERTER = r"""
import reverie as rv
t = rv.get_table('w.items')
t.insert([{'s': f'item {i}'} for i in range(int(__import__('os').environ['N_ROWS']))],
         print_stats=False)
"""

SETUP = r"""
import reverie as rv
from tests.reliability._udfs import logged_upper
rv.create_dir('w', if_exists='ignore')
t = rv.create_table('w.items', {'s': rv.String})
t.add_computed_column(up=logged_upper(t.s), print_stats=False)
"""


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_share_a_backfill_exactly_once(pg_cluster, tmp_path: Path) -> None:
    if pg_cluster is None:
        pytest.skip('PostgreSQL is not installed (initdb not found); CI runs this.')
    url = pg_cluster.create_database('rv_workers')
    calls = tmp_path / 'calls.log'
    env = child_env(tmp_path / 'home', REVERIE_DB_URL=url, CALL_LOG=str(calls), N_ROWS=str(N_ROWS))
    subprocess.run([PYTHON, '-c', SETUP], env=env, cwd=ROOT, check=True, timeout=120)

    inserter = subprocess.Popen([PYTHON, '-c', INSERTER], env={**env, 'STALL': '1'}, cwd=ROOT)
    cat = rv.init({'db_url': url, 'media_dir': str(tmp_path / 'media')})
    try:
        t = rv.get_table('w.items')
        deadline = time.monotonic() + 60
        while t.count() < N_ROWS:
            assert time.monotonic() < deadline, 'the inserter never committed its rows'
            time.sleep(0.05)
        time.sleep(0.3)  # it is now stalled inside its first calls
        inserter.send_signal(signal.SIGKILL)
        inserter.wait(timeout=30)
        assert t.where(t.up != None).count() == 0  # noqa: E711

        workers = [
            subprocess.Popen(
                [PYTHON, '-m', 'reverie.cli', 'worker', '--once', 'w.items'],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=120)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs

        rs = t.select(t.s, t.up).collect()
        assert len(rs) == N_ROWS
        assert all(r['up'] == r['s'].upper() for r in rs)
        lines = calls.read_text().splitlines()
        per_input = collections.Counter(line.split(' ', 1)[1] for line in lines)
        assert len(per_input) == N_ROWS and max(per_input.values()) == 1, 'a cell computed twice'
        per_worker = collections.Counter(line.split(' ', 1)[0] for line in lines)
        assert len(per_worker) == 2, f'one worker did everything: {per_worker}'
        print(
            f'RELIABILITY workers: {N_ROWS} cells, calls per worker {sorted(per_worker.values())}'
        )
        res = run_cli(['resume', 'w.items'], env)
        assert res.returncode == 0 and 'Computed 0 cells' in res.stdout, res.stdout + res.stderr
    finally:
        cat.close()


def _claims(db: Path) -> tuple[int, int]:
    """(rows, rows some process holds a claim on) of the one table's data."""
    with sqlite3.connect(db) as con:
        names = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if any(c[1] == '_claim_owner' for c in con.execute(f'PRAGMA table_info("{r[0]}")'))
        ]
        (name,) = names
        query = f'SELECT count(*), count(_claim_owner) FROM "{name}"'
        rows, claimed = con.execute(query).fetchone()
        return int(rows), int(claimed)


@pytest.mark.slow
@pytest.mark.parametrize(('sig', 'status'), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_worker_gives_up_its_claims(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    """SIGTERM (a container stop) and Ctrl-C: the worker releases its claims before it
    exits, so another worker takes the cells at once instead of waiting for the lease."""
    home = tmp_path / 'home'
    env = child_env(home, CALL_LOG=str(tmp_path / 'calls.log'), N_ROWS='20', STALL='1')
    db = home / 'reverie.db'
    subprocess.run([PYTHON, '-c', SETUP], env=env, cwd=ROOT, check=True, timeout=120)
    inserter = subprocess.Popen([PYTHON, '-c', INSERTER], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while _claims(db) != (20, 20):  # the rows are in, claimed by a process about to die
        assert time.monotonic() < deadline, 'the inserter never committed its rows'
        time.sleep(0.05)
    inserter.send_signal(signal.SIGKILL)
    inserter.wait(timeout=30)
    worker = subprocess.Popen(
        [PYTHON, '-m', 'reverie.cli', 'worker', 'w.items'],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)  # it frees the dead process's claims and takes them (stalled calls)
        assert worker.poll() is None, worker.communicate()[0]
        assert _claims(db) == (20, 20)
        worker.send_signal(sig)
        out = worker.communicate(timeout=60)[0]
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == status, out
    assert _claims(db) == (20, 0), out
    print(f'RELIABILITY worker stopped by {sig.name}: exit {status}, 0 claims left')
