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
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import PIL.ImageDraw

import reverie as rv
from reverie.functions import reve
from reverie.functions.images.calls import read_cellmeta
from reverie.reve_server import ServerOptions, serve_in_thread

DEMO_LATENCY = 0.5
EDIT_PROMPT = 'Make it solarpunk: plants, solar glass'
REMIX_PROMPT = 'Place the subject of <img>0</img> into the scene of <img>1</img>'


_Box = tuple[int, int, int, int]
_Color = tuple[int, int, int]


def make_photos(folder: Path) -> tuple[Path, Path]:
    """Two small source photos drawn locally (the demo needs no download)."""
    folder.mkdir(parents=True, exist_ok=True)
    fox_path, cat_path = folder / 'fox.jpg', folder / 'cat.png'
    fox = _face((640, 480), (250, 236, 210), (200, 140, 440, 400), (214, 110, 40))
    _features(fox, [(220, 170), (260, 60), (300, 160)], (190, 90, 30), (270, 240), (20, 20, 20))
    fox.save(fox_path, quality=92)
    cat = _face((480, 480), (205, 225, 245), (120, 140, 360, 400), (90, 90, 100))
    _features(cat, [(140, 190), (160, 80), (220, 160)], (80, 80, 90), (180, 230), (120, 200, 80))
    cat.save(cat_path)
    return fox_path, cat_path


def _face(size: tuple[int, int], background: _Color, head: _Box, fur: _Color) -> PIL.Image.Image:
    img = PIL.Image.new('RGB', size, background)
    PIL.ImageDraw.Draw(img).ellipse(head, fill=fur)
    return img


def _features(
    img: PIL.Image.Image,
    ear: list[tuple[int, int]],
    ear_fur: _Color,
    eye: tuple[int, int],
    iris: _Color,
) -> None:
    """Two ears and two 30 px eyes: the left ones given, the right ones their mirror images."""
    draw, width = PIL.ImageDraw.Draw(img), img.width
    left_eye = (eye[0], eye[1], eye[0] + 30, eye[1] + 30)
    right_eye = (width - left_eye[2], eye[1], width - eye[0], left_eye[3])
    draw.polygon(ear, fill=ear_fur)
    draw.polygon([(width - x, y) for x, y in reversed(ear)], fill=ear_fur)
    draw.ellipse(left_eye, fill=iris)
    draw.ellipse(right_eye, fill=iris)


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
def reve_service(latency: float = DEMO_LATENCY) -> Iterator[str]:
    """The real service when ``REVE_API_KEY`` is set, else the local server."""
    if os.environ.get('REVE_API_KEY'):
        yield os.environ.get('REVE_API_URL', 'https://api.reve.com')
        return
    with serve_in_thread(ServerOptions(latency=latency)) as server:
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
        if_exists='replace_force',  # a view of it from an earlier run goes too
    )
    t.insert(
        [{'prompt': 'a solarpunk oasis city at dawn', 'source_image': str(photos / 'fox.jpg')}]
    )
    t.add_computed_column(scene=reve.create(t.prompt, aspect_ratio='16:9'))
    t.add_computed_column(edited=reve.edit(t.source_image, EDIT_PROMPT))
    t.add_computed_column(
        remixed=reve.remix(
            REMIX_PROMPT,
            images=[t.edited, t.scene],
            aspect_ratio='16:9',
        )
    )
    t.insert(prompt='a floating garden market', source_image=photo_url)
    return t


