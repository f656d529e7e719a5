"""Tests for the Reve client.

Unit tests use ``httpx.MockTransport`` to stand in for the external service, for answers the
local server never gives (HTTP-date ``Retry-After``, plain ``error`` strings, HTML bodies).
Contract tests talk to the local Reve-compatible server over loopback.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.machinery
import io
import json
import logging
import traceback
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

from reverie.config import ProviderSettings
from reverie.errors import ContentViolationError, InvalidValueError, ServiceError
from reverie.functions.reve.client import (
    DEFAULT_TIMEOUT,
    OFFLOAD_BYTES,
    PARSE_INLINE_BYTES,
    ReveClient,
    ReveResult,
    client_from_settings,
)

KEY = 'papi.SECRET-test-key-0123456789'
URL = 'http://reve.test'
T = TypeVar('T')
Handler = Callable[[httpx.Request], httpx.Response]


def png(width: int = 8, height: int = 6, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new('RGB', (width, height), color).save(buf, format='PNG')
    return buf.getvalue()


PNG = png()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def success(data: bytes = PNG, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        'image': base64.b64encode(data).decode(),
        'version': 'reve-create@20250915',
        'content_violation': False,
        'request_id': 'rsid-ok',
        'credits_used': 18,
        'credits_remaining': 7482,
    }
    body.update(changes)
    return body


def answer(status: int = 200, body: Any = None, **headers: str) -> Handler:
    """A handler giving the same answer to every request."""

    def handle(request: httpx.Request) -> httpx.Response:
        hdrs = {k.replace('_', '-'): v for k, v in headers.items()}
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=hdrs)
        return httpx.Response(status, json=success() if body is None else body, headers=hdrs)

    return handle


class Recorder:
    """A handler that keeps every request and answers with ``handler``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler or answer()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def body(self) -> dict[str, Any]:
        data = json.loads(self.requests[-1].content)
        assert isinstance(data, dict)
        return data


def mock_client(handler: Handler, **kwargs: Any) -> ReveClient:
    return ReveClient(KEY, URL, transport=httpx.MockTransport(handler), **kwargs)


def call(handler: Handler, op: str = 'create', **kwargs: Any) -> Any:
    async def main() -> Any:
        async with mock_client(handler) as client:
            if op == 'create':
                return await client.create('a fox', **kwargs)
            if op == 'edit':
                return await client.edit(PNG, 'make it blue', **kwargs)
            if op == 'remix':
                return await client.remix('<img>0</img> and <img>1</img>', [PNG, PNG], **kwargs)
            if op == 'balance':
                return await client.balance()
            return await client.effects(**kwargs)

    return run(main())


