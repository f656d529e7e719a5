"""The Work page's workers (from the worker registry) and the Cost page's budgets, in
headless Chromium against a running ``reverie ui``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import reverie as rv

ROOT = Path(__file__).resolve().parents[2]


def _open(watched, ui, path):
    page = watched.page
    response = page.goto(ui.url.rstrip('/') + path, wait_until='load')
    assert response.status == 200, path
    return page


def test_a_running_worker_appears_with_host_and_pid_and_leaves_when_stopped(
    ui, watched, shots, site
):
    page = _open(watched, ui, '/work')
    page.locator('#no-workers').wait_for(timeout=10_000)
    env = {
        **os.environ,
        'REVERIE_HOME': str(site.config.home),
        'REVERIE_DB_URL': site.config.db_url,
        'REVERIE_MEDIA_DIR': str(site.config.media_dir),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            '-m',
            'reverie.cli',
            'worker',
            '--tables',
            'ui/plain',
            '--interval',
            '0.5',
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        row = page.locator(f'tr[data-worker$=":{worker.pid}"]')
        row.wait_for(timeout=30_000)  # pushed by the event stream: no reload
        assert worker.poll() is None
        assert row.locator('.host').inner_text() == os.uname().nodename
        assert row.locator('.pid').inner_text() == str(worker.pid)
        # Its tables and claims come with its first heartbeat (every WORKER_BEAT seconds).
        row.locator('a', has_text='ui/plain').wait_for(timeout=20_000)
        assert page.inner_text('#workers-total') == '1'
        page.screenshot(path=str(shots / 'work_workers.png'), full_page=True)
        worker.send_signal(signal.SIGTERM)
        out = worker.communicate(timeout=60)[0]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 143, out
    row.wait_for(state='detached', timeout=10_000)
    page.locator('#no-workers').wait_for(timeout=10_000)
    assert rv.workers() == []
    assert watched.problems == []


def test_budgets_show_cap_spent_and_left_per_unit(ui, watched, shots, site):
    rows = list(rv.calls().collect())
    scenes_credits = sum(float(r['credits'] or 0) for r in rows if r['table'] == 'ui/scenes')
    usd_spent = sum(float(r['cost_usd'] or 0) for r in rows)
    assert scenes_credits > 0 and 0 < usd_spent < 2.5
    rv.set_budget(credits=scenes_credits + 500, table='ui/scenes')
    rv.set_budget(usd=2.5, per='day')
    try:
        page = _open(watched, ui, '/cost')
        page.wait_for_load_state('networkidle')
        credits = page.locator('tr[data-budget="ui/scenes|credits"]')
        assert credits.locator('.unit').inner_text() == 'credits'
        assert _num(credits.locator('.cap').inner_text()) == pytest.approx(scenes_credits + 500)
        assert _num(credits.locator('.spent').inner_text()) == pytest.approx(scenes_credits)
        assert _num(credits.locator('.left').inner_text()) == pytest.approx(500)
        assert 'in all' in credits.inner_text()
        usd = page.locator('tr[data-budget="*|usd"]')
        assert usd.locator('.unit').inner_text() == 'USD'
        assert 'every table' in usd.inner_text() and 'per day' in usd.inner_text()
        assert _num(usd.locator('.cap').inner_text()) == 2.5
        # Spent today on every table: the USD of the OpenAI stand-in's calls, credits apart.
        assert _num(usd.locator('.spent').inner_text()) == pytest.approx(usd_spent, abs=0.005)
        assert _num(usd.locator('.left').inner_text()) == pytest.approx(2.5 - usd_spent, abs=0.005)
        assert page.locator('table.budgets tbody tr').count() == 2
        page.screenshot(path=str(shots / 'cost_budgets.png'), full_page=True)
        assert watched.problems == []
    finally:
        rv.set_budget(table='ui/scenes')
        rv.set_budget()
    page = _open(watched, ui, '/cost')
    assert page.locator('#no-budgets').count() == 1


def _num(text: str) -> float:
    return float(text.replace(',', ''))
