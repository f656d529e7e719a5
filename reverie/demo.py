"""The Reve tutorial, end to end: ``make demo`` / ``reverie demo``.

Without ``REVE_API_KEY`` it starts the local Reve-compatible server on loopback and points
the client at it, so it runs offline. It builds the solarpunk table, adds the three Reve
columns, inserts a second row (its source image fetched over HTTP), prints the tables
and writes an HTML gallery of every input and output image.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import PIL.ImageDraw

import reverie as rv
from reverie.functions import reve
from reverie.reve_server import ServerOptions, serve_in_thread

DEMO_LATENCY = 0.5


def make_photos(folder: Path) -> tuple[Path, Path]:
    """Two small source photos drawn locally (the demo needs no download)."""
    folder.mkdir(parents=True, exist_ok=True)
    fox = PIL.Image.new('RGB', (640, 480), (250, 236, 210))
    draw = PIL.ImageDraw.Draw(fox)
    draw.ellipse((200, 140, 440, 400), fill=(214, 110, 40))
    draw.polygon([(220, 170), (260, 60), (300, 160)], fill=(190, 90, 30))
    draw.polygon([(340, 160), (380, 60), (420, 170)], fill=(190, 90, 30))
    draw.ellipse((270, 240, 300, 270), fill=(20, 20, 20))
    draw.ellipse((340, 240, 370, 270), fill=(20, 20, 20))
    fox_path = folder / 'fox.jpg'
    fox.save(fox_path, quality=92)
    cat = PIL.Image.new('RGB', (480, 480), (205, 225, 245))
    draw = PIL.ImageDraw.Draw(cat)
    draw.ellipse((120, 140, 360, 400), fill=(90, 90, 100))
    draw.polygon([(140, 190), (160, 80), (220, 160)], fill=(80, 80, 90))
    draw.polygon([(260, 160), (320, 80), (340, 190)], fill=(80, 80, 90))
    draw.ellipse((180, 230, 210, 260), fill=(120, 200, 80))
    draw.ellipse((270, 230, 300, 260), fill=(120, 200, 80))
    cat_path = folder / 'cat.png'
    cat.save(cat_path)
    return fox_path, cat_path


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on loopback; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def reve_service() -> Iterator[str]:
    """The real service when ``REVE_API_KEY`` is set, else the local server."""
    if os.environ.get('REVE_API_KEY'):
        yield os.environ.get('REVE_API_URL', 'https://api.reve.com')
        return
    with serve_in_thread(ServerOptions(latency=DEMO_LATENCY)) as server:
        os.environ['REVE_API_URL'] = server.url
        os.environ['REVE_API_KEY'] = 'papi.local-demo'
        try:
            yield server.url
        finally:
            del os.environ['REVE_API_URL'], os.environ['REVE_API_KEY']


def run_tutorial(photos: Path, photo_url: str) -> rv.Table:
    """The tutorial's steps; returns the table."""
    rv.create_dir('reve_demo', if_exists='ignore')
    t = rv.create_table(
        'reve_demo.scenes',
        {'prompt': rv.String, 'source_image': rv.Image},
        if_exists='replace',
    )
    t.insert(
        [{'prompt': 'a solarpunk oasis city at dawn', 'source_image': str(photos / 'fox.jpg')}]
    )
    t.add_computed_column(scene=reve.create(t.prompt, aspect_ratio='16:9'))
    t.add_computed_column(
        edited=reve.edit(t.source_image, 'Make it solarpunk: plants, solar glass')
    )
    t.add_computed_column(
        remixed=reve.remix(
            'Place the subject of <img>0</img> into the scene of <img>1</img>',
            images=[t.edited, t.scene],
            aspect_ratio='16:9',
        )
    )
    t.insert(prompt='a floating garden market', source_image=photo_url)
    return t


def write_gallery(t: rv.Table, out: Path) -> Path:
    """An HTML page with every input and output image of the table."""
    gallery = out / 'gallery'
    shutil.rmtree(gallery, ignore_errors=True)
    gallery.mkdir(parents=True)
    columns = ['source_image', 'scene', 'edited', 'remixed']
    rs = t.select(t.prompt, *(t[c].localpath for c in columns)).collect()
    rows_html = []
    for i, row in enumerate(rs):
        cells = [f'<td>{html.escape(row["prompt"])}</td>']
        for col, key in zip(columns, [k for k in row if k != 'prompt'], strict=True):
            src = row[key]
            if src is None:
                cells.append('<td>(none)</td>')
                continue
            name = f'{i}_{col}{Path(src).suffix}'
            shutil.copyfile(src, gallery / name)
            cells.append(f'<td><img src="{name}" style="max-width:320px"><br>{col}</td>')
        rows_html.append('<tr>' + ''.join(cells) + '</tr>')
    page = gallery / 'index.html'
    page.write_text(
        '<!doctype html><meta charset="utf-8"><title>reverie: Reve tutorial</title>'
        '<h1>Reve tutorial gallery</h1><table border="1" cellpadding="6">'
        '<tr><th>prompt</th>'
        + ''.join(f'<th>{c}</th>' for c in columns)
        + '</tr>'
        + ''.join(rows_html)
        + '</table>\n',
        encoding='utf-8',
    )
    return page


def main(out: str = 'demo_output') -> int:
    """Run the tutorial; returns a process exit status."""
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('REVERIE_HOME', str(out_dir / 'reverie_home'))
    # The second row's image comes from a folder served on loopback: allow that host.
    rv.init({'allow_private_urls': True})
    start = time.perf_counter()
    photos = out_dir / 'photos'
    make_photos(photos)
    with serve_folder(photos) as photo_base, reve_service() as reve_url:
        print(f'Reve service: {reve_url}')
        t = run_tutorial(photos, f'{photo_base}/cat.png')
        print()
        print(t.select(t.prompt, t.scene, t.edited, t.remixed).collect())
        print()
        print(
            t.select(t.prompt, t.remixed.width, t.remixed.height, t.remixed.fileurl)
            .where(t.remixed != None)  # noqa: E711
            .collect()
        )
        print()
        print(
            t.select(
                request_id=t.remixed.cellmeta['request_id'], version=t.remixed.cellmeta['version']
            ).collect()
        )
        print(f'\nCredits spent: {t.credits_used()}')
    page = write_gallery(t, out_dir)
    print(f'Gallery: {page}')
    print(f'Done in {time.perf_counter() - start:.1f} s.')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
