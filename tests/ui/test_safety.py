"""Safety of ``reverie ui``: a token off loopback, no writes unless allowed, no way out of the
media store, no API key in any page, and the token never in a log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import reverie as rv
from reverie.ui.server import serve_in_thread
from tests.ui.site import API_KEY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def readonly(site):
    with serve_in_thread(site) as bound:
        yield bound


def _start_cli(home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, 'REVERIE_HOME': str(home), 'REVE_API_KEY': API_KEY}
    proc = subprocess.Popen(
        [sys.executable, '-m', 'reverie.cli', 'ui', '--port', '0', *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith('Open '):
            return proc, line.split()[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f'reverie ui did not print its URL: {proc.stderr.read()}')  # type: ignore[union-attr]


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_a_host_off_loopback_needs_the_token(tmp_path):
    proc, url = _start_cli(tmp_path / 'home', '--host', '0.0.0.0')
    try:
        match = re.fullmatch(r'http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)', url)
        assert match, url
        base, token = f'http://127.0.0.1:{match[1]}', match[2]
        with httpx.Client(base_url=base) as client:
            assert client.get('/').status_code == 401
            assert client.get('/cost').status_code == 401
            assert client.get('/static/ui.css').status_code == 401
            assert client.get('/?token=wrong').status_code == 401
            assert client.get('/', headers={'Authorization': 'Bearer nope'}).status_code == 401
            ok = client.get('/cost', headers={'Authorization': f'Bearer {token}'})
            assert ok.status_code == 200
            assert token not in ok.text
            first = client.get(f'/cost?token={token}')  # sets the cookie, drops the token
            assert first.status_code == 303
            assert first.headers['location'] == '/cost'
            assert 'HttpOnly' in first.headers['set-cookie']
            again = client.get('/cost')  # the cookie from now on
            assert again.status_code == 200
    finally:
        err = _stop(proc)
    assert token not in err  # never logged


def test_loopback_refuses_other_host_names(readonly):
    with httpx.Client(base_url=readonly.url) as client:
        assert client.get('/').status_code == 200
        assert client.get('/', headers={'Host': 'evil.example:80'}).status_code == 400


@pytest.mark.parametrize(
    ('path', 'form'),
    [
        pytest.param(
            '/mark/ui/scenes',
            {'row': '1', 'column': 'pick', 'value': 'scene', 'confirm': 'yes'},
            id='mark',
        ),
        pytest.param('/recompute/ui/scenes', {'col': 'caption', 'confirm': 'yes'}, id='recompute'),
    ],
)
def test_writes_need_allow_writes(readonly, site, path, form):
    t = rv.get_table('ui/scenes')  # its version must not move
    version = t.get_metadata()['version']
    with httpx.Client(base_url=readonly.url) as client:
        r = client.post(path, data=form)
    assert r.status_code == 403
    assert '--allow-writes' in r.text
    assert t.get_metadata()['version'] == version


def test_writes_from_another_origin_are_refused(ui):
    with httpx.Client(base_url=ui.url) as client:
        r = client.post(
            '/mark/ui/scenes',
            data={'row': '1', 'column': 'pick', 'value': 'scene', 'confirm': 'yes'},
            headers={'Origin': 'http://evil.example'},
        )
    assert r.status_code == 403


def test_a_write_needs_its_confirmation(ui):
    with httpx.Client(base_url=ui.url) as client:
        r = client.post('/recompute/ui/scenes', data={'col': 'caption'})
    assert r.status_code == 400
    assert 'confirmed' in r.text


@pytest.mark.parametrize(
    'path',
    [
        '/media/../../r.db',
        '/media/..%2F..%2Fr.db',
        '/media/%2e%2e/%2e%2e/etc/passwd',
        '/thumb/..%2F..%2Fr.db?w=256',
        '/thumb/../../../../etc/passwd',
        '/media/' + 'ab/' + 'ab' * 32 + '.png',  # well-formed, not stored
        '/media/ab/../../r.db',
        '/static/../app.py',
        '/static/..%2Fapp.py',
    ],
)
def test_no_path_leaves_the_media_store(readonly, path):
    with httpx.Client(base_url=readonly.url) as client:
        r = client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert b'SQLite' not in r.content


def test_no_page_shows_the_api_key(readonly, site, monkeypatch):
    monkeypatch.setenv('REVE_API_KEY', API_KEY)
    paths = [
        '/',
        '/t/ui/scenes',
        '/grid/ui/scenes',
        '/cell/ui/scenes?row=1&col=scene',
        '/compare/ui/scenes',
        '/errors/ui/scenes',
        '/estimate/ui/scenes?col=caption',
        '/history/ui/scenes',
        '/cost',
        '/work',
    ]
    with httpx.Client(base_url=readonly.url) as client:
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, path
            assert API_KEY not in r.text, path
            assert 'papi.' not in r.text, path
