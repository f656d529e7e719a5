"""CLIP through transformers: embeddings in computed columns, an index searched by text and
by image, prompt-image alignment; a tiny randomly initialised model built here, on CPU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from tests.functions.local.conftest import require_libraries

COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange']


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_libraries()
    from tests.functions.local.tiny_clip import build_tiny_clip

    yield str(build_tiny_clip(tmp_path_factory.mktemp('models') / 'tiny-clip'))


def _picture(color: str, size: tuple[int, int] = (48, 40)) -> PIL.Image.Image:
    img = PIL.Image.new('RGB', size, color)
    img.paste(
        PIL.Image.new('RGB', (size[0] // 3, size[1] // 3), 'white'), (size[0] // 12, size[1] // 10)
    )
    return img


def _table(tmp_path: Path, model_id: str) -> rv.Table:
    from reverie.functions import clip

    t = rv.create_table('pics', {'k': rv.Int, 'prompt': rv.String, 'img': rv.Image})
    rows = []
    for i, color in enumerate(COLORS):
        path = tmp_path / f'{color}.png'
        _picture(color).save(path)
        rows.append({'k': i, 'prompt': f'a {color} square', 'img': str(path)})
    t.insert(rows, print_stats=False)
    t.add_embedding_index(
        'img',
        string_embed=lambda s: clip.embed_text(s, model_id=model_id),
        image_embed=lambda im: clip.embed_image(im, model_id=model_id),
    )
    return t


def test_embeddings_in_computed_columns(sqlite_catalog: Catalog, tiny_clip: str) -> None:
    from reverie.functions import clip

    t = rv.create_table('texts', {'s': rv.String})
    t.insert([{'s': 'a red fox'}, {'s': 'a blue whale'}], print_stats=False)
    t.add_computed_column(e=clip.embed_text(t.s, model_id=tiny_clip), print_stats=False)
    rows = t.select(t.e).collect()['e']
    assert [np.asarray(v).shape for v in rows] == [(8,), (8,)]
    direct = clip.model(tiny_clip).text(['a red fox'])[0]
    assert np.allclose(rows[0], direct, atol=1e-5)
    assert clip.model(tiny_clip) is clip.model(tiny_clip)  # loaded once per process


def test_index_searched_by_text_and_by_image(
    sqlite_catalog: Catalog, tiny_clip: str, tmp_path: Path
) -> None:
    from reverie.functions import clip

    t = _table(tmp_path, tiny_clip)
    # By image: a picture in the table is its own nearest neighbour (cosine 1).
    sim = t.img.similarity(image=_picture('blue'))
    rs = t.order_by(sim, asc=False).limit(2).select(t.k, sim).collect()
    assert rs['k'][0] == COLORS.index('blue')
    assert rs['similarity'][0] == pytest.approx(1.0, abs=1e-4)
    # By text: the same order as CLIP's own cosine between the text and each picture.
    m = clip.model(tiny_clip)
    q = m.text(['a green square'])[0]
    pics = m.image([_picture(c) for c in COLORS])
    cos = pics @ q / np.linalg.norm(pics, axis=1) / np.linalg.norm(q)
    sim = t.img.similarity('a green square')
    rs = t.order_by(sim, asc=False).limit(3).select(t.k, sim).collect()
    assert rs['k'] == np.argsort(-cos)[:3].tolist()
    assert np.allclose(rs['similarity'], np.sort(cos)[::-1][:3], atol=1e-4)


def test_score_ranks_alignment(sqlite_catalog: Catalog, tiny_clip: str, tmp_path: Path) -> None:
    from reverie.functions import clip

    t = _table(tmp_path, tiny_clip)
    t.add_computed_column(align=clip.score(t.img, t.prompt, model_id=tiny_clip), print_stats=False)
    got = t.order_by(t.k).select(t.align).collect()['align']
    m = clip.model(tiny_clip)
    pics = m.image([_picture(c) for c in COLORS])
    texts = m.text([f'a {c} square' for c in COLORS])
    cos = np.einsum('ij,ij->i', pics, texts)
    cos /= np.linalg.norm(pics, axis=1) * np.linalg.norm(texts, axis=1)
    assert np.allclose(got, np.maximum(100 * cos, 0), atol=1e-3)


def test_near_duplicate_images(sqlite_catalog: Catalog, tiny_clip: str, tmp_path: Path) -> None:
    t = _table(tmp_path, tiny_clip)
    again = tmp_path / 'red-again.png'
    _picture('red', (96, 80)).save(again)  # the same picture, twice the size
    t.insert(k=10, prompt='a red square again', img=str(again), print_stats=False)
    rs = t.near_duplicates('img', threshold=0.999, select=[t.k])
    assert rs['k'] == [COLORS.index('red'), 10]  # orange is 0.989 away: not one of them
