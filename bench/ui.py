"""Issue 21 (``reverie ui``): the grid page's first byte and 48 thumbnails, 100k rows.

One table of 100,000 rows (1,000,000 in the full run's ``ui_1000000`` piece): prompt, n,
photo; the first 200 rows hold distinct 640x400 PNGs, the others no image (inserting 100k
images would time the media store, not the UI). ``reverie ui`` runs in its own process
(as a user runs it) and is timed from here over one keep-alive connection, as a browser's
first page would be:

- first byte of ``/grid/bench/big`` (48 cards): the second load and later, median of 7;
- the same for a page deep in the table (after all rows but 1,000) and sorted by ``n``
  (no index);
- 48 thumbnails of the first page, one after another, cold (made and cached) then warm.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import PIL.Image
import PIL.ImageDraw

from bench.common import fresh_home

ROWS = 100_000
IMAGES = 200


def _image(i: int) -> PIL.Image.Image:
    img = PIL.Image.new('RGB', (640, 400), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    draw = PIL.ImageDraw.Draw(img)
    draw.ellipse((160 + i % 50, 80, 480, 320), fill=(255, 255, 255))
    draw.text((20, 20), f'image {i}', fill=(0, 0, 0))
    return img


def _ttfb(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    with client.stream('GET', path) as r:
        chunks = r.iter_raw()
        next(chunks)
        first = time.perf_counter() - start
        for _ in chunks:  # the rest of the page
            pass
    assert r.status_code == 200, (path, r.status_code)
    return first


def _start_ui(home: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        'REVERIE_HOME': str(home),
        'REVERIE_DB_URL': f'sqlite:///{home}/r.db',
        'REVERIE_MEDIA_DIR': str(home / 'media'),
    }
    proc = subprocess.Popen(
        [sys.executable, '-m', 'reverie.cli', 'ui', '--port', '0'],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith('Open '):
            return proc, line.split()[1].rstrip('/')
    raise RuntimeError('reverie ui did not start')


def ui_piece(rows: int = ROWS) -> dict[str, Any]:
    import reverie as rv

    out: dict[str, Any] = {}
    with fresh_home() as home:
        rv.create_dir('bench')
        t = rv.create_table(
            'bench/big', {'prompt': rv.String, 'n': rv.Int, 'photo': rv.Image | None}
        )
        start = time.perf_counter()
        t.insert(
            [{'prompt': f'image row {i}', 'n': i % 997, 'photo': _image(i)} for i in range(IMAGES)],
            print_stats=False,
        )
        t.insert(
            [
                {'prompt': f'a longer prompt for row {i}: a fox in a snowy forest', 'n': i % 997}
                for i in range(IMAGES, rows)
            ],
            print_stats=False,
        )
        out['ui_build_s'] = time.perf_counter() - start
        proc, url = _start_ui(home)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                page = client.get('/grid/bench/big').text  # the first load
                refs = re.findall(r'src="(/thumb/[^"]+\?w=256)"', page)
                assert len(refs) == 48, len(refs)
                out['ui_grid_ttfb_s'] = statistics.median(
                    _ttfb(client, '/grid/bench/big') for _ in range(7)
                )
                client.get('/grid/bench/big?after=' + _cursor(rows - 1_000))
                out['ui_deep_ttfb_s'] = statistics.median(
                    _ttfb(client, '/grid/bench/big?after=' + _cursor(rows - 1_000))
                    for _ in range(7)
                )
                client.get('/grid/bench/big?sort=n&desc=1')
                out['ui_sorted_ttfb_s'] = statistics.median(
                    _ttfb(client, '/grid/bench/big?sort=n&desc=1') for _ in range(5)
                )
                for key in ('cold', 'warm'):
                    start = time.perf_counter()
                    for ref in refs:
                        r = client.get(ref)
                        assert r.status_code == 200 and r.headers['content-type'] == 'image/webp'
                    out[f'ui_thumbs48_{key}_s'] = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(15)
    return out


def _cursor(rowid: int) -> str:
    from reverie.ui.grid import encode_cursor

    return encode_cursor([rowid])
