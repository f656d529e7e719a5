"""A catalog for the UI tests: real images from the local Reve stand-in, error cells, ledger.

``build_site(home)`` makes, in a fresh ``REVERIE_HOME``:
- ``ui/scenes``: 6 prompts, two image columns made by ``reve.create`` (``scene`` and
  ``night``), and ``caption``, a UDF that fails on prompts containing 'bad' (error cells);
- ``ui/plain``: a table of PIL images inserted directly, with a UDF column;
- ``ui/wide``: a view of ``ui/scenes``;
- ``ui/broken``: 1 prompt whose Reve answer does not decode (a ``bad_answer`` ledger row);
- ``ui/usd``: 2 prompts made by ``images.create`` on the OpenAI stand-in (billed in USD).
"""

from __future__ import annotations

import os
from pathlib import Path

import PIL.Image
import PIL.ImageDraw

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.functions import images, reve
from reverie.reve_server import ServerOptions, serve_in_thread
from tests.functions.providers.openai_server import OpenAIStandIn

API_KEY = 'papi.ui-test-secret-4d1f9c'
PROMPTS = [
    'a lighthouse on a cliff at dawn',
    'a bad robot in the rain',
    'a fox in a snowy forest',
    'a bad city of glass',
    'a quiet harbour with boats',
    'a bad dream of a desert',
]


@rv.udf
def caption(prompt: str) -> str:
    if 'robot' in prompt:
        raise RuntimeError('no robots today')
    if 'bad' in prompt:
        raise ValueError('prompt refused: it contains "bad"')
    return prompt.upper()


def square(color: tuple[int, int, int], size: tuple[int, int], label: str) -> PIL.Image.Image:
    img = PIL.Image.new('RGB', size, color)
    draw = PIL.ImageDraw.Draw(img)
    draw.ellipse((size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4), fill='white')
    draw.text((10, 10), label, fill='black')
    return img


def build_site(home: Path) -> Catalog:
    """Fill a fresh catalog under ``home``; returns it (also the process-wide default)."""
    names = ('REVE_API_URL', 'REVE_API_KEY', 'REVERIE_HOME', 'OPENAI_API_KEY', 'OPENAI_BASE_URL')
    saved = {k: os.environ.get(k) for k in names}
    catalog = rv.init(
        {'home': str(home), 'db_url': f'sqlite:///{home}/r.db', 'media_dir': str(home / 'media')}
    )
    try:
        with serve_in_thread(ServerOptions(megapixels=0.1, latency=0.0)) as server:
            os.environ['REVE_API_URL'] = server.url
            os.environ['REVE_API_KEY'] = API_KEY
            rv.create_dir('ui')
            t = rv.create_table('ui/scenes', {'prompt': rv.String})
            t.insert([{'prompt': p} for p in PROMPTS])
            t.add_computed_column(scene=reve.create(t.prompt, aspect_ratio='1:1'))
            t.add_computed_column(night=reve.create(t.prompt + ' at night', aspect_ratio='3:2'))
            t.add_computed_column(caption=caption(t.prompt), on_error='ignore')
            rv.create_view('ui/wide', t.where(t.prompt != 'a fox in a snowy forest'))
        broken = ServerOptions(megapixels=0.1, latency=0.0, answer_fault='truncated')
        with serve_in_thread(broken) as server:
            os.environ['REVE_API_URL'] = server.url
            b = rv.create_table('ui/broken', {'prompt': rv.String})
            b.insert([{'prompt': 'a cracked vase'}])
            b.add_computed_column(img=reve.create(b.prompt), on_error='ignore')
        with OpenAIStandIn() as openai:
            os.environ['OPENAI_API_KEY'] = openai.key
            os.environ['OPENAI_BASE_URL'] = f'{openai.url}/v1'
            u = rv.create_table('ui/usd', {'prompt': rv.String})
            u.insert([{'prompt': 'a paper boat'}, {'prompt': 'a red kite'}])
            u.add_computed_column(pic=images.create(u.prompt, model='openai/gpt-image-2'))
        p = rv.create_table('ui/plain', {'label': rv.String, 'photo': rv.Image})
        colors = [(200, 60, 60), (60, 160, 90), (50, 90, 200), (220, 170, 40)]
        p.insert(
            [
                {'label': f'photo {i}', 'photo': square(c, (640, 400), f'photo {i}')}
                for i, c in enumerate(colors)
            ]
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return catalog
