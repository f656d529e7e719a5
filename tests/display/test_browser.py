"""The executed tutorial notebook and the demo gallery, rendered by a real headless Chromium.

Checked in the browser: every thumbnail loads, nothing overflows the page horizontally,
and no text is cut (text clipped by CSS carries all of it in its hover title).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import reverie as rv
from reverie.demo import make_photos, run_tutorial, serve_folder, write_gallery
from reverie.reve_server import ServerOptions, serve_in_thread
from tests.display.chromium import find_chromium, layout_facts, screenshot, with_facts_script
from tests.display.notebook_html import merge_streams, notebook_page, stream_text

ROOT = Path(__file__).resolve().parents[2]
DESKTOP, PHONE = 1400, 390


@pytest.fixture
def chromium():
    return find_chromium()


def _check(facts, n_images):
    assert len(facts['images']) == n_images
    assert all(i['ok'] for i in facts['images']), facts['images']
    assert facts['scrollWidth'] <= facts['width'], facts
    assert facts['cut'] == [], facts['cut']


def test_executed_notebook_renders_in_chromium(chromium, tmp_path, monkeypatch):
    monkeypatch.setenv('REVERIE_HOME', str(tmp_path / 'nbhome'))
    monkeypatch.setenv('REVERIE_PROGRESS', '1')  # what a kernel does by default; on here
    nb = nbformat.read(ROOT / 'docs' / 'reve_tutorial.ipynb', as_version=4)
    with serve_in_thread(ServerOptions(latency=0.2, megapixels=0.25)) as server:
        # the notebook reads the Reve settings from the kernel's environment; it runs in
        # docs/, where its photos are
        monkeypatch.setenv('REVE_API_URL', server.url)
        monkeypatch.setenv('REVE_API_KEY', 'papi.local-notebook')
        NotebookClient(
            nb,
            timeout=180,
            kernel_name='python3',
            resources={'metadata': {'path': str(ROOT / 'docs')}},
        ).execute()
    by_source = {c.source: c.get('outputs', []) for c in nb.cells if c.cell_type == 'code'}

    # describe() shows one HTML table, once: no printed copy, no returned string
    (describe,) = by_source['t.describe()']
    assert describe['output_type'] == 'display_data'
    assert 'reverie-schema' in describe['data']['text/html']
    # the Reve columns: a progress bar (text: the kernel has no ipywidgets), the
    # Pixeltable lines, and a one-line status instead of UpdateStatus(...)
    columns = next(outs for src, outs in by_source.items() if 'remixed=reve.remix' in src)
    bars = [stream_text(o['text']) for o in merge_streams(columns) if o.get('name') == 'stderr']
    shown = '\n'.join(bars)
    # redrawn in place: the notebook shows each bar once, finished
    assert shown.count('Computing scene: 100%') == 1 and 'Computing scene:   0%' not in shown
    printed = ''.join(o['text'] for o in columns if o.get('name') == 'stdout')
    assert printed.count('Added 1 column value with 0 errors') == 3
    (result,) = [o for o in columns if o['output_type'] == 'execute_result']
    assert result['data']['text/plain'] == '1 value computed.'
    # the whole file URL is in the HTML, not cut at 40 characters
    query = next(outs for src, outs in by_source.items() if 'fileurl' in src)
    assert 'file://' in query[0]['data']['text/html'] and '...' not in query[0]['data']['text/html']

    page = tmp_path / 'notebook.html'
    page.write_text(with_facts_script(notebook_page(nb)), encoding='utf-8')
    for width in (DESKTOP, PHONE):
        facts = layout_facts(chromium, page, width, tmp_path / 'profile')
        _check(facts, n_images=2)  # the remixed thumbnail of each row
        if width == DESKTOP:
            assert facts['scrollers'] == 0  # at 1400 px every result table fits
            assert facts['clipped'] >= 2  # the long file URLs, clipped with a hover title
    screenshot(chromium, page, DESKTOP, 2600, tmp_path / 'notebook.png', tmp_path / 'profile')


@pytest.fixture
def gallery(tmp_path, monkeypatch):
    with serve_in_thread(ServerOptions(megapixels=0.25)) as server:
        monkeypatch.setenv('REVE_API_URL', server.url)
        monkeypatch.setenv('REVE_API_KEY', 'papi.browser')
        rv.init({'allow_private_urls': True})  # the second photo is served on loopback
        photos = tmp_path / 'photos'
        make_photos(photos)
        with serve_folder(photos) as base:
            t = run_tutorial(photos, f'{base}/cat.png')
    return write_gallery(t, tmp_path / 'out')


def test_gallery_renders_in_chromium(chromium, gallery, tmp_path):
    page = gallery.parent / 'checked.html'
    page.write_text(with_facts_script(gallery.read_text(encoding='utf-8')), encoding='utf-8')
    for width in (DESKTOP, PHONE):
        facts = layout_facts(chromium, page, width, tmp_path / 'profile')
        _check(facts, n_images=8)
        assert facts['clipped'] == 0  # nothing in the gallery is clipped at all
    screenshot(chromium, page, DESKTOP, 1400, tmp_path / 'gallery.png', tmp_path / 'profile')
    screenshot(chromium, page, PHONE, 2400, tmp_path / 'gallery_phone.png', tmp_path / 'profile')
