"""Invariant 1 and 5 under a failing API: 500s, 429s and stalls end as value or error cells,
never an exception; retries stay within the pool's bound; no cell is paid for twice.

In the 200-cell test stalls are short (``stall_seconds=2``, under the client's read timeout),
so they only delay their call; a separate test sets ``REVE_TIMEOUT=0.5`` against 3 s stalls,
so stalled calls time out and are retried."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.exec import pools
from reverie.functions import reve
from reverie.reve_server import ServerOptions, serve_in_thread
from tests.reliability._util import read_log

N = 200


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter backoff so the suite stays fast (the retry policy itself is unchanged)."""
    monkeypatch.setattr(pools, 'BASE_BACKOFF', 0.05)


@pytest.mark.slow
def test_faulty_api_backfill_ends_in_values_or_errors(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_backoff: None
) -> None:
    log = tmp_path / 'requests.jsonl'
    opts = ServerOptions(
        latency=0.02,
        megapixels=0.01,
        fail_500_rate=0.2,
        rate_429_rate=0.1,
        stall_rate=0.01,
        stall_seconds=2.0,
        retry_after=0,
        seed=7,
        request_log=log,
    )
    with serve_in_thread(opts) as server:
        monkeypatch.setenv('REVE_API_KEY', 'papi.faults')
        monkeypatch.setenv('REVE_API_URL', server.url)
        monkeypatch.setenv('REVE_MAX_CONCURRENCY', '16')
        t = rv.create_table('faults', {'prompt': rv.String})
        t.insert([{'prompt': f'faulty prompt {i}'} for i in range(N)])
        start = time.perf_counter()
        status = t.add_computed_column(
            img=reve.create(t.prompt, aspect_ratio='1:1'), on_error='ignore'
        )
        elapsed = time.perf_counter() - start
        rows = t.select(
            prompt=t.prompt,
            fileurl=t.img.fileurl,
            errortype=t.img.errortype,
            errormsg=t.img.errormsg,
        ).collect()
    pool = catalog.exec.pools['reve']
    entries = read_log(log)
    by_prompt = collections.defaultdict(list)
    for e in entries:
        by_prompt[e['prompt']].append(e['status'])

    assert len(rows) == N
    values = errors = 0
    for r in rows:
        url, et, em = r['fileurl'], r['errortype'], r['errormsg']
        assert (url is None) != (et is None), f'cell neither value nor error (or both): {r}'
        if url is not None:
            values += 1
            assert by_prompt[r['prompt']].count(200) == 1, (r['prompt'], by_prompt[r['prompt']])
        else:
            errors += 1
            assert em, r
    assert values + errors == N
    assert status.num_excs == errors
    # At most one successful (paid) call per cell, and never more attempts than the bound.
    assert all(s.count(200) <= 1 for s in by_prompt.values())
    attempts = [len(s) for s in by_prompt.values()]
    assert max(attempts) <= pool.max_retries + 1, max(attempts)
    statuses = collections.Counter(e['status'] for e in entries)
    assert statuses[500] > 0 and statuses[429] > 0, statuses  # the faults really happened
    assert pool.stats.retries == len(entries) - len(by_prompt)
    print(
        f'RELIABILITY faults: cells={N} values={values} errors={errors} requests={len(entries)} '
        f'statuses={dict(statuses)} max_attempts={max(attempts)} retries={pool.stats.retries} '
        f'elapsed={elapsed:.1f}s'
    )


@pytest.mark.slow
def test_retry_bound_is_exact_when_the_api_always_fails(
    sqlite_catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_backoff: None
) -> None:
    log = tmp_path / 'requests.jsonl'
    with serve_in_thread(
        ServerOptions(megapixels=0.01, fail_500_rate=1.0, request_log=log)
    ) as server:
        monkeypatch.setenv('REVE_API_KEY', 'papi.faults')
        monkeypatch.setenv('REVE_API_URL', server.url)
        t = rv.create_table('always500', {'prompt': rv.String})
        t.insert([{'prompt': f'p{i}'} for i in range(5)])
        sqlite_catalog.exec.pools.get('reve', max_retries=2)
        t.add_computed_column(img=reve.create(t.prompt), on_error='ignore')
        rows = t.select(
            prompt=t.prompt, errortype=t.img.errortype, errormsg=t.img.errormsg
        ).collect()
        with pytest.raises(rv.Error, match='failed for row'):
            t.insert(prompt='one more')  # on_error='abort': a clear rv.Error, the row is kept
        assert t.count() == 6
    attempts = collections.Counter(e['prompt'] for e in read_log(log))
    assert all(r['errortype'] and r['errormsg'] for r in rows)
    assert set(attempts.values()) == {3}, attempts  # 1 try + max_retries=2, not one more


@pytest.mark.slow
def test_stalled_calls_time_out_and_are_retried_once(
    sqlite_catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_backoff: None
) -> None:
    """A call the server never answers in time (REVE_TIMEOUT) may have been charged: it is
    counted in the ledger and retried at most once, never lost or hung."""
    log = tmp_path / 'requests.jsonl'
    opts = ServerOptions(
        megapixels=0.01, stall_rate=0.4, stall_seconds=3.0, seed=7, request_log=log
    )
    with serve_in_thread(opts) as server:
        monkeypatch.setenv('REVE_API_KEY', 'papi.faults')
        monkeypatch.setenv('REVE_API_URL', server.url)
        monkeypatch.setenv('REVE_TIMEOUT', '0.5')
        t = rv.create_table('stalls', {'prompt': rv.String})
        t.insert([{'prompt': f'p{i}'} for i in range(20)], print_stats=False)
        t.add_computed_column(img=reve.create(t.prompt), on_error='ignore', print_stats=False)
        rows = t.select(t.prompt, t.img, t.img.errormsg).collect()
        credits = t.credits_used()
        sent = rv.calls(t).count()
        deadline = time.monotonic() + 10
        while len(read_log(log)) < sent and time.monotonic() < deadline:
            time.sleep(0.05)  # stalled requests are still being answered (and charged)
    entries = read_log(log)
    attempts = collections.Counter(e['prompt'] for e in entries)
    values = [r for r in rows if r['img'] is not None]
    errors = [r for r in rows if r['img'] is None]
    assert all('may have been charged' in r['img_errormsg'] for r in errors), errors
    assert max(attempts.values()) <= 2  # one try + at most one maybe_charged retry
    assert any(n == 2 for n in attempts.values())  # some calls stalled past the timeout
    assert len(values) >= 14  # a stall twice in a row (0.4 ** 2) ends as an error cell
    assert credits == sum(e['credits_used'] for e in entries)  # every stall is counted
    print(
        f'RELIABILITY stalls: 20 cells, {len(values)} values, {len(errors)} errors after two '
        f'stalls, {len(entries)} requests, {credits} credits in the ledger and on the server'
    )
