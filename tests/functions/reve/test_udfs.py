"""Reve functions as computed columns, against the local Reve-compatible server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.functions import reve
from reverie.functions.images.calls import read_cellmeta
from reverie.functions.reve.client import ReveClient
from reverie.reve_server import ServerOptions, serve_in_thread


@pytest.fixture
def server(monkeypatch):
    with serve_in_thread(ServerOptions(latency=0.0, megapixels=0.01)) as srv:
        monkeypatch.setenv('REVE_API_URL', srv.url)
        monkeypatch.setenv('REVE_API_KEY', 'papi.udf-tests')
        yield srv


@pytest.fixture
def table(sqlite_catalog, tmp_path: Path):
    t = rv.create_table('r', {'prompt': rv.String, 'img': rv.Image | None, 'img2': rv.Image | None})
    a, b = tmp_path / 'a.png', tmp_path / 'b.png'
    PIL.Image.new('RGB', (32, 24), 'red').save(a)
    PIL.Image.new('RGB', (24, 32), 'blue').save(b)
    t.insert([{'prompt': 'a fox', 'img': str(a), 'img2': str(b)}], print_stats=False)
    return t


def test_bad_literal_img_reference_refused_at_definition(server, table):
    with pytest.raises(rv.InvalidValueError, match=r'<img>2</img>.*0-based'):
        reve.remix('put <img>2</img> here', images=[table.img, table.img2])
    with pytest.raises(rv.InvalidValueError, match='aspect_ratio'):
        reve.create(table.prompt, aspect_ratio='5:4')
    with pytest.raises(rv.InvalidValueError, match='version'):
        reve.edit(table.img, 'x', version='reve-create@20250915')
    with pytest.raises(rv.TypeMismatchError, match='Image'):
        reve.remix('x', images=[table.prompt])
    assert server.requests == []


def test_bad_reference_from_a_column_is_an_error_cell_without_a_call(server, table):
    table.add_column(p2=rv.String | None)
    table.update({'p2': 'blend <img>0</img> and <img>5</img>'})
    table.add_computed_column(
        mixed=reve.remix(table.p2, images=[table.img, table.img2]), on_error='ignore'
    )
    rs = table.select(table.mixed, table.mixed.errortype, table.mixed.errormsg).collect()
    assert rs['mixed'] == [None]
    assert rs['mixed_errortype'] == ['InvalidValueError']
    assert '<img>5</img>' in rs['mixed_errormsg'][0]
    assert [r for r in server.requests if r.endpoint == 'remix'] == []


def test_provenance_and_lossless_storage(server, table):
    table.add_computed_column(scene=reve.create(table.prompt, aspect_ratio='16:9'))
    meta = table.select(table.scene.cellmeta).collect()[0]['scene_cellmeta']
    # One cellmeta shape for every provider; Reve adds its credits.
    assert meta['provider'] == 'reve' and meta['model'] == 'latest'
    assert meta['model_version'] == 'reve-create@20250915'
    assert meta['credits'] == 18 and meta['cost_usd'] is None
    assert meta['request_id'].startswith('rsid-')
    assert table.credits_used() == 18
    assert server.requests[-1].request_id == meta['request_id']

    async def fetch_again() -> bytes:
        async with ReveClient('papi.udf-tests', server.url) as client:
            return (await client.create('a fox', aspect_ratio='16:9')).image

    stored = Path(table.select(table.scene.localpath).collect()[0]['localpath']).read_bytes()
    assert stored == asyncio.run(fetch_again())  # the PNG as received, not re-encoded


def test_content_violation_and_closed_api_become_error_cells(server, table):
    table.insert([{'prompt': 'content-violation please'}], print_stats=False)
    table.add_computed_column(scene=reve.create(table.prompt), on_error='ignore')
    rs = table.select(table.prompt, table.scene.errortype, table.scene.errormsg).collect()
    by_prompt = {r['prompt']: r for r in rs}
    bad = by_prompt['content-violation please']
    assert bad['scene_errortype'] == 'ContentViolationError'
    assert 'rsid-' in bad['scene_errormsg']
    assert by_prompt['a fox']['scene_errortype'] is None

    server.configure(closed=True)
    status = table.insert([{'prompt': 'after the shutdown'}], on_error='ignore', print_stats=False)
    assert status.num_excs == 1
    msg = table.where(table.prompt == 'after the shutdown').select(table.scene.errormsg).collect()
    text = msg[0]['scene_errormsg']
    assert '2026-08-14' in text and 'REVE_API_URL' in text


def test_abort_keeps_finished_cells(server, table):
    table.insert([{'prompt': 'content-violation'}, {'prompt': 'a heron'}], print_stats=False)
    with pytest.raises(rv.ExecutionError, match='ContentViolationError'):
        table.add_computed_column(scene=reve.create(table.prompt))
    rs = table.select(table.prompt, table.scene).collect()
    kept = [r['prompt'] for r in rs if r['scene'] is not None]
    # the calls already sent finished and were kept: paid results are never rolled back
    assert sorted(kept) == ['a fox', 'a heron']


def test_old_reve_cellmeta_reads_in_the_one_shape():
    """Cells stored before the one road hold {request_id, version, credits_used}."""
    old = {'request_id': 'rsid-1', 'version': 'reve-edit@20250915', 'credits_used': 30}
    assert read_cellmeta(old) == {
        'provider': 'reve',
        'model': 'reve-edit@20250915',
        'request_id': 'rsid-1',
        'model_version': 'reve-edit@20250915',
        'cost_usd': None,
        'credits': 30,
    }
    new = {'provider': 'openai', 'model': 'gpt-image-2', 'request_id': None}
    assert read_cellmeta(new) == new and read_cellmeta(None) == {}
