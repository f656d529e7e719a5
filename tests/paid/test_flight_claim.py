"""Two processes start the same requests at the same moment: each is paid once.

Issue 19 (single flight across processes): a process looked in the ledger for another's
attempt in flight, then sent; the look and the ledger row of its own attempt were apart
(the pool's queue, the media check), so two processes starting together both paid. A
call now claims its fingerprint first (``rv_flights``: one row per fingerprint in flight,
inserted under its primary key, so one process wins on SQLite and PostgreSQL alike); the
other waits for the answer. Counted from the stand-in server's request log.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from reverie.catalog.catalog import Catalog
from tests.reliability._util import child_env

PROMPTS = 6
CHILD = """
import sys, time
from pathlib import Path
import reverie as rv
from reverie.functions import reve
rv.init({'db_url': sys.argv[1], 'media_dir': sys.argv[2]})
t = rv.create_table(sys.argv[3], {'prompt': rv.String})
t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
Path(sys.argv[4] + '.ready').touch()
while not Path(sys.argv[4]).exists():
    time.sleep(0.001)
status = t.insert([{'prompt': f'a harbour at dusk {i}'} for i in range(6)], print_stats=False)
print('FINISHED', status.num_excs, t.select(t.img).where(t.img != None).count())
"""


def test_two_processes_starting_the_same_requests_together_pay_each_once(
    catalog: Catalog, db_url: str, service, tmp_path: Path
) -> None:
    server = service(latency=1.0)
    env = child_env(
        tmp_path / 'home', REVE_API_KEY='papi.paid-tests', REVE_API_URL=server.server.url
    )
    go = tmp_path / 'go'
    children = [
        subprocess.Popen(
            [sys.executable, '-c', CHILD, db_url, str(tmp_path / 'media'), name, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ('first', 'second')
    ]
    deadline = time.monotonic() + 60
    while not Path(f'{go}.ready').exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1.0)  # both have their table and column (each touches the same file)
    go.touch()
    outs = [c.communicate(timeout=120) for c in children]
    calls = server.calls_per_prompt()
    print(
        f'PAID same {PROMPTS} requests from 2 processes started together: '
        f'{sum(calls.values())} calls ({dict(calls)})'
    )
    for out, err in outs:
        assert f'FINISHED 0 {PROMPTS}' in out, err
    assert len(calls) == PROMPTS
    assert set(calls.values()) == {1}
