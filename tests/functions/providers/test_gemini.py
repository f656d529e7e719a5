"""Gemini 3 image models against the stand-in: parts sent, errors and blocks mapped."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import reverie as rv
from reverie.config import Config
from reverie.errors import ContentViolationError, ServiceError
from reverie.functions.gemini import provider
from reverie.functions.gemini.client import retry_delay
from reverie.functions.images.provider import ImageRequest
from tests.functions.providers.conftest import png_bytes, send, size_of

FLASH = 'gemini-3.1-flash-image'


def req(prompt='a fox', verb='create', images=(), ratio=None, model=FLASH, **options):
    return ImageRequest(verb, model, prompt, tuple(images), ratio, options)


def test_create_sends_text_part_config_and_key_header(gemini_server):
    answer = send('gemini', req(ratio='16:9', image_size='2K', seed=7))
    (call,) = gemini_server.calls
    assert call.path == f'/v1beta/models/{FLASH}:generateContent'
    assert call.headers['x-goog-api-key'] == gemini_server.key
    assert 'key=' not in call.path and 'authorization' not in call.headers
    assert call.fields['parts'] == [('text', 'a fox')]
    assert call.fields['generationConfig'] == {
        'responseModalities': ['IMAGE'],
        'imageConfig': {'aspectRatio': '16:9', 'imageSize': '2K'},
        'seed': 7,
    }
    assert size_of(answer.image) == (2752, 1536)
    assert answer.request_id.startswith('resp-') and answer.model_version == FLASH
    assert answer.cost_usd == pytest.approx(call.charged)


def test_remix_labels_each_inline_image_and_names_the_references(gemini_server):
    images = (png_bytes(color='red'), png_bytes(color='blue'))
    send('gemini', req('<img>0</img> wearing <img>1</img>', 'remix', images))
    assert gemini_server.calls[0].fields['parts'] == [
        ('text', 'Image 1:'),
        ('image', 'image/png'),
        ('text', 'Image 2:'),
        ('image', 'image/png'),
        ('text', 'image 1 wearing image 2'),
    ]


def test_edit_sends_the_image_then_the_instruction(gemini_server):
    send('gemini', req('make it blue', 'edit', [png_bytes()]))
    assert gemini_server.calls[0].fields['parts'] == [
        ('image', 'image/png'),
        ('text', 'make it blue'),
    ]


def test_429_resource_exhausted_carries_retry_delay(gemini_server):
    gemini_server.script.append('429')
    with pytest.raises(ServiceError, match='RESOURCE_EXHAUSTED') as info:
        send('gemini', req())
    e = info.value
    assert (e.status, e.code, e.retry_after, e.retryable) == (429, 'RESOURCE_EXHAUSTED', 12, True)


def test_retry_delay_falls_back_to_retry_after_header():
    assert retry_delay({'details': []}, httpx.Headers({'retry-after': '3'})) == 3
    info = {'@type': 'type.googleapis.com/google.rpc.RetryInfo', 'retryDelay': '0.5s'}
    assert retry_delay({'details': [info]}, httpx.Headers()) == 0.5


@pytest.mark.parametrize(
    ('outcome', 'status', 'retryable', 'stops_run', 'maybe_charged'),
    [
        pytest.param('billing', 403, False, True, False, id='billing-disabled'),
        pytest.param('503', 503, True, False, False, id='overloaded'),
        pytest.param('reset', None, True, False, True, id='reset-after-sending'),
    ],
)
def test_failures_are_mapped(gemini_server, outcome, status, retryable, stops_run, maybe_charged):
    gemini_server.script.append(outcome)
    with pytest.raises(ServiceError) as info:
        send('gemini', req())
    e = info.value
    assert (e.status, e.retryable, e.stops_run, e.maybe_charged) == (
        status,
        retryable,
        stops_run,
        maybe_charged,
    )


def test_invalid_key_stops_the_run(gemini_server, monkeypatch):
    monkeypatch.setenv('GEMINI_API_KEY', 'AIza-wrong')
    with pytest.raises(ServiceError, match='GEMINI_API_KEY') as info:
        send('gemini', req())
    assert info.value.stops_run and info.value.status == 400


def test_blocked_prompt_is_a_content_violation(gemini_server):
    with pytest.raises(ContentViolationError, match='PROHIBITED_CONTENT') as info:
        send('gemini', req('a forbidden thing'))
    assert not info.value.retryable and not info.value.maybe_charged


def test_refused_output_is_a_content_violation(gemini_server):
    with pytest.raises(ContentViolationError, match='IMAGE_SAFETY') as info:
        send('gemini', req('unsafe-output please'))
    assert not info.value.retryable and info.value.maybe_charged


def test_text_only_answer_may_have_been_charged(gemini_server):
    with pytest.raises(ServiceError, match='no image part') as info:
        send('gemini', req('no-image here'))
    assert info.value.code == 'NO_IMAGE' and info.value.maybe_charged
    assert not isinstance(info.value, ContentViolationError)


def test_unknown_model_answers_not_found(gemini_server):
    with pytest.raises(ServiceError, match='is not found') as info:
        asyncio.run(provider().send(req(model='gemini-9-image'), Config.load()))
    assert info.value.status == 404 and not info.value.retryable


@pytest.mark.parametrize(
    ('request_', 'match'),
    [
        pytest.param(req(ratio='7:3'), "cannot make aspect_ratio '7:3'", id='ratio'),
        pytest.param(req(model='gemini-3-pro-image', ratio='4:1'), "'4:1'", id='pro-ratio'),
        pytest.param(req(model='gemini-3-pro-image', image_size='512'), 'image_size', id='size'),
        pytest.param(req(verb='remix', images=[b''] * 15), 'takes 0 to 14', id='15-images'),
        pytest.param(req(model='gemini-2.5-flash-image'), 'shut down', id='retired'),
        pytest.param(req(quality='low'), r"no option\(s\) 'quality'", id='unknown-option'),
    ],
)
def test_refused_before_sending(gemini_server, request_, match):
    with pytest.raises(rv.InvalidValueError, match=match):
        send('gemini', request_)
    assert gemini_server.calls == []


def test_wide_ratios_gemini_supports(gemini_server):
    answer = send('gemini', req(ratio='21:9'))
    assert size_of(answer.image) == (1584, 672)
