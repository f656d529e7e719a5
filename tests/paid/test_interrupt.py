"""Ctrl-C with paid calls in flight, in a child process, against the server's request log.

Issue: 30 rows, 3 s latency, SIGINT after 6 s made 38 requests for 30 cells (8 paid twice)
and ``credits_used()`` said 540 where the server charged 684.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from pathlib import Path

import pytest

from reverie.reve_server import ServerOptions, serve_in_thread
from tests.reliability._util import PYTHON, ROOT, child_env, read_log, run_cli

N = 30
CHILD = r"""
import os
from pathlib import Path
import reverie as rv
from reverie.functions import reve

t = rv.create_table('scenes', {'prompt': rv.String})
t.insert([{'prompt': f'prompt {i}'} for i in range(int(os.environ['N']))], print_stats=False)
Path(os.environ['MARKER']).touch()
t.add_computed_column(img=reve.create(t.prompt))
"""

LEDGER = r"""
import reverie as rv
t = rv.get_table('scenes')
calls = rv.calls(t).collect()
print('LEDGER', t.credits_used(), sum(1 for o in calls['outcome'] if o == 'maybe_charged'))
print('VALUES', t.select(t.img).where(t.img != None).count())
"""


def _interrupt(tmp_path: Path, signals: int) -> tuple[str, list[dict], tuple[float, int], int]:
    home, log = tmp_path / 'home', tmp_path / 'requests.jsonl'
    (tmp_path / 'child.py').write_text(CHILD)
    (tmp_path / 'ledger.py').write_text(LEDGER)
    marker = tmp_path / 'marker'
    opts = ServerOptions(latency=2.0, megapixels=0.01, request_log=log)
    with serve_in_thread(opts) as server:
        env = child_env(
            home,
            REVE_API_KEY='papi.sigint',
            REVE_API_URL=server.url,
            REVE_MAX_CONCURRENCY='8',
            N=str(N),
            MARKER=str(marker),
        )
        child = subprocess.Popen(
            [PYTHON, str(tmp_path / 'child.py')],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while not marker.exists() and child.poll() is None:
            time.sleep(0.01)
        time.sleep(1.0)  # 8 calls in flight, none answered yet
        for _ in range(signals):
            child.send_signal(signal.SIGINT)
            time.sleep(0.3)
        out, err = child.communicate(timeout=60)
        assert child.returncode != 0, (out, err)
        server.configure(latency=0.0)
        time.sleep(2.5)  # the calls abandoned by a second Ctrl-C finish on the server
        res = run_cli(['resume', 'scenes'], env)
        assert res.returncode == 0, res.stderr
        books = subprocess.run(
            [PYTHON, str(tmp_path / 'ledger.py')],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    credits, maybe = (x for x in books.split('LEDGER ')[1].splitlines()[0].split())
    values = int(books.split('VALUES ')[1].split()[0])
    return out + err, read_log(log), (float(credits), int(maybe)), values


@pytest.mark.slow
def test_first_ctrl_c_waits_for_the_calls_in_flight_and_nothing_is_paid_twice(
    tmp_path: Path,
) -> None:
    out, entries, (credits, maybe), values = _interrupt(tmp_path, signals=1)
    assert 'waiting for 8 in flight' in out, out
    assert 'Resume with `reverie resume scenes`' in out, out
    per_prompt = collections.Counter(e['prompt'] for e in entries)
    assert values == N
    assert set(per_prompt.values()) == {1}, per_prompt  # 30 requests for 30 cells
    charged = sum(e['credits_used'] for e in entries)
    assert credits == charged == N * 18 and maybe == 0
    print(f'PAID sigint once: {N} cells, {len(entries)} calls, 0 re-paid, {charged} credits')


@pytest.mark.slow
def test_second_ctrl_c_stops_at_once_and_counts_the_abandoned_calls(tmp_path: Path) -> None:
    out, entries, (credits, maybe), values = _interrupt(tmp_path, signals=2)
    assert 'Stopping:' in out, out
    per_prompt = collections.Counter(e['prompt'] for e in entries)
    repaid = sum(n - 1 for n in per_prompt.values())
    assert values == N
    assert 0 < maybe <= 8 and repaid == maybe  # each re-paid call is a maybe_charged one
    charged = sum(e['credits_used'] for e in entries)
    assert credits == charged  # the ledger counts what the server charged, re-paid included
    print(f'PAID sigint twice: {N} cells, {len(entries)} calls, {repaid} re-paid (maybe_charged)')
