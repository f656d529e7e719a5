"""``images.create / edit / remix``: model resolution, checks at definition, prices, settings."""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.config import Config
from reverie.functions import images
from reverie.functions.images import registry
from reverie.functions.images.provider import ImageRequest
from reverie.functions.images.registry import get_provider


@pytest.fixture
def table(sqlite_catalog, tmp_path: Path):
    t = rv.create_table('t', {'prompt': rv.String, 'a': rv.Image, 'b': rv.Image})
    path = tmp_path / 'a.png'
    PIL.Image.new('RGB', (32, 32), 'red').save(path)
    t.insert([{'prompt': 'x', 'a': str(path), 'b': str(path)}], print_stats=False)
    return t


def test_default_model_from_the_environment(openai_server, table, monkeypatch):
    with pytest.raises(rv.InvalidValueError, match='REVERIE_IMAGE_MODEL'):
        images.create(table.prompt)
    monkeypatch.setenv('REVERIE_IMAGE_MODEL', 'openai/gpt-image-2')
    table.add_computed_column(scene=images.create(table.prompt), print_stats=False)
    assert table.select(table.scene.cellmeta).collect()[0]['scene_cellmeta']['provider'] == 'openai'
    assert "create(prompt, model='openai/gpt-imag" in repr(table)  # fixed when defined


def test_default_model_from_the_config_file(tmp_path, monkeypatch):
    home = tmp_path / 'cfg'
    home.mkdir()
    (home / 'config.toml').write_text(
        '[images]\nmodel = "bfl/flux-2-pro"\n[bfl]\napi_key = "bfl-file-key"\n'
        'base_url = "http://127.0.0.1:1/"\nmax_concurrency = 6\n'
    )
    monkeypatch.setenv('REVERIE_HOME', str(home))
    config = Config.load()
    assert config.image_model == 'bfl/flux-2-pro'
    bfl = config.provider('bfl')
    assert (bfl.api_key, bfl.base_url, bfl.max_concurrency) == (
        'bfl-file-key',
        'http://127.0.0.1:1',
        6,
    )
    assert 'bfl-file-key' not in repr(config) and "api_key='***'" in repr(bfl)


@pytest.mark.parametrize(
    ('model', 'error', 'match'),
    [
        pytest.param('midjourney/v7', rv.NotFoundError, 'known providers: openai', id='unknown'),
        pytest.param('gpt-image-2', rv.InvalidValueError, "'<provider>/<model id>'", id='bare'),
        pytest.param('openai/', rv.InvalidValueError, '<model id>', id='empty-id'),
    ],
)
def test_bad_model_names(table, model, error, match):
    with pytest.raises(error, match=match):
        images.create(table.prompt, model=model)


def test_unimportable_provider_names_the_install_step(table, monkeypatch):
    monkeypatch.setitem(registry.PROVIDERS, 'local', 'reverie.functions.no_such_module')
    get_provider.cache_clear()
    try:
        with pytest.raises(rv.NotFoundError, match=r"pip install 'reverie\[local\]'"):
            images.create(table.prompt, model='local/some/model')
    finally:
        get_provider.cache_clear()


def test_literal_arguments_are_checked_when_the_column_is_defined(openai_server, table):
    model = 'openai/gpt-image-2'
    with pytest.raises(rv.InvalidValueError, match=r'<img>2</img>.*0-based'):
        images.remix('put <img>2</img> here', images=[table.a, table.b], model=model)
    with pytest.raises(rv.InvalidValueError, match="cannot make aspect_ratio '21:9'"):
        images.create(table.prompt, model=model, aspect_ratio='21:9')
    with pytest.raises(rv.InvalidValueError, match=r"option\(s\) 'steps'"):
        images.create(table.prompt, model=model, steps=4)
    with pytest.raises(rv.TypeMismatchError, match='Image'):
        images.remix('x', images=[table.prompt], model=model)
    with pytest.raises(rv.InvalidValueError, match='literal'):
        images.create(table.prompt, model=model, quality=table.prompt)
    assert openai_server.calls == []


def test_bad_reference_from_a_column_is_an_error_cell_without_a_call(bfl_server, table):
    table.update({'prompt': 'blend <img>0</img> and <img>5</img>'})
    table.add_computed_column(
        mixed=images.remix(table.prompt, images=[table.a, table.b], model='bfl/flux-2-pro'),
        on_error='ignore',
        print_stats=False,
    )
    rs = table.select(table.mixed.errortype, table.mixed.errormsg).collect()
    assert rs['mixed_errortype'] == ['InvalidValueError']
    assert '<img>5</img>' in rs['mixed_errormsg'][0]
    assert bfl_server.calls == []


@pytest.mark.parametrize(
    ('provider', 'request_', 'low', 'high'),
    [
        pytest.param(
            'openai',
            ImageRequest(
                'create', 'gpt-image-2', 'x', options={'quality': 'low', 'size': '1024x1024'}
            ),
            0.017,
            0.018,
            id='openai-low',
        ),
        pytest.param(
            'openai', ImageRequest('create', 'gpt-image-2', 'x'), 0.02, 0.35, id='openai-any'
        ),
        pytest.param(
            'gemini',
            ImageRequest('create', 'gemini-3.1-flash-image', 'x'),
            0.067,
            0.071,
            id='gemini-1k',
        ),
        pytest.param(
            'bfl',
            ImageRequest('create', 'flux-2-pro', 'x', aspect_ratio='1:1'),
            0.03,
            0.03,
            id='bfl-1mp',
        ),
    ],
)
def test_prices_from_the_table(provider, request_, low, high):
    price = get_provider(provider).price(request_)
    assert price.unit == 'usd'
    assert low <= price.low <= price.high <= high
    assert 'checked 2026-' in price.source


def test_unlisted_model_is_priced_as_the_dearest():
    price = get_provider('bfl').price(ImageRequest('create', 'flux-2-new', 'x'))
    assert "no price listed for 'flux-2-new'" in price.source
    assert price.high == pytest.approx(0.07)
