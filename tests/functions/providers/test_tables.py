"""End to end: a table whose columns create, edit and remix through each provider's stand-in.

The stand-in's log proves one paid call per cell; each cell keeps its provenance and cost.
"""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.functions import bfl, gemini, images, openai

MODELS = {
    'openai': 'openai/gpt-image-2',
    'gemini': 'gemini/gemini-3.1-flash-image',
    'bfl': 'bfl/flux-2-pro',
}


@pytest.fixture
def table(sqlite_catalog, tmp_path: Path):
    t = rv.create_table('scenes', {'prompt': rv.String, 'source_image': rv.Image | None})
    photo = tmp_path / 'fox.png'
    PIL.Image.new('RGB', (96, 64), 'orange').save(photo)
    t.insert(
        [{'prompt': 'a solarpunk oasis', 'source_image': str(photo)}, {'prompt': 'a market'}],
        print_stats=False,
    )
    return t


@pytest.mark.parametrize('provider', list(MODELS))
def test_the_tutorial_on_each_provider(provider, table, request):
    server = request.getfixturevalue(f'{provider}_server')
    model = MODELS[provider]
    table.add_computed_column(
        scene=images.create(table.prompt, model=model, aspect_ratio='16:9'), print_stats=False
    )
    table.add_computed_column(
        edited=images.edit(table.source_image, 'Make it solarpunk', model=model),
        print_stats=False,
    )
    table.add_computed_column(
        remixed=images.remix(
            'Place the subject of <img>0</img> into the scene of <img>1</img>',
            images=[table.edited, table.scene],
            model=model,
        ),
        print_stats=False,
    )
    rs = table.select(
        table.prompt, table.scene, table.edited, table.remixed, table.remixed.cellmeta
    ).collect()
    rows = {r['prompt']: r for r in rs}
    oasis, market = rows['a solarpunk oasis'], rows['a market']
    w, h = oasis['scene'].size
    assert abs(w / h - 16 / 9) < 0.02
    assert isinstance(oasis['edited'], PIL.Image.Image)
    assert isinstance(oasis['remixed'], PIL.Image.Image)
    assert market['edited'] is None and market['remixed'] is None  # no source image
    meta = oasis['remixed_cellmeta']
    assert meta['provider'] == provider and meta['request_id']
    # One paid call per computed cell: 2 scenes, 1 edit, 1 remix.
    paid = server.paid_calls()
    assert len(paid) == 4
    assert meta['cost_usd'] == pytest.approx(paid[-1].charged)


def test_new_rows_compute_moderation_is_an_error_and_no_quota_stops(openai_server, table):
    table.add_computed_column(scene=images.create(table.prompt, model=MODELS['openai']))
    openai_server.script.append('quota')
    # Out of quota: no call can succeed, so the run stops and the cell stays pending.
    with pytest.raises(rv.RunStoppedError, match='quota'):
        table.insert([{'prompt': 'a heron'}], on_error='ignore', print_stats=False)
    table.insert([{'prompt': 'something forbidden'}], on_error='ignore', print_stats=False)
    rs = table.select(table.prompt, table.scene, table.scene.errortype).collect()
    errors = {r['prompt']: r['scene_errortype'] for r in rs}
    assert errors['something forbidden'] == 'ContentViolationError'
    assert errors['a heron'] is None and rs.is_pending(
        [r['prompt'] for r in rs].index('a heron'), 'scene'
    )
    assert len(openai_server.paid_calls()) == 2  # the two first rows only
    table.recompute_columns()  # with quota again, the pending cell is computed
    assert table.where(table.prompt == 'a heron').select(table.scene).collect()[0]['scene']


def test_provider_native_functions(openai_server, gemini_server, bfl_server, table):
    table.add_computed_column(
        x=openai.image_generate(table.prompt, quality='low', size='1024x1024'), print_stats=False
    )
    table.add_computed_column(
        g=gemini.generate_image(table.prompt, [table.source_image], image_size='1K'),
        print_stats=False,
    )
    table.add_computed_column(
        b=bfl.generate(table.prompt, width=512, height=512, seed=1), print_stats=False
    )
    table.add_computed_column(
        e=openai.image_edit([table.source_image, table.x], 'blend <img>0</img>, <img>1</img>'),
        print_stats=False,
    )
    rs = table.where(table.source_image != None).select(table.x, table.g, table.b, table.e)  # noqa: E711
    row = rs.collect()[0]
    assert row['x'].size == (1024, 1024) and row['b'].size == (512, 512)
    assert isinstance(row['g'], PIL.Image.Image) and isinstance(row['e'], PIL.Image.Image)
    assert openai_server.calls[0].fields['quality'] == 'low'
    assert openai_server.calls[-1].fields['prompt'] == 'blend image 1, image 2'
    assert bfl_server.calls[0].fields['seed'] == 1
    parts = gemini_server.calls[0].fields['parts']
    assert [kind for kind, _ in parts] == ['image', 'text']


def test_columns_survive_a_new_process_view_of_the_catalog(openai_server, table):
    table.add_computed_column(
        scene=images.create(table.prompt, model=MODELS['openai']), print_stats=False
    )
    again = rv.get_table('scenes')
    again.insert([{'prompt': 'a third row'}], print_stats=False)
    assert again.where(again.scene != None).count() == 3  # noqa: E711
    assert 'create(prompt' in repr(again)


def test_bfl_active_task_cap_narrows_the_pool_and_every_cell_is_paid_once(bfl_server, table):
    bfl_server.max_active = 2  # BFL answers 429 past this many active tasks
    table.insert([{'prompt': f'scene {i}'} for i in range(6)], print_stats=False)
    table.add_computed_column(
        scene=images.create(table.prompt, model='bfl/flux-2-pro'), print_stats=False
    )
    assert table.where(table.scene != None).count() == 8  # noqa: E711
    refused = [c for c in bfl_server.calls if c.status == 429]
    assert refused and all(c.charged == 0 for c in refused)
    assert len(bfl_server.paid_calls()) == 8