def failure(handler: Handler, op: str = 'create', **kwargs: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        call(handler, op, **kwargs)
    return info.value


def assert_no_secret(err: BaseException) -> None:
    text = ''.join(traceback.format_exception(err))
    assert KEY not in text
    assert KEY not in repr(err)
    assert KEY not in repr(vars(err))
    assert err.__cause__ is None
    assert err.__context__ is None


# --- construction, repr, settings ---------------------------------------------------------


def test_repr_hides_the_key() -> None:
    async def main() -> None:
        async with ReveClient(KEY, 'http://127.0.0.1:9') as client:
            assert repr(client) == "ReveClient(api_key='***', base_url='http://127.0.0.1:9')"
            assert client.base_url == 'http://127.0.0.1:9'

    run(main())


def test_result_repr_is_short() -> None:
    result = ReveResult(PNG, 'reve-create@20250915', 'rsid-1', 18, None)
    assert repr(result) == (
        f"ReveResult(image=<{len(PNG)} bytes>, version='reve-create@20250915', "
        "request_id='rsid-1', credits_used=18, credits_remaining=None)"
    )


def test_default_timeout_is_long_enough() -> None:
    assert DEFAULT_TIMEOUT.connect == 10.0
    assert DEFAULT_TIMEOUT.read is not None
    assert DEFAULT_TIMEOUT.read >= 120.0


def test_client_from_settings_without_key() -> None:
    with pytest.raises(
        InvalidValueError,
        match=r'^Reve API key not found: set REVE_API_KEY or \[reve\] api_key in '
        r'~/\.reverie/config\.toml\.$',
    ):
        client_from_settings(ProviderSettings('reve', api_key=None))


def test_client_from_settings_uses_url() -> None:
    async def main() -> None:
        client = client_from_settings(
            ProviderSettings('reve', api_key=KEY, base_url='http://127.0.0.1:9/')
        )
        async with client:
            assert client.base_url == 'http://127.0.0.1:9'
            assert KEY not in repr(client)

    run(main())


@pytest.mark.parametrize(
    ('key', 'match'),
    [
        pytest.param('', 'key is empty', id='empty'),
        pytest.param('  \n', 'key is empty', id='blank'),
        pytest.param('papi.ключ', 'cannot carry', id='non-ascii'),
        pytest.param('papi.a b', 'cannot carry', id='space'),
    ],
)
def test_bad_keys_are_rejected_without_echo(key: str, match: str) -> None:
    with pytest.raises(InvalidValueError, match=match) as info:
        ReveClient(key, URL)
    if key.strip():
        assert key not in str(info.value)


def test_bad_base_url() -> None:
    with pytest.raises(InvalidValueError, match=r"'api.reve.com' is not an http"):
        ReveClient(KEY, 'api.reve.com')


# --- what is sent -------------------------------------------------------------------------


def test_create_sends_json_with_auth_and_only_set_fields() -> None:
    rec = Recorder()
    result = call(rec, 'create', aspect_ratio='auto')
    (request,) = rec.requests
    assert request.method == 'POST'
    assert str(request.url) == f'{URL}/v1/image/create'
    assert request.headers['Authorization'] == f'Bearer {KEY}'
    assert request.headers['Accept'] == 'application/json'
    assert request.headers['Content-Type'] == 'application/json'
    assert rec.body == {'prompt': 'a fox'}
    assert result == ReveResult(PNG, 'reve-create@20250915', 'rsid-ok', 18, 7482)


def test_create_sends_every_documented_field() -> None:
    rec = Recorder()
    steps = [{'process': 'upscale', 'upscale_factor': 2}]
    call(
        rec,
        'create',
        aspect_ratio='1:1',
        version='latest',
        test_time_scaling=3,
        postprocessing=steps,
    )
    assert rec.body == {
        'prompt': 'a fox',
        'aspect_ratio': '1:1',
        'version': 'latest',
        'test_time_scaling': 3,
        'postprocessing': steps,
    }


def test_edit_and_remix_send_padded_base64_file_bytes() -> None:
    odd = png(5, 3)  # a length that needs base64 padding is likely; check the encoding exactly
    rec = Recorder()

    async def main() -> None:
        async with mock_client(rec) as client:
            await client.edit(odd, 'bluer', version='latest-fast')
            await client.remix('<img>1</img> on <img>0</img>', [PNG, odd], aspect_ratio='16:9')

    run(main())
    edit, remix = (json.loads(r.content) for r in rec.requests)
    assert rec.requests[0].url.path == '/v1/image/edit'
    assert edit == {
        'edit_instruction': 'bluer',
        'reference_image': base64.b64encode(odd).decode(),
        'version': 'latest-fast',
    }
    assert base64.b64decode(edit['reference_image'], validate=True) == odd
    assert rec.requests[1].url.path == '/v1/image/remix'
    assert remix == {
        'prompt': '<img>1</img> on <img>0</img>',
        'reference_images': [base64.b64encode(PNG).decode(), base64.b64encode(odd).decode()],
        'aspect_ratio': '16:9',
    }


@pytest.mark.parametrize(
    ('op', 'kwargs', 'match'),
    [
        pytest.param('create', {'aspect_ratio': '5:4'}, "aspect_ratio '5:4'", id='ratio'),
        pytest.param('create', {'test_time_scaling': 99}, 'test_time_scaling 99', id='tts'),
        pytest.param('edit', {'version': 'reve-create@20250915'}, 'for Reve edit', id='version'),
        pytest.param('remix', {'postprocessing': [{'process': 'x'}]}, "process 'x'", id='post'),
        pytest.param('effects', {'source': 'mine'}, "source 'mine'", id='effects-source'),
    ],
)
def test_invalid_arguments_fail_before_sending(op: str, kwargs: dict[str, Any], match: str) -> None:
    rec = Recorder()
    with pytest.raises(InvalidValueError, match=match):
        call(rec, op, **kwargs)
    assert rec.requests == []


def test_image_inputs_are_checked_before_sending() -> None:
    rec = Recorder()

    async def main() -> None:
        async with mock_client(rec) as client:
            with pytest.raises(
                InvalidValueError, match=r'^image must be non-empty image file bytes'
            ):
                await client.edit(b'', 'x')
            with pytest.raises(InvalidValueError, match='got str'):
                await client.edit('photo.png', 'x')  # type: ignore[arg-type]
            with pytest.raises(InvalidValueError, match='wrap it in a list'):
                await client.remix('x', PNG)  # type: ignore[arg-type]
            with pytest.raises(InvalidValueError, match=r'images\[1\] must be non-empty'):
                await client.remix('x', [PNG, b''])
            with pytest.raises(InvalidValueError, match='images has 7'):
                await client.remix('x', [PNG] * 7)
            with pytest.raises(InvalidValueError, match="'<img>2</img>' but 2 image"):
                await client.remix('<img>2</img>', [PNG, PNG])

    run(main())
    assert rec.requests == []


def test_large_payloads_are_coded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    big = png(600, 600) + bytes(OFFLOAD_BYTES)  # trailing bytes: the client never decodes images
    huge = png(600, 600) + bytes(PARSE_INLINE_BYTES)
    offloaded: list[str] = []
    real_to_thread = asyncio.to_thread

    async def spy(func: Callable[..., T], /, *args: Any) -> T:
        offloaded.append(func.__name__)
        return await real_to_thread(func, *args)

    monkeypatch.setattr(asyncio, 'to_thread', spy)
    rec = Recorder(answer(body=success(huge)))

    async def main() -> ReveResult:
        async with mock_client(rec) as client:
            small = await client.create('small')
            assert small.image == huge  # the answer is over 4 MiB: parsed in a thread
            return await client.edit(big, 'x')

    result = run(main())
    assert result.image == huge
    assert base64.b64decode(rec.body['reference_image']) == big
    assert offloaded == ['parse_result', '_b64_all', '_dump_json', 'parse_result']


def test_answers_up_to_4_mib_are_parsed_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hop to the default thread pool waited behind its threads before the answer was noted;
    the JSON and base64 work holds the GIL wherever it runs."""
    big = png(600, 600) + bytes(2 * 2**20)

    def forbidden(*args: Any) -> None:
        raise AssertionError('to_thread used for an answer under PARSE_INLINE_BYTES')

    monkeypatch.setattr(asyncio, 'to_thread', forbidden)
    assert call(answer(body=success(big)), 'create').image == big


def test_small_payloads_stay_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any) -> None:
        raise AssertionError('to_thread used for a small payload')

    monkeypatch.setattr(asyncio, 'to_thread', forbidden)
    assert call(Recorder(), 'edit').image == PNG


# --- what is received ---------------------------------------------------------------------


def test_image_is_returned_exactly_as_received() -> None:
    weird = b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 3  # not re-encoded, not even parsed
    assert call(answer(body=success(weird)), 'create').image == weird


def test_metadata_falls_back_to_headers() -> None:
    body = {'image': base64.b64encode(PNG).decode()}
    handler = answer(
        body=body,
        X_Reve_Request_Id='rsid-h',
        X_Reve_Version='reve-remix@20250915',
        X_Reve_Credits_Used='30',
        X_Reve_Credits_Remaining='100',
    )
    assert call(handler, 'remix') == ReveResult(PNG, 'reve-remix@20250915', 'rsid-h', 30, 100)


def test_raw_image_answer_is_accepted() -> None:
    handler = answer(
        body=PNG,
        Content_Type='image/png',
        X_Reve_Request_Id='rsid-raw',
        X_Reve_Version='reve-create@20250915',
        X_Reve_Content_Violation='false',
        X_Reve_Credits_Used='18',
    )
    assert call(handler) == ReveResult(PNG, 'reve-create@20250915', 'rsid-raw', 18, None)


@pytest.mark.parametrize(
    'handler',
    [
        pytest.param(answer(body=success(image='not base64!')), id='bad-base64'),
        pytest.param(answer(body={'version': 'v'}), id='no-image'),
        pytest.param(answer(body=b'<html>hello</html>', Content_Type='text/html'), id='html'),
    ],
)
def test_malformed_success_is_a_clean_error(handler: Handler) -> None:
    err = failure(handler)
    assert err.status == 200
    assert not err.retryable
    assert 'Reve-compatible server' in str(err)


def test_balance_and_effects() -> None:
    effects = [{'name': 'glow', 'description': 'd', 'source': 'preset', 'category': 'light'}]
    rec = Recorder(
        lambda r: httpx.Response(
            200,
            json={'budget_id': 'b', 'new_balance': 12.5}
            if r.url.path == '/api/misc/balance'
            else {'effects': effects},
        )
    )

    async def main() -> tuple[float, list[dict[str, Any]], list[dict[str, Any]]]:
        async with mock_client(rec) as client:
            return await client.balance(), await client.effects(), await client.effects('preset')

    assert run(main()) == (12.5, effects, effects)
    assert [r.method for r in rec.requests] == ['GET'] * 3
    assert [str(r.url) for r in rec.requests] == [
        f'{URL}/api/misc/balance',
        f'{URL}/v1/image/effect',
        f'{URL}/v1/image/effect?source=preset',
    ]


def test_balance_malformed() -> None:
    err = failure(answer(body={'budget_id': 'b'}), 'balance')
    assert 'Reve balance failed (HTTP 200)' in str(err)
    assert "'new_balance'" in str(err)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('status', 'retryable'),
    [
        (400, False),
        (401, False),
        (402, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
        (429, True),
        (500, True),
        (501, False),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_status_maps_to_retryable(status: int, retryable: bool) -> None:
    body = {'error_code': 'SOME_CODE', 'message': 'Something happened.'}
    err = failure(answer(status, body, X_Reve_Request_Id='rsid-e'))
    assert type(err) is ServiceError
    assert (err.status, err.code, err.request_id, err.retryable) == (
        status,
        'SOME_CODE',
        'rsid-e',
        retryable,
    )
    assert str(err).startswith(f"Reve create failed (HTTP {status}, request id 'rsid-e'): ")
    assert 'SOME_CODE: Something happened.' in str(err)


def test_400_names_the_parameter() -> None:
    body = {
        'error_code': 'INVALID_PARAMETER_VALUE',
        'message': 'One of the request parameters has an invalid value.',
        'params': {'aspect_ratio': 'must be one of 16:9, 9:16'},
        'instance_id': 'i-1',
        'log': ['x'],
        'context': [{'error_code': 'INNER'}],
        'cause': 'because',
    }
    err = failure(answer(400, body))
    assert err.code == 'INVALID_PARAMETER_VALUE'
    assert 'aspect_ratio: must be one of 16:9, 9:16' in str(err)
    assert err.request_id is None
    assert 'request id' not in str(err)


@pytest.mark.parametrize('status', [401, 403])
def test_rejected_key(status: int) -> None:
    err = failure(answer(status, {'error_code': 'INVALID_API_KEY', 'message': 'Bad key.'}))
    assert 'the API key was rejected' in str(err)
    assert 'REVE_API_KEY or [reve] api_key' in str(err)
    assert not err.retryable


def test_402_names_the_credits() -> None:
    body = {
        'error_code': 'PARTNER_API_BUDGET_EXHAUSTED',
        'message': 'Budget exhausted.',
        'params': {'requested_amount': 18, 'available_amount': 5},
    }
    err = failure(answer(402, body))
    assert 'requested 18 credits, 5 available' in str(err)
    assert (err.code, err.retryable) == ('PARTNER_API_BUDGET_EXHAUSTED', False)


def test_error_code_from_header_and_plain_error_string() -> None:
    err = failure(
        answer(400, {'error': "Unknown field 'width'."}, X_Reve_Error_Code='UNRECOGNIZED')
    )
    assert err.code == 'UNRECOGNIZED'
    assert "UNRECOGNIZED: Unknown field 'width'." in str(err)


def test_nested_error_object() -> None:
    err = failure(answer(400, {'error': {'error_code': 'PROMPT_TOO_LONG', 'message': 'Too long.'}}))
    assert err.code == 'PROMPT_TOO_LONG'
    assert 'Too long.' in str(err)


def test_request_id_from_body_when_header_missing() -> None:
    err = failure(answer(500, {'error_code': 'INTERNAL', 'request_id': 'rsid-body'}))
    assert err.request_id == 'rsid-body'
    assert "request id 'rsid-body'" in str(err)


def test_non_json_error_body() -> None:
    html = b'<html><body><h1>502 Bad Gateway</h1>\n</body></html>'
    err = failure(answer(502, html, Content_Type='text/html'))
    assert (err.status, err.code, err.retryable) == (502, None, True)
    assert 'text/html' in str(err)
    assert '502 Bad Gateway' in str(err)


def test_empty_error_body() -> None:
    err = failure(answer(503, b''))
    assert (err.status, err.retryable) == (503, True)
    assert '0 bytes' in str(err)


def test_grey_image_error_takes_code_from_header() -> None:
    grey = png(4, 4, (128, 128, 128))
    handler = answer(
        400, grey, Content_Type='image/png', X_Reve_Error_Code='INVALID_PARAMETER_VALUE'
    )
    err = failure(handler)
    assert (err.status, err.code, err.retryable) == (400, 'INVALID_PARAMETER_VALUE', False)


def test_200_with_error_code_is_a_failure() -> None:
    err = failure(answer(200, success(), X_Reve_Error_Code='INTERNAL_ERROR'))
    assert (err.status, err.code, err.retryable) == (200, 'INTERNAL_ERROR', False)
    assert 'error code' in str(err)


def test_200_rate_limit_code_is_retryable() -> None:
    err = failure(
        answer(200, b'', X_Reve_Error_Code='PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED', Retry_After='2')
    )
    assert (err.retryable, err.retry_after) == (True, 2.0)


@pytest.mark.parametrize(
    'handler',
    [
        pytest.param(answer(body=success(content_violation=True, image=None)), id='body'),
        pytest.param(answer(body=success(), X_Reve_Content_Violation='true'), id='header'),
        pytest.param(
            answer(body=success(content_violation=True), X_Reve_Error_Code='CONTENT_VIOLATION'),
            id='with-code',
        ),
    ],
)
def test_content_violation(handler: Handler) -> None:
    with pytest.raises(ContentViolationError) as info:
        call(handler)
    err = info.value
    assert (err.status, err.retryable, err.request_id) == (200, False, 'rsid-ok')
    assert str(err).startswith("Reve create failed (HTTP 200, request id 'rsid-ok'): ")
    assert 'flagged the content as a violation' in str(err)


@pytest.mark.parametrize('status', [200, 403, 410, 503])
def test_closed_api(status: int) -> None:
    body = {'error_code': 'PARTNER_API_CLOSED', 'message': 'The API is closed.'}
    err = failure(answer(status, body))
    assert (err.code, err.retryable) == ('PARTNER_API_CLOSED', False)
    assert 'Reve closed its public API on 2026-08-14' in str(err)
    assert 'REVE_API_URL (or [reve] base_url in REVERIE_HOME/config.toml)' in str(err)
    assert '`reverie reve-server`' in str(err)


def test_redirect_is_not_followed() -> None:
    err = failure(answer(301, b'', Location='https://api.reve.com/v1/image/create'))
    assert (err.status, err.retryable) == (301, False)
    assert "redirected to 'https://api.reve.com/v1/image/create'" in str(err)


# --- Retry-After --------------------------------------------------------------------------


def rate_limited(retry_after: str | None = None, param: Any = None) -> Handler:
    body: dict[str, Any] = {
        'error_code': 'PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED',
        'message': 'Slow.',
    }
    if param is not None:
        body['params'] = {'retry_after': param}
    headers = {} if retry_after is None else {'Retry_After': retry_after}
    return answer(429, body, **headers)


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_retry_after_seconds() -> None:
    err = failure(rate_limited('7'))
    assert (err.status, err.code, err.retry_after, err.retryable) == (
        429,
        'PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED',
        7.0,
        True,
    )
    assert 'retry after 7.0 s' in str(err)


def test_retry_after_http_date() -> None:
    err = failure(rate_limited(format_datetime(in_seconds(30), usegmt=True)))
    assert err.retry_after is not None
    assert 27 <= err.retry_after <= 30


def test_retry_after_http_date_in_the_past() -> None:
    err = failure(rate_limited(format_datetime(in_seconds(-30), usegmt=True)))
    assert err.retry_after == 0.0


def test_retry_after_from_params_iso() -> None:
    when = in_seconds(20).isoformat().replace('+00:00', 'Z')
    err = failure(rate_limited(param=when))
    assert err.retry_after is not None
    assert 18 <= err.retry_after <= 20


def test_retry_after_from_params_naive_iso_is_utc() -> None:
    when = in_seconds(20).replace(tzinfo=None).isoformat()
    err = failure(rate_limited(param=when))
    assert err.retry_after is not None
    assert 18 <= err.retry_after <= 20


def test_retry_after_header_wins_over_params() -> None:
    err = failure(rate_limited('3', param=in_seconds(60).isoformat()))
    assert err.retry_after == 3.0


def test_retry_after_garbage_falls_back() -> None:
    assert failure(rate_limited('soon')).retry_after is None
    assert failure(rate_limited('soon', param='later')).retry_after is None
    assert failure(rate_limited('soon', param=4)).retry_after == 4.0
    assert failure(rate_limited()).retry_after is None


# --- transport failures and secrets -------------------------------------------------------


def raising(exc: Exception) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        raise exc

    return handle


@pytest.mark.parametrize(
    ('exc', 'text', 'retryable'),
    [
        # After the request left, the service may have charged: not retryable, maybe charged.
        pytest.param(httpx.ReadTimeout('timed out'), 'ReadTimeout', False, id='read-timeout'),
        pytest.param(
            httpx.ConnectTimeout('timed out'), 'ConnectTimeout', True, id='connect-timeout'
        ),
        pytest.param(
            httpx.ConnectError('Connection refused'), 'Connection refused', True, id='refused'
        ),
        pytest.param(
            httpx.RemoteProtocolError('Server disconnected'), 'disconnected', False, id='proto'
        ),
    ],
)
def test_transport_errors_say_whether_retrying_is_safe_and_hide_the_request(
    exc: Exception, text: str, retryable: bool
) -> None:
    err = failure(raising(exc), 'edit')
    assert (err.status, err.code, err.retryable) == (None, None, retryable)
    assert err.maybe_charged is not retryable
    assert str(err).startswith('Reve edit failed (no HTTP answer): ')
    assert text in str(err)
    assert_no_secret(err)


def test_key_echoed_by_the_server_is_scrubbed() -> None:
    body = {'error_code': 'INVALID_API_KEY', 'message': f'Key {KEY} is not valid.'}
    err = failure(answer(401, body, X_Reve_Request_Id=f'rsid-{KEY}'))
    assert 'Key *** is not valid.' in str(err)
    assert err.request_id == 'rsid-***'
    assert_no_secret(err)


def test_debug_log_has_no_key_and_no_image(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    call(answer(body=success(), X_Reve_Request_Id='rsid-log'), 'edit')
    failure(answer(500, {'error_code': 'X'}), 'remix')
    failure(raising(httpx.ConnectError('refused')), 'create')
    records = [r for r in caplog.records if r.name == 'reverie.reve']
    messages = [r.getMessage() for r in records]
    assert any('edit' in m and 'HTTP 200' in m and 'rsid-log' in m for m in messages)
    assert any('remix' in m and 'HTTP 500' in m for m in messages)
    assert any('create' in m and 'transport failure' in m for m in messages)
    encoded = base64.b64encode(PNG).decode()
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.__dict__)
        assert encoded[:32] not in record.getMessage()


# --- contract tests against the local Reve-compatible server -------------------------------


@contextmanager
def local_server(**changes: Any) -> Iterator[Any]:
    from reverie.reve_server import ServerOptions, serve_in_thread

    options: dict[str, Any] = {
        'latency': 0.0,
        'max_concurrency': None,
        'retry_after': 1,
        'api_keys': None,
        'credits': 1_000_000,
        'closed': False,
        'fail_500_rate': 0.0,
        'rate_429_rate': 0.0,
        'stall_rate': 0.0,
        'stall_seconds': 10.0,
        'seed': 0,
        'megapixels': 0.01,
    }
    options.update(changes)
    with serve_in_thread(ServerOptions(**options)) as server:
        yield server


def against(server: Any, use: Callable[[ReveClient], Coroutine[Any, Any, T]], **kwargs: Any) -> T:
    async def main() -> T:
        async with ReveClient(KEY, server.url, **kwargs) as client:
            return await use(client)

    return run(main())


def server_failure(
    server: Any, use: Callable[[ReveClient], Coroutine[Any, Any, Any]], **kwargs: Any
) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        against(server, use, **kwargs)
    assert_no_secret(info.value)
    return info.value


def is_png(data: bytes) -> bool:
    return data.startswith(b'\x89PNG\r\n\x1a\n')


@pytest.fixture(scope='module')
def server() -> Iterator[Any]:
    with local_server() as srv:
        yield srv


def test_a_request_searches_no_module_path(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore imports ``sniffio`` for each lock it sets up; not installed, every import was a
    search of ``sys.path`` (4 per request, a stat per entry, each letting the GIL go): under
    CPU load the event loop waited for the GIL after each, and answers were read late."""
    searched: list[str] = []
    real = importlib.machinery.PathFinder.find_spec

    def find_spec(name: str, path: Any = None, target: Any = None) -> Any:
        searched.append(name)
        return real(name, path, target)

    async def use(client: ReveClient) -> None:
        await client.create('warm')  # first use may import what it needs, once
        monkeypatch.setattr(importlib.machinery.PathFinder, 'find_spec', find_spec)
        for i in range(3):
            await client.create(f'prompt {i}')

    against(server, use)
    assert searched == []


def test_server_accepts_every_field(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    steps: list[dict[str, Any]] = [{'process': 'fit_image', 'max_dim': 64}]
    common: dict[str, Any] = {
        'aspect_ratio': '16:9',
        'test_time_scaling': 2,
        'postprocessing': steps,
    }

    async def use(client: ReveClient) -> list[ReveResult]:
        return [
            await client.create('a fox', version='reve-create@20250915', **common),
            await client.edit(PNG, 'make it blue', version='latest-fast', **common),
            await client.remix(
                '<img>0</img> meets <img>1</img>', [PNG, png(9, 9)], version='latest', **common
            ),
            await client.create('plain'),
            await client.edit(PNG, 'plain', aspect_ratio='auto'),
            await client.remix('plain', [PNG]),
        ]

    results = against(server, use)
    versions = [r.version for r in results]
    assert versions == [
        'reve-create@20250915',
        'reve-edit-fast@20251030',
        'reve-remix@20250915',
        'reve-create@20250915',
        'reve-edit@20250915',
        'reve-remix@20250915',
    ]
    for result in results:
        assert is_png(result.image)
        assert result.request_id
        assert result.credits_used > 0
    recorded = {r.request_id for r in server.requests}
    assert {r.request_id for r in results} <= recorded
    assert KEY not in caplog.text
    assert any(
        r.name == 'reverie.reve' and results[0].request_id in r.getMessage() for r in caplog.records
    )


def test_server_fit_image_shrinks(server: Any) -> None:
    async def use(client: ReveClient) -> ReveResult:
        return await client.create(
            'a fox', postprocessing=[{'process': 'fit_image', 'max_dim': 32}]
        )

    with Image.open(io.BytesIO(against(server, use).image)) as image:
        assert max(image.size) <= 32


def test_server_balance_and_effects(server: Any) -> None:
    async def use(client: ReveClient) -> tuple[float, float, list[dict[str, Any]], ReveResult]:
        before = await client.balance()
        effects = await client.effects('all')
        name = effects[0]['name']
        result = await client.create(
            'a fox', postprocessing=[{'process': 'effect', 'effect_name': name}]
        )
        return before, await client.balance(), effects, result

    before, after, effects, result = against(server, use)
    assert effects
    assert all({'name', 'description', 'source', 'category'} <= set(e) for e in effects)
    assert after == before - result.credits_used
    assert result.credits_remaining is None or result.credits_remaining == after


def test_server_rejects_wrong_key() -> None:
    with local_server(api_keys=['papi.the-right-key']) as srv:
        err = server_failure(srv, lambda c: c.create('a fox'))
    assert (err.status, err.retryable) == (401, False)
    assert 'the API key was rejected' in str(err)
    assert 'REVE_API_KEY' in str(err)


def test_server_accepts_listed_key() -> None:
    with local_server(api_keys=[KEY]) as srv:
        assert is_png(against(srv, lambda c: c.create('a fox')).image)


def test_server_budget_exhausted() -> None:
    with local_server(credits=5) as srv:
        err = server_failure(srv, lambda c: c.create('a fox'))
    assert (err.status, err.code, err.retryable) == (402, 'PARTNER_API_BUDGET_EXHAUSTED', False)
    assert 'requested 18 credits, 5 available' in str(err)
    assert err.request_id
    assert f'request id {err.request_id!r}' in str(err)


def test_server_undecodable_image(server: Any) -> None:
    err = server_failure(server, lambda c: c.edit(b'this is not an image', 'make it blue'))
    assert (err.status, err.retryable) == (422, False)
    assert str(err).startswith('Reve edit failed (HTTP 422')
    assert 'valid PNG, JPEG or WebP' in str(err)


def test_server_content_violation(server: Any) -> None:
    with pytest.raises(ContentViolationError) as info:
        against(server, lambda c: c.create('please trigger content-violation now'))
    err = info.value
    assert (err.status, err.retryable) == (200, False)
    assert err.request_id
    assert err.request_id in str(err)
    assert 'flagged the content as a violation' in str(err)
    assert_no_secret(err)


def test_server_closed() -> None:
    with local_server(closed=True) as srv:
        err = server_failure(srv, lambda c: c.remix('x', [PNG]))
    assert (err.status, err.code, err.retryable) == (410, 'PARTNER_API_CLOSED', False)
    assert 'Reve closed its public API on 2026-08-14' in str(err)


def test_server_500_is_retryable() -> None:
    with local_server(fail_500_rate=1.0) as srv:
        err = server_failure(srv, lambda c: c.create('a fox'))
    assert (err.status, err.retryable) == (500, True)


def test_server_429_with_retry_after() -> None:
    with local_server(rate_429_rate=1.0, retry_after=3) as srv:
        err = server_failure(srv, lambda c: c.create('a fox'))
    assert (err.status, err.retryable, err.retry_after) == (429, True, 3.0)
    assert err.code == 'PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED'


def test_server_429_beyond_max_concurrency() -> None:
    async def use(client: ReveClient) -> list[ReveResult | BaseException]:
        calls = [client.create(f'fox {i}') for i in range(4)]
        return await asyncio.gather(*calls, return_exceptions=True)

    with local_server(max_concurrency=1, latency=0.3, retry_after=2) as srv:
        outcomes = against(srv, use)
        assert srv.peak_concurrency == 1
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert any(isinstance(o, ReveResult) for o in outcomes)
    assert errors
    for err in errors:
        assert isinstance(err, ServiceError)
        assert (err.status, err.retryable, err.retry_after) == (429, True, 2.0)


def test_server_stall_times_out_as_maybe_charged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    timeout = httpx.Timeout(5.0, read=0.3)
    with local_server(stall_rate=1.0, stall_seconds=2.0) as srv:
        err = server_failure(srv, lambda c: c.create('a fox'), timeout=timeout)
    assert (err.status, err.retryable, err.maybe_charged) == (None, False, True)
    assert 'ReadTimeout' in str(err)
    assert KEY not in caplog.text
