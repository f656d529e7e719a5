"""kill -9 at a random moment on a loaded machine: no answer 0.5 s old is paid again.

Issue 19, row 2: under CPU load the journal lagged the network by about 2 s (the journal's
database write waited behind cell writes for the SQLite lock, and its thread hops queued
in the default thread pool behind threads waiting for that lock), so answers that arrived
0.5 s or more before a kill -9 were paid again. Each answer is now noted durably first (its
media file and a note beside it) before anything that waits; ``reverie resume`` moves the
notes into the journal. What remained was reading the answer (1 MP answers: up to 0.99 s
from the server's log to the note): fewer trips round the event loop per answer, no search
of ``sys.path`` per request, no thread hop to parse it.

Counted from the stand-in server's logs: a prompt whose answer the server had handed over
whole (``t_sent``, its sent log) at least 0.5 s before the kill and sent again by ``reverie
resume`` was paid twice. (The request log's ``t_end`` is written before the answer leaves;
under load the stand-in's own threads took up to 1.3 s more to write a large answer, so
``t_end`` made the server's lag look like ours.) The journal is read from the SQLite file
after the resume: every entry was pruned as its cell was written.

Two cases, 2 runs each, 0.5 s asserted in both: 2 busy processes with 0.01 MP answers, and
one busy process (the issue's condition) with 1 MP answers. Knobs (environment) for other
conditions: ``KILL_BUSY``, ``KILL_MEGAPIXELS``, ``KILL_CELLS``, ``KILL_BOUND`` (one case
instead of the two) and ``KILL_RUNS``.
``python -m tests.reliability.kill_lag`` runs the same scenario and prints where each
answer's lag went.
"""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest

from tests.reliability.test_round2_kill import _kill_and_resume

LATENCY = 0.5
BOUND = 0.5  # seconds: what docs/reliability.md promises
# (busy processes, megapixels, cells, bound asserted): the run outlasts the kill at 2-5 s
# (pool up to 64, 0.5 s per call). One busy process (the condition) with 1 MP answers
# (0.18-0.34 MB of JSON): by ``t_end`` the old code re-paid answers 0.5 s old in 2 of 8 runs
# and the new one in 1 of 20; by ``t_sent`` 0 of 5 (oldest re-paid 0.22 s).
CASES = [(2, 0.01, 400, BOUND), (1, 1.0, 200, BOUND)]
if 'KILL_BUSY' in os.environ or 'KILL_MEGAPIXELS' in os.environ:
    CASES = [
        (
            int(os.environ.get('KILL_BUSY', '2')),
            float(os.environ.get('KILL_MEGAPIXELS', '0.01')),
            int(os.environ.get('KILL_CELLS', '400')),
            float(os.environ.get('KILL_BOUND', str(BOUND))),
        )
    ]


@pytest.mark.slow
@pytest.mark.parametrize('run', range(int(os.environ.get('KILL_RUNS', '2'))))
@pytest.mark.parametrize(('busy', 'megapixels', 'n', 'bound'), CASES)
def test_a_random_kill_under_cpu_load_re_pays_no_answer_older_than_half_a_second(
    tmp_path: Path, busy: int, megapixels: float, n: int, bound: float, run: int
) -> None:
    kill_after = random.uniform(2.0, 5.0)
    entries, kill_wall, resume_started, _ = _kill_and_resume(
        tmp_path, latency=LATENCY, kill_after=kill_after, busy=busy, n=n, megapixels=megapixels
    )
    resumed = {e['prompt'] for e in entries if e['t_start'] >= resume_started}
    answered = [e for e in entries if e['t_start'] < resume_started and e['status'] == 200]
    # Sent: the server had handed the whole answer over (``t_sent``) before the kill.
    age = {e['prompt']: kill_wall - e['t_sent'] for e in answered if e['t_sent'] is not None}
    repaid = sorted(age[p] for p in resumed if p in age)
    db = tmp_path / 'home' / 'reverie.db'
    con = sqlite3.connect(str(db))
    try:
        (journal_rows,) = con.execute('SELECT count(*) FROM rv_journal').fetchone()
    finally:
        con.close()
    print(
        f'RELIABILITY kill -9 {kill_after:.2f} s into a {n}-cell run ({LATENCY} s latency, '
        f'{busy} busy processes, {megapixels} MP): {len(answered)} answered before the kill, '
        f'{len(resumed)} paid by resume, '
        f'{sum(a >= BOUND for a in repaid)} of them answered >= {BOUND} s before the kill '
        f'(oldest re-paid answer {repaid[-1] if repaid else 0:.2f} s old); journal rows after '
        f'resume: {journal_rows}'
    )
    assert len({e['prompt'] for e in entries if e['status'] == 200}) == n  # every cell answered
    assert not [a for a in repaid if a >= bound], repaid
    assert journal_rows == 0