GALLERY_CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;
background:#f6f8fa}
header{padding:24px 16px 8px;max-width:1200px;margin:0 auto}
h1{margin:0 0 4px;font-size:1.6rem}
header p{margin:0;color:#57606a}
main{max-width:1200px;margin:0 auto;padding:8px 16px 32px}
section{background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:16px;margin:16px 0}
h2{margin:0 0 12px;font-size:1.1rem;overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:16px}
figure{margin:0;min-width:0}
figure img{display:block;width:100%;height:auto;border-radius:6px;background:#eaeef2}
figcaption{margin-top:6px;font-size:.85rem;color:#57606a}
figcaption b{color:#1f2328}
dl{display:grid;grid-template-columns:auto 1fr;gap:0 8px;margin:4px 0 0}
dt{color:#57606a}
dd{margin:0;min-width:0;overflow-wrap:anywhere;font-family:ui-monospace,monospace;
font-size:.8rem}
.none{display:flex;align-items:center;justify-content:center;aspect-ratio:4/3;
border:1px dashed #d0d7de;border-radius:6px;color:#8c959f}
"""

INPUT_COLUMN = 'source_image'
OUTPUT_COLUMNS = ('scene', 'edited', 'remixed')


def write_gallery(t: rv.Table, out: Path) -> Path:
    """A responsive HTML page of every input and output image, with each output's provenance.

    Each generated image shows the prompt of its row, the model version that made it, the
    request id and the credits it cost (from the cell's ``cellmeta``).
    """
    gallery = out / 'gallery'
    shutil.rmtree(gallery, ignore_errors=True)
    gallery.mkdir(parents=True)
    columns = [INPUT_COLUMN, *OUTPUT_COLUMNS]
    rs = t.select(
        t.prompt,
        *(t[c].localpath for c in columns),
        *(t[c].cellmeta for c in OUTPUT_COLUMNS),
    ).collect()
    sections = []
    for i, row in enumerate(rs):
        values = list(row.values())
        paths = dict(zip(columns, values[1 : 1 + len(columns)], strict=True))
        metas = dict(zip(OUTPUT_COLUMNS, values[1 + len(columns) :], strict=True))
        figures = []
        for col in columns:
            src = paths[col]
            if src is None:
                figures.append(f'<figure><div class="none">no {col}</div></figure>')
                continue
            name = f'{i}_{col}{Path(src).suffix}'
            shutil.copyfile(src, gallery / name)
            meta = read_cellmeta(metas.get(col))
            prompts = {'scene': row['prompt'], 'edited': EDIT_PROMPT, 'remixed': REMIX_PROMPT}
            facts = (
                [
                    ('prompt', prompts[col]),
                    ('model', meta.get('model_version')),
                    ('request', meta.get('request_id')),
                    ('credits', meta.get('credits')),
                ]
                if col in metas
                else [('input', 'your photo')]
            )
            items = ''.join(
                f'<dt>{label}</dt><dd>{html.escape(str(v if v is not None else "-"))}</dd>'
                for label, v in facts
            )
            alt = html.escape(f'{col} for {row["prompt"]}')
            figures.append(
                f'<figure><img src="{name}" alt="{alt}">'
                f'<figcaption><b>{col}</b><dl>{items}</dl></figcaption></figure>'
            )
        sections.append(
            f'<section><h2>{html.escape(str(row["prompt"]))}</h2>'
            f'<div class="grid">{"".join(figures)}</div></section>'
        )
    page = gallery / 'index.html'
    page.write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>reverie: Reve tutorial</title><style>{GALLERY_CSS}</style></head><body>'
        '<header><h1>Reve tutorial gallery</h1>'
        f'<p>Table {html.escape(t.get_metadata()["path"])}: {len(rs)} rows, '
        f'{t.credits_used()} credits.</p>'
        f'</header><main>{"".join(sections)}</main></body></html>\n',
        encoding='utf-8',
    )
    return page


def main(out: str = 'demo_output', *, latency: float = DEMO_LATENCY) -> int:
    """Run the tutorial; returns a process exit status.

    Its tables live in ``REVERIE_HOME`` when that is set, else in ``OUT/reverie_home`` (so a
    demo never touches ``~/.reverie``); the last lines say where and how to look.
    """
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('REVERIE_HOME', str(out_dir / 'reverie_home'))
    home = _shown_path(os.environ['REVERIE_HOME'])
    # The second row's image comes from a folder served on loopback: allow that host.
    rv.init({'allow_private_urls': True})
    start = time.perf_counter()
    photos = out_dir / 'photos'
    make_photos(photos)
    with serve_folder(photos) as photo_base, reve_service(latency) as reve_url:
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
                request_id=t.remixed.cellmeta['request_id'],
                version=t.remixed.cellmeta['model_version'],
            ).collect()
        )
        print(f'\nCredits spent: {t.credits_used()}')
        print()
        show_versions_and_views(t)
    page = write_gallery(t, out_dir)
    print(f'Gallery: {_shown_path(str(page))}')
    command = reverie_command()
    print(f'Tables are in REVERIE_HOME={home}; look with:')
    print(f'  REVERIE_HOME={shlex.quote(home)} {command} tables')
    print(f'Done in {time.perf_counter() - start:.1f} s.')
    print(f'Browse them in a web browser: REVERIE_HOME={shlex.quote(home)} {command} ui')
    return 0


def show_versions_and_views(t: rv.Table) -> None:
    """Every change was a version; a view keeps the wide scenes, with thumbnails of its own."""
    for v in reversed(t.get_versions()):
        changed = ', '.join(f'{v[k]} {k}' for k in ('inserted', 'computed') if v[k])
        print(f'version {v["version"]}: {v["kind"]}{": " + changed if changed else ""}')
    wide = rv.create_view('reve_demo.wide', t.where(t.scene.width > 1200))
    wide.add_computed_column(thumb=wide.scene.resize((256, 144)))
    print(wide.select(wide.prompt, wide.thumb).collect())


def reverie_command() -> str:
    """How to run ``reverie`` from this shell.

    The name when it is on PATH, else this Python's script (``.venv/bin/reverie`` of a venv
    that is not activated), else ``python -m reverie.cli``.
    """
    script = Path(sys.executable).parent / 'reverie'
    on_path = shutil.which('reverie')
    if on_path is not None and (not script.exists() or Path(on_path).samefile(script)):
        return 'reverie'
    if script.exists():
        return shlex.quote(_shown_path(str(script)))
    return f'{shlex.quote(sys.executable)} -m reverie.cli'


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it lies inside it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


if __name__ == '__main__':
    raise SystemExit(main())
