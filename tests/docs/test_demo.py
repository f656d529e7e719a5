"""``make demo``: its gallery, and its last lines saying where its tables are and how to look."""

from __future__ import annotations

import os
import re
import subprocess

from reverie import demo


def test_demo_says_where_its_tables_are_and_the_command_shows_them(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('REVERIE_HOME')  # as `make demo` runs: no home set
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('PATH', '/usr/bin:/bin')  # a venv that is not activated
    assert demo.main(out='demo_output', latency=0.0) == 0
    out = capsys.readouterr().out
    assert 'Tables are in REVERIE_HOME=demo_output/reverie_home; look with:' in out
    command = re.search(r'^  (REVERIE_HOME=\S+ \S+ tables)$', out, re.M)
    assert command is not None, out
    assert str(tmp_path) not in out.split('Gallery: ')[1]  # paths shown relative
    # run the printed command as a user would: a fresh shell, reverie not on PATH
    env = {k: v for k, v in os.environ.items() if k != 'REVERIE_HOME'}
    proc = subprocess.run(
        command[1],
        shell=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        'reve_demo/scenes',
        'reve_demo/wide  (view of reve_demo/scenes)',
    ]
    page = (tmp_path / 'demo_output' / 'gallery' / 'index.html').read_text()
    assert page.count('<img') == 8
    assert page.count('<dt>request</dt><dd>rsid-') == 6  # one per generated image
    assert page.count('<dt>model</dt><dd>reve-') == 6
    assert '<meta name="viewport"' in page
