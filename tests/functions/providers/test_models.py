"""The model table: shut-down ids refused where the column is defined, deprecated ones warn
once, the defaults name models that exist, ``reverie models`` prints the table."""

from __future__ import annotations

import inspect
import warnings

import pytest

import reverie as rv
from reverie import cli
from reverie.functions import images
from reverie.functions.images import models, prices
from reverie.functions.images.provider import ImageRequest
from reverie.functions.images.registry import get_provider
from tests.functions.providers.conftest import send


@pytest.fixture
def table(sqlite_catalog):
    t = rv.create_table('t', {'prompt': rv.String})
    t.insert([{'prompt': 'a fox'}], print_stats=False)
    return t


@pytest.mark.parametrize(
    ('model', 'replacement'),
    [
        ('gemini/gemini-3.1-flash-image-preview', 'gemini/gemini-3.1-flash-image'),
        ('gemini/gemini-3-pro-image-preview', 'gemini/gemini-3-pro-image'),
        ('gemini/gemini-2.5-flash-image', 'gemini/gemini-3.1-flash-image'),
        ('openai/gpt-image-1.5', 'openai/gpt-image-2.6-sunburst'),
        ('openai/gpt-image-1-mini', 'openai/gpt-image-2.6-flare'),
        ('openai/chatgpt-image-latest', 'openai/gpt-image-2.6-sunburst'),
    ],
)
def test_a_shut_down_model_is_refused_when_the_column_is_defined(table, model, replacement):
    with pytest.raises(rv.InvalidValueError, match='shut down') as info:
        table.add_computed_column(scene=images.create(table.prompt, model=model))
    assert replacement in str(info.value)
    assert 'scene' not in table.columns()


def test_openai_shut_down_dates_are_the_deprecation_pages():
    # OpenAI's deprecations page: shut down 2026-12-01 (reverie used to say "October").
    for model in ('gpt-image-1.5', 'gpt-image-1-mini', 'chatgpt-image-latest'):
        entry = models.BY_ID[f'openai/{model}']
        assert (entry.status, entry.shutdown) == ('shut down', '2026-12-01')
    assert models.BY_ID['gemini/gemini-3.1-flash-image-preview'].shutdown == '2026-06-25'
    assert models.BY_ID['gemini/gemini-3.1-flash-image'].status == 'active'  # not confirmed gone


def test_a_deprecated_model_warns_once_per_process():
    entry = models.Model(
        'openai/old-one',
        ('create',),
        '',
        '',
        'deprecated',
        'https://x',
        '2026-12-07',
        '2027-01-01',
        ('openai/gpt-image-2',),
    )
    table = {entry.id: entry}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        models.check_model(entry.id, table)
        models.check_model(entry.id, table)
    assert len(caught) == 1
    assert 'deprecated' in str(caught[0].message) and 'openai/gpt-image-2' in str(caught[0].message)


def test_every_active_hosted_model_has_a_price_of_its_own():
    tables = {'openai': prices.OPENAI, 'gemini': prices.GEMINI, 'bfl': prices.BFL}
    for entry in models.MODELS:
        provider, _, model_id = entry.id.partition('/')
        assert (model_id in tables[provider]) == (entry.status != 'shut down'), entry.id
        if entry.status != 'shut down':
            price = get_provider(provider).price(ImageRequest('create', model_id, 'x'))
            assert 'no price listed' not in price.source


def test_the_gemini_default_is_a_model_that_exists():
    from reverie.functions import gemini, openai

    for provider, fn in (('gemini', gemini.generate_image), ('openai', openai.image_generate)):
        default = inspect.signature(fn.py_fn).parameters['model'].default
        assert models.BY_ID[f'{provider}/{default}'].status == 'active'
    default = inspect.signature(gemini.generate_image.py_fn).parameters['model'].default
    assert models.BY_ID[f'gemini/{default}'].status == 'active'


def test_gpt_image_26_takes_xhigh_and_max(openai_server):
    answer = send(
        'openai', ImageRequest('create', 'gpt-image-2.6-sunburst', 'x', options={'quality': 'max'})
    )
    assert answer.image
    price = get_provider('openai').price(
        ImageRequest('create', 'gpt-image-2.6-flare', 'x', options={'quality': 'max'})
    )
    high = get_provider('openai').price(
        ImageRequest('create', 'gpt-image-2.6-flare', 'x', options={'quality': 'high'})
    )
    assert price.high > high.high  # priced conservatively above 'high'
    with pytest.raises(rv.InvalidValueError, match=r'gpt-image-2\.6'):
        send('openai', ImageRequest('create', 'gpt-image-2', 'x', options={'quality': 'xhigh'}))


def test_reverie_models_lists_the_table(capsys):
    assert cli.main(['models']) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith('openai/gpt-image-1.5 '))
    assert 'shut down 2026-12-01' in line and 'gpt-image-2.6-sunburst' in line
    assert 'https://ai.google.dev/gemini-api/docs/deprecations (2026-12-07)' in out
    assert cli.main(['models', '--brief']) == 0
    assert 'limits:' not in capsys.readouterr().out
