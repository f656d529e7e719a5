"""OpenAI GPT Image against its stand-in: every field sent, every error mapped."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import reverie as rv
from reverie.config import Config
from reverie.errors import ContentViolationError, ServiceError
from reverie.functions.images.provider import ImageRequest
from reverie.functions.openai import provider
from reverie.functions.openai.client import SIZES, retry_after
from tests.functions.providers.conftest import png_bytes, send, size_of


def req(prompt='a fox', verb='create', images=(), ratio=None, **options):
    return ImageRequest(verb, 'gpt-image-2', prompt, tuple(images), ratio, options)


def test_create_sends_json_fields_and_auth(openai_server):
    answer = send('openai', req(quality='low', output_format='png'))
    (call,) = openai_server.calls
    assert call.path == '/v1/images/generations'
    assert call.headers['authorization'] == f'Bearer {openai_server.key}'
    assert call.fields == {
        'model': 'gpt-image-2',
        'prompt': 'a fox',
        'n': 1,
        'quality': 'low',
        'output_format': 'png',
    }
    assert answer.request_id.startswith('req_')
    assert answer.cost_usd == pytest.approx(call.charged)
    assert answer.meta['usage']['output_tokens'] > 0
    assert size_of(answer.image) == (1024, 1024)


@pytest.mark.parametrize('ratio', list(SIZES))
def test_aspect_ratio_becomes_a_size(openai_server, ratio):
    answer = send('openai', req(ratio=ratio))
    assert openai_server.calls[0].fields['size'] == SIZES[ratio]
    w, h = size_of(answer.image)
    a, b = (int(x) for x in ratio.split(':'))
    assert w * b == pytest.approx(h * a, rel=0.01)


def test_remix_sends_image_parts_in_order_and_names_them(openai_server):
    images = (png_bytes(color='red'), png_bytes(50, 20, 'blue'))
    send('openai', req('put <img>1</img> into <img>0</img>', 'remix', images))
    (call,) = openai_server.calls
    assert call.path == '/v1/images/edits'
    assert call.headers['content-type'].startswith('multipart/form-data')
    assert call.fields['prompt'] == 'put image 2 into image 1'
    assert call.fields['image[]'] == [f'{len(images[0])} bytes', f'{len(images[1])} bytes']


@pytest.mark.parametrize(
    ('outcome', 'status', 'retryable', 'stops_run', 'maybe_charged'),
    [
        pytest.param('429', 429, True, False, False, id='rate-limit'),
        pytest.param('quota', 429, False, True, False, id='insufficient-quota'),
        pytest.param('500', 500, True, False, False, id='server-error'),
        pytest.param('reset', None, True, False, True, id='reset-after-sending'),
        pytest.param('garbage', 200, False, False, True, id='malformed-answer'),
    ],
)
def test_failures_are_mapped(openai_server, outcome, status, retryable, stops_run, maybe_charged):
    openai_server.script.append(outcome)
    with pytest.raises(ServiceError) as info:
        send('openai', req())
    e = info.value
    assert (e.status, e.retryable, e.stops_run, e.maybe_charged) == (
        status,
        retryable,
        stops_run,
        maybe_charged,
    )
    assert not isinstance(e, ContentViolationError)


def test_429_carries_the_retry_hint(openai_server):
    openai_server.script.append('429')
    with pytest.raises(ServiceError, match='rate limited') as info:
        send('openai', req())
    assert info.value.retry_after == 1.5
    assert info.value.code == 'rate_limit_exceeded'
    assert info.value.request_id.startswith('req_err')


def test_retry_hint_from_rate_limit_headers():
    assert retry_after(httpx.Headers({'retry-after': '7'})) == 7
    exhausted = {'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s'}
    assert retry_after(httpx.Headers(exhausted)) == 360
    tokens = {'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20ms'}
    assert retry_after(httpx.Headers(tokens)) == pytest.approx(0.02)
    assert retry_after(httpx.Headers({'x-ratelimit-remaining-requests': '3'})) is None


def test_moderation_is_a_content_violation(openai_server):
    with pytest.raises(ContentViolationError, match='refused the content') as info:
        send('openai', req('something forbidden'))
    assert not info.value.retryable and info.value.code == 'moderation_blocked'


def test_bad_key_stops_the_run_and_is_never_shown(openai_server, monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-wrong-secret-987654')
    with pytest.raises(ServiceError) as info:
        send('openai', req())
    assert info.value.status == 401 and info.value.stops_run
    assert 'sk-wrong-secret-987654' not in str(info.value)  # the server echoed it back
    assert '***' in str(info.value)


def test_unreachable_server_was_not_charged(monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-x')
    monkeypatch.setenv('OPENAI_BASE_URL', 'http://127.0.0.1:9/v1')
    with pytest.raises(ServiceError, match='could not reach') as info:
        send('openai', req())
    assert info.value.retryable and not info.value.maybe_charged


def test_missing_key_names_the_setting(monkeypatch):
    with pytest.raises(rv.InvalidValueError, match=r'OPENAI_API_KEY or \[openai\] api_key'):
        send('openai', req())


@pytest.mark.parametrize(
    ('request_', 'match'),
    [
        pytest.param(req(ratio='21:9'), "cannot make aspect_ratio '21:9'", id='ratio'),
        pytest.param(req(ratio='16:9', size='1024x1024'), 'either aspect_ratio or size', id='both'),
        pytest.param(req(size='1000x1000'), 'multiples of 16', id='size'),
        pytest.param(req(quality='ultra'), 'quality must be one of', id='quality'),
        pytest.param(req(n=2), r"takes no option\(s\) 'n'", id='unknown-option'),
        pytest.param(req(verb='remix', images=[b''] * 17), 'takes 1 to 16', id='17-images'),
        pytest.param(ImageRequest('create', 'gpt-image-1', 'x'), 'shut down', id='retired-model'),
    ],
)
def test_refused_before_sending(openai_server, request_, match):
    with pytest.raises(rv.InvalidValueError, match=match):
        send('openai', request_)
    assert openai_server.calls == []


def test_unknown_field_gets_openais_error_body(openai_server):
    with pytest.raises(ServiceError, match="Unknown parameter: 'style'") as info:
        asyncio.run(provider().send(req(style='vivid'), Config.load()))
    assert info.value.status == 400 and not info.value.retryable


def test_base_url_must_be_http(monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-x')
    monkeypatch.setenv('OPENAI_BASE_URL', 'api.openai.com/v1')
    with pytest.raises(rv.InvalidValueError, match=r'not an http\(s\) URL'):
        send('openai', req())
