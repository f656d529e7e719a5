"""Every process on one database (issues 18, 19): ``rv.set_budget`` stores a cap that 4
processes computing at once never exceed, and a request in flight in one process is not sent
again by another. Counted from the Reve stand-in's request log; SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.functions import reve
from tests.reliability._util import child_env

CHILD = """
import sys, reverie as rv
from reverie.functions import reve
rv.init({'db_url': sys.argv[1], 'media_dir': sys.argv[2]})
t = rv.create_table(sys.argv[3], {'prompt': rv.String})
t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
try:
    t.insert([{'prompt': f'{sys.argv[3]} field {i}'} for i in range(10)], print_stats=False)
    print('FINISHED')
except rv.RunStoppedError as e:
    print('STOPPED', e)
"""


def test_four_processes_share_one_budget_with_zero_overshoot(
    catalog: Catalog, db_url: str, service, tmp_path: Path
) -> None:
    server = service(latency=0.2)
    rv.set_budget(credits=100)
    env = child_env(
        tmp_path / 'home',
        REVE_API_KEY='papi.paid-tests',
        REVE_API_URL=server.server.url,
        REVE_MAX_CONCURRENCY='4',
    )
    media = str(tmp_path / 'media')
    children = [
        subprocess.Popen(
            [sys.executable, '-c', CHILD, db_url, media, f'worker{i}'],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outputs = [c.communicate(timeout=120) for c in children]
    charged = server.charged()
    spent = rv.budgets()
    print(f'PAID shared budget 100 credits, 4 processes: server charged {charged} credits')
    print(spent)
    for out, err in outputs:
        assert 'STOPPED' in out or 'FINISHED' in out, err
    assert charged <= 100  # overshoot 0 across processes
    assert charged == 90  # 5 calls of 18 fit, a sixth would cross the cap
    stopped = next(out for out, _ in outputs if 'STOPPED' in out)
    assert 'Budget cap reached' in stopped and 'rv.set_budget(credits=' in stopped
    assert spent['spent'] == [90.0] and spent['cap'] == [100.0] and spent['unit'] == ['credits']


def test_a_table_cap_per_day_and_its_removal(catalog: Catalog, service) -> None:
    server = service()
    t = rv.create_table('capped', {'prompt': rv.String})
    t.insert([{'prompt': f'a cow {i}'} for i in range(4)], print_stats=False)
    rv.set_budget(credits=40, per='day', table=t)
    with pytest.raises(rv.RunStoppedError, match=r'36 of 40 credits spent today') as info:
        t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    assert info.value.reason == 'budget' and server.charged() == 36
    assert "per='day'" in str(info.value) and 'table=' in str(info.value)
    rv.set_budget(table=t)  # removed
    t.recompute_columns(print_stats=False)
    assert server.charged() == 72 and len(rv.budgets()) == 0
    with pytest.raises(rv.InvalidValueError, match='per'):
        rv.set_budget(credits=1, per='week')  # type: ignore[arg-type]


FIRST = """
import sys, reverie as rv
from reverie.functions import reve
rv.init({'db_url': sys.argv[1], 'media_dir': sys.argv[2]})
t = rv.create_table('first', {'prompt': rv.String})
t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
t.insert([{'prompt': 'a harbour at dusk'}], print_stats=False)
print('FINISHED')
"""


def test_a_request_in_flight_in_another_process_is_not_sent_again(
    catalog: Catalog, db_url: str, service, tmp_path: Path
) -> None:
    """Was: two processes sending the same request at once both paid (2 calls)."""
    server = service(latency=1.5)
    env = child_env(
        tmp_path / 'home', REVE_API_KEY='papi.paid-tests', REVE_API_URL=server.server.url
    )
    media = str(tmp_path / 'media')
    child = subprocess.Popen(
        [sys.executable, '-c', FIRST, db_url, media],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ledger = catalog.exec.ledger
    assert ledger is not None
    deadline = time.monotonic() + 60
    while not ledger.report.rows() and time.monotonic() < deadline:  # its call has left
        time.sleep(0.05)
    t = rv.create_table('second', {'prompt': rv.String})
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    status = t.insert([{'prompt': 'a harbour at dusk'}], print_stats=False)
    out, err = child.communicate(timeout=60)
    print(f'PAID same request from 2 processes at once: {len(server.entries())} call(s)')
    assert 'FINISHED' in out, err
    assert len(server.entries()) == 1  # was 2
    assert status.paid is not None and status.paid.cache_hits == 1
    assert t.select(t.img).where(t.img != None).count() == 1  # noqa: E711
