"""The Reve tutorial end to end: in this process, in a second process, and as a notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import reverie as rv
from reverie.demo import make_photos, run_tutorial, serve_folder, write_gallery
from reverie.reve_server import ServerOptions, serve_in_thread

ROOT = Path(__file__).resolve().parents[2]

REOPEN_AND_INSERT = """
import json, sys
import reverie as rv
t = rv.get_table('reve_demo/scenes')
t.insert(prompt='a lantern festival', source_image=sys.argv[1], print_stats=False)
rs = t.select(t.prompt, t.remixed.width, t.remixed.errormsg).collect()
print(json.dumps([list(r.values()) for r in rs]))
"""


@pytest.fixture
def reve_env(monkeypatch):
    with serve_in_thread(ServerOptions(latency=0.05, megapixels=0.02)) as server:
        monkeypatch.setenv('REVE_API_URL', server.url)
        monkeypatch.setenv('REVE_API_KEY', 'papi.tutorial')
        monkeypatch.setenv('REVERIE_ALLOW_PRIVATE_URLS', '1')  # the photo is served on loopback
        yield server


def test_tutorial_end_to_end_then_second_process(reve_env, tmp_path, capsys):
    rv.init()
    photos = tmp_path / 'photos'
    make_photos(photos)
    with serve_folder(photos) as base:
        t = run_tutorial(photos, f'{base}/cat.png')
    rs = t.select(t.prompt, t.scene, t.edited, t.remixed).collect()
    assert len(rs) == 2
    assert all(v is not None for row in rs for v in row.values())
    # one call per cell: 2 rows x 3 columns
    ok = [r for r in reve_env.requests if r.status == 200]
    assert len(ok) == 6
    assert t.credits_used() == 2 * (18 + 30 + 30)
    out = capsys.readouterr().out
    assert "Created table 'scenes'." in out
    assert 'Added 1 column value with 0 errors' in out
    page = write_gallery(t, tmp_path / 'out')
    assert page.read_text().count('<img') == 8

    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    proc = subprocess.run(
        [sys.executable, '-c', REOPEN_AND_INSERT, str(photos / 'fox.jpg')],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r[0] for r in rows][-1] == 'a lantern festival'
    assert all(r[1] is not None and r[2] is None for r in rows)
    # the new process made two more calls, old rows untouched: the edit of fox.jpg by the
    # same instruction was answered before, so the identical-call cache serves it for free
    assert len([r for r in reve_env.requests if r.status == 200]) == 8


def test_notebook_runs(reve_env, tmp_path, monkeypatch):
    monkeypatch.setenv('REVERIE_HOME', str(tmp_path / 'nbhome'))
    nb = nbformat.read(ROOT / 'docs' / 'reve_tutorial.ipynb', as_version=4)
    # Jupyter runs a notebook in its folder: docs/, where photos/ is.
    NotebookClient(
        nb, timeout=180, kernel_name='python3', resources={'metadata': {'path': str(ROOT / 'docs')}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])]
    html = [o['data']['text/html'] for o in outputs if 'data' in o and 'text/html' in o['data']]
    assert any('<img src="data:image/' in h for h in html)
    assert not any(o.get('output_type') == 'error' for o in outputs)


def test_the_notebook_is_the_readme_tutorial():
    """Issue 22: the same code as the README's block, photos from docs/photos, no tricks."""
    nb = nbformat.read(ROOT / 'docs' / 'reve_tutorial.ipynb', as_version=4)
    code = '\n'.join(c.source for c in nb.cells if c.cell_type == 'code')
    assert '__enter__' not in code and 'tempfile' not in code and 'make_photos' not in code
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    start = readme.index('```python\nimport reverie as rv\nfrom reverie.functions import reve\n')
    block = readme[start + len('```python\n') : readme.index('```', start + 10)]
    for line in block.replace("'docs/photos/", "'photos/").splitlines():
        assert line in code, line
    for photo in ('photos/fox.jpg', 'photos/cat.png'):
        assert photo in code and (ROOT / 'docs' / photo).exists()
    assert all(not c.get('outputs') for c in nb.cells if c.cell_type == 'code')  # no temp paths
