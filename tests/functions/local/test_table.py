"""A table whose create / edit / remix columns run on the local model."""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.functions import images


@pytest.fixture
def verbs():
    if not hasattr(images, 'create'):
        pytest.skip('images.create / edit / remix are not on this branch yet (issue 10).')
    return images


def test_table_with_three_local_columns(sqlite_catalog, local_env: Path, tmp_path: Path, verbs):
    model = f'local/{local_env}'
    photo = tmp_path / 'fox.png'
    PIL.Image.new('RGB', (96, 64), 'orange').save(photo)
    t = rv.create_table('scenes', {'prompt': rv.String, 'source_image': rv.Image})
    t.insert([{'prompt': 'a solarpunk oasis', 'source_image': str(photo)}], print_stats=False)

    t.add_computed_column(scene=verbs.create(t.prompt, model=model, aspect_ratio='16:9', seed=1))
    t.add_computed_column(edited=verbs.edit(t.source_image, 'Make it solarpunk', model=model))
    t.add_computed_column(
        remixed=verbs.remix(
            'Place the subject of <img>0</img> into the scene of <img>1</img>',
            images=[t.edited, t.scene],
            model=model,
            aspect_ratio='1:1',
        )
    )
    t.insert(prompt='a floating garden market', source_image=str(photo), print_stats=False)

    rs = t.select(t.scene, t.edited, t.remixed).order_by(t.prompt).collect()
    assert len(rs) == 2
    for row in rs:
        assert row['scene'].size == (86, 48)
        assert row['edited'].size == (78, 52)  # keeps the source's 3:2 shape
        assert row['remixed'].size == (64, 64)
        assert row['remixed'].format == 'PNG'
    errors = t.select(t.scene.errortype, t.edited.errortype, t.remixed.errortype).collect()
    assert all(v is None for row in errors for v in row.values())

    # A new process (a fresh catalog) sees the same images.
    assert t.count() == 2
    assert rv.get_table('scenes').where(t.remixed != None).count() == 2  # noqa: E711
