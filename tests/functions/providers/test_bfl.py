"""FLUX.2 against the BFL stand-in: submit, poll, download at once; every outcome mapped."""

from __future__ import annotations

import asyncio

import pytest

import reverie as rv
from reverie.config import Config
from reverie.errors import ContentViolationError, ServiceError
from reverie.functions.bfl import provider
from reverie.functions.bfl.client import SIZES
from reverie.functions.images.provider import ImageRequest
from tests.functions.providers.bfl_server import BFLStandIn
from tests.functions.providers.conftest import png_bytes, send, size_of


def req(prompt='a fox', verb='create', images=(), ratio=None, model='flux-2-pro', **options):
    return ImageRequest(verb, model, prompt, tuple(images), ratio, options)


def test_create_submits_polls_and_downloads(bfl_server):
    bfl_server.pending_polls = 2
    answer = send('bfl', req(ratio='16:9', seed=3))
    submit, *polls, download = bfl_server.calls
    assert (submit.method, submit.path) == ('POST', '/v1/flux-2-pro')
    assert submit.headers['x-key'] == bfl_server.key
    assert submit.fields == {
        'prompt': 'a fox',
        'output_format': 'png',
        'seed': 3,
        'width': 1360,
        'height': 768,
    }
    assert [p.path for p in polls] == ['/v1/get_result'] * 3  # 2 Pending, then Ready
    assert download.path == '/delivery' and download.status == 200
    assert size_of(answer.image) == SIZES['16:9']
    assert answer.credits == 3.0 and answer.cost_usd == pytest.approx(submit.charged)
    assert answer.request_id == polls[0].fields['id']
    assert answer.meta['seed'] == 42


def test_input_images_and_references(bfl_server):
    images = tuple(png_bytes(64, 64, c) for c in ('red', 'green', 'blue'))
    answer = send('bfl', req('<img>2</img> beside <img>0</img>', 'remix', images))
    fields = bfl_server.calls[0].fields
    assert fields['prompt'] == 'image 3 beside image 1'
    assert [k for k in fields if k.startswith('input_image')] == [
        'input_image',
        'input_image_2',
        'input_image_3',
    ]
    assert size_of(answer.image) == (64, 64)  # no size given: the first input's


def test_result_url_that_expires_before_download(bfl_server):
    bfl_server.url_ttl = 0
    with pytest.raises(ServiceError, match='expired') as info:
        send('bfl', req())
    e = info.value
    assert e.code == 'RESULT_UNAVAILABLE' and e.maybe_charged and not e.retryable
    assert bfl_server.calls[-1].status == 403


@pytest.mark.parametrize(
    ('prompt', 'status'),
    [
        pytest.param('forbidden words', 'Request Moderated', id='request'),
        pytest.param('unsafe-output', 'Content Moderated', id='content'),
    ],
)
def test_moderation_is_a_content_violation(bfl_server, prompt, status):
    with pytest.raises(ContentViolationError, match=status) as info:
        send('bfl', req(prompt))
    assert not info.value.retryable and info.value.code == status


def test_task_error_may_have_been_charged(bfl_server):
    with pytest.raises(ServiceError, match="status 'Error'") as info:
        send('bfl', req('task-error'))
    assert info.value.maybe_charged


def test_out_of_credits_stops_the_run(bfl_server):
    bfl_server.credits = 1
    with pytest.raises(ServiceError, match='out of credits') as info:
        send('bfl', req())
    assert info.value.status == 402 and info.value.stops_run and not info.value.retryable


def test_active_task_cap_is_a_retryable_429(bfl_server):
    bfl_server.max_active = 0
    with pytest.raises(ServiceError, match='active tasks') as info:
        send('bfl', req())
    assert info.value.status == 429 and info.value.retryable and not info.value.maybe_charged


def test_reset_after_submitting_may_have_been_charged(bfl_server):
    bfl_server.script.append('reset')
    with pytest.raises(ServiceError) as info:
        send('bfl', req())
    assert info.value.maybe_charged


def test_key_is_not_sent_to_another_polling_host(bfl_server):
    with BFLStandIn(host='127.0.0.2') as other:
        bfl_server.polling_base = other.url
        with pytest.raises(ServiceError, match='not on the BFL API host') as info:
            send('bfl', req())
        assert other.calls == []
    assert info.value.maybe_charged


def test_validation_error_names_the_field(bfl_server):
    with pytest.raises(ServiceError, match=r'body\.raw: Extra inputs') as info:
        asyncio.run(provider().send(req(raw=True), Config.load()))
    assert info.value.status == 422 and not info.value.retryable


def test_bad_key(bfl_server, monkeypatch):
    monkeypatch.setenv('BFL_API_KEY', 'bfl-wrong-key')
    with pytest.raises(ServiceError) as info:
        send('bfl', req())
    assert info.value.stops_run and 'bfl-wrong-key' not in str(info.value)


@pytest.mark.parametrize(
    ('request_', 'match'),
    [
        pytest.param(req(ratio='21:9'), "cannot make aspect_ratio '21:9'", id='ratio'),
        pytest.param(req(width=1000, height=1024), 'multiple of 16', id='width'),
        pytest.param(req(width=4096, height=4096), 'over 4 megapixels', id='too-big'),
        pytest.param(req(ratio='1:1', width=512), 'either aspect_ratio', id='both'),
        pytest.param(req(verb='remix', images=[b''] * 9), 'takes 0 to 8', id='9-images'),
        pytest.param(
            req(verb='remix', images=[b''] * 5, model='flux-2-klein-4b'), 'takes 0 to 4', id='klein'
        ),
        pytest.param(req(output_format='webp'), 'output_format', id='format'),
    ],
)
def test_refused_before_sending(bfl_server, request_, match):
    with pytest.raises(rv.InvalidValueError, match=match):
        send('bfl', request_)
    assert bfl_server.calls == []
