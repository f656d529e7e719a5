"""Error answers: validation (400), auth (401), budget (402), 404/405, closed (410), 422."""

from __future__ import annotations

import base64
import io
import socket

import httpx
import pytest
from PIL import Image

from reverie.reve_server import ReveServer
from reverie.reve_server.options import ApiError
from reverie.reve_server.validate import decode_images
from tests.reve_server.conftest import MakeServer
from tests.reve_server.util import (
    error_of,
    image_of,
    make_client,
    png_b64,
    png_bytes,
    png_header_b64,
)

EDIT = {'edit_instruction': 'e', 'reference_image': png_b64()}
REMIX = {'prompt': 'r', 'reference_images': [png_b64()]}


def invalid(response: httpx.Response, field: str, code: str = 'INVALID_PARAMETER_VALUE') -> None:
    status, error_code, params = error_of(response)
    assert (status, error_code) == (400, code), response.json()
    assert field in params, params


@pytest.mark.parametrize(
    ('endpoint', 'body', 'field'),
    [
        pytest.param('create', {}, 'prompt', id='create-missing-prompt'),
        pytest.param('create', {'prompt': ''}, 'prompt', id='empty-prompt'),
        pytest.param('create', {'prompt': 42}, 'prompt', id='prompt-not-string'),
        pytest.param('create', {'prompt': None}, 'prompt', id='prompt-null'),
        pytest.param('create', {'prompt': 'p', 'aspect_ratio': '5:4'}, 'aspect_ratio', id='ratio'),
        pytest.param(
            'create', {'prompt': 'p', 'aspect_ratio': None}, 'aspect_ratio', id='ratio-null'
        ),
        pytest.param(
            'create', {'prompt': 'p', 'version': 'latest-fast'}, 'version', id='create-fast'
        ),
        pytest.param('create', {'prompt': 'p', 'version': 'v9'}, 'version', id='version'),
        pytest.param('edit', {**EDIT, 'version': 'reve-create@20250915'}, 'version', id='edit-ver'),
        pytest.param(
            'create',
            {'prompt': 'p', 'test_time_scaling': 'high'},
            'test_time_scaling',
            id='tts-str',
        ),
        pytest.param(
            'create', {'prompt': 'p', 'test_time_scaling': True}, 'test_time_scaling', id='tts-bool'
        ),
        pytest.param('edit', {'edit_instruction': 'e'}, 'reference_image', id='edit-no-image'),
        pytest.param('edit', {'reference_image': png_b64()}, 'edit_instruction', id='edit-no-text'),
        pytest.param('remix', {'prompt': 'r'}, 'reference_images', id='remix-no-images'),
        pytest.param('remix', {'reference_images': [png_b64()]}, 'prompt', id='remix-no-prompt'),
        pytest.param(
            'remix', {'prompt': 'r', 'reference_images': []}, 'reference_images', id='zero'
        ),
        pytest.param(
            'remix',
            {'prompt': 'r', 'reference_images': [png_b64()] * 7},
            'reference_images',
            id='seven',
        ),
        pytest.param(
            'remix',
            {'prompt': 'r', 'reference_images': png_b64()},
            'reference_images',
            id='not-list',
        ),
        pytest.param(
            'remix',
            {'prompt': '<img>1</img>', 'reference_images': [png_b64()]},
            'prompt',
            id='img-tag',
        ),
        pytest.param(
            'remix',
            {'prompt': 'a <img>6</img>', 'reference_images': [png_b64()] * 6},
            'prompt',
            id='img-tag-6',
        ),
    ],
)
def test_invalid_fields(
    client: httpx.Client, endpoint: str, body: dict[str, object], field: str
) -> None:
    invalid(client.post(f'/v1/image/{endpoint}', json=body), field)


def test_prompt_length_limit(client: httpx.Client) -> None:
    assert client.post('/v1/image/create', json={'prompt': 'é' * 2560}).status_code == 200
    status, code, _ = error_of(client.post('/v1/image/create', json={'prompt': 'x' * 2561}))
    assert (status, code) == (400, 'PROMPT_TOO_LONG')
    body = {'edit_instruction': 'x' * 2561, 'reference_image': png_b64()}
    assert error_of(client.post('/v1/image/edit', json=body))[:2] == (400, 'PROMPT_TOO_LONG')


@pytest.mark.parametrize(
    ('endpoint', 'body', 'field'),
    [
        pytest.param('create', {'prompt': 'p', 'seed': 1}, 'seed', id='create-seed'),
        pytest.param(
            'create',
            {'prompt': 'p', 'reference_image': png_b64()},
            'reference_image',
            id='create-image',
        ),
        pytest.param('edit', {**EDIT, 'prompt': 'p'}, 'prompt', id='edit-prompt'),
        pytest.param('remix', {**REMIX, 'width': 512}, 'width', id='remix-width'),
    ],
)
def test_unknown_fields(
    client: httpx.Client, endpoint: str, body: dict[str, object], field: str
) -> None:
    invalid(client.post(f'/v1/image/{endpoint}', json=body), field, 'UNRECOGNIZED')


def test_remix_img_tags_in_range(client: httpx.Client) -> None:
    body = {'prompt': '<img>0</img> and <img>1</img>', 'reference_images': [png_b64()] * 2}
    assert client.post('/v1/image/remix', json=body).status_code == 200


@pytest.mark.parametrize(
    'step',
    [
        pytest.param('upscale', id='not-object'),
        pytest.param({}, id='no-process'),
        pytest.param({'process': 'sharpen'}, id='unknown-process'),
        pytest.param({'process': 'upscale'}, id='upscale-no-factor'),
        pytest.param({'process': 'upscale', 'upscale_factor': 5}, id='upscale-5'),
        pytest.param({'process': 'upscale', 'upscale_factor': '2'}, id='upscale-str'),
        pytest.param({'process': 'remove_background', 'strength': 1}, id='extra-field'),
        pytest.param({'process': 'fit_image'}, id='fit-no-limit'),
        pytest.param({'process': 'fit_image', 'max_dim': 0}, id='fit-0'),
        pytest.param({'process': 'fit_image', 'max_width': 4097}, id='fit-4097'),
        pytest.param({'process': 'fit_image', 'max_height': 10.5}, id='fit-float'),
        pytest.param({'process': 'effect'}, id='effect-no-name'),
        pytest.param({'process': 'effect', 'effect_name': 'vaporwave'}, id='effect-unknown'),
        pytest.param(
            {
                'process': 'effect',
                'effect_name': 'blur',
                'effect_parameters': {'blur': {'sigma': 1}},
            },
            id='effect-unknown-uniform',
        ),
        pytest.param(
            {
                'process': 'effect',
                'effect_name': 'blur',
                'effect_parameters': {'blur': {'radius': 99}},
            },
            id='effect-out-of-range',
        ),
        pytest.param(
            {'process': 'effect', 'effect_name': 'blur', 'effect_parameters': {'sepia': {}}},
            id='effect-wrong-filter',
        ),
        pytest.param(
            {'process': 'effect', 'effect_name': 'blur', 'effect_parameters': [1]},
            id='effect-params-not-object',
        ),
    ],
)
def test_invalid_postprocessing(client: httpx.Client, step: object) -> None:
    response = client.post('/v1/image/create', json={'prompt': 'p', 'postprocessing': [step]})
    status, code, params = error_of(response)
    assert (status, code) == (400, 'INVALID_PARAMETER_VALUE')
    assert all(key.startswith('postprocessing[0]') for key in params), params


def test_postprocessing_must_be_a_list(client: httpx.Client) -> None:
    response = client.post('/v1/image/create', json={'prompt': 'p', 'postprocessing': {}})
    invalid(response, 'postprocessing')


@pytest.mark.parametrize(
    ('content', 'content_type', 'field'),
    [
        pytest.param(b'{"prompt": ', 'application/json', 'body', id='malformed'),
        pytest.param(b'["prompt"]', 'application/json', 'body', id='array'),
        pytest.param(
            b'{"prompt": "p", "test_time_scaling": NaN}', 'application/json', 'body', id='nan'
        ),
        pytest.param(b'{"prompt": "\xff"}', 'application/json', 'body', id='bad-utf8'),
        pytest.param(b'', 'application/json', 'body', id='empty'),
        pytest.param(b'{"prompt": "p"}', 'text/plain', 'Content-Type', id='text-plain'),
        pytest.param(b'prompt=p', 'application/x-www-form-urlencoded', 'Content-Type', id='form'),
    ],
)
def test_malformed_bodies(
    client: httpx.Client, content: bytes, content_type: str, field: str
) -> None:
    response = client.post(
        '/v1/image/create', content=content, headers={'Content-Type': content_type}
    )
    invalid(response, field)


def test_json_with_charset_is_accepted(client: httpx.Client) -> None:
    headers = {'Content-Type': 'application/json; charset=utf-8'}
    assert (
        client.post('/v1/image/create', content=b'{"prompt": "p"}', headers=headers).status_code
        == 200
    )


@pytest.mark.parametrize(
    ('value', 'status'),
    [
        pytest.param('data:image/png;base64,' + png_b64(), 400, id='data-prefix'),
        pytest.param('not base64!', 400, id='bad-alphabet'),
        pytest.param(png_b64()[:-2], 400, id='bad-padding'),
        pytest.param(base64.urlsafe_b64encode(b'\xfb\xff' * 30).decode(), 400, id='urlsafe'),
        pytest.param('', 400, id='empty'),
        pytest.param(base64.b64encode(b'hello, not an image').decode(), 422, id='not-an-image'),
        pytest.param(base64.b64encode(png_bytes((64, 64))[:80]).decode(), 422, id='truncated'),
        pytest.param(base64.b64encode(b'BM' + b'\x00' * 60).decode(), 422, id='unsupported-bmp'),
    ],
)
def test_bad_reference_images(client: httpx.Client, value: str, status: int) -> None:
    response = client.post(
        '/v1/image/edit', json={'edit_instruction': 'e', 'reference_image': value}
    )
    got, code, params = error_of(response)
    assert got == status
    assert 'reference_image' in params
    if status == 422:
        assert code != 'INVALID_PARAMETER_VALUE'


def test_real_bmp_is_rejected(client: httpx.Client) -> None:
    buffer = io.BytesIO()
    Image.new('RGB', (8, 8)).save(buffer, 'BMP')
    body = {
        'edit_instruction': 'e',
        'reference_image': base64.b64encode(buffer.getvalue()).decode(),
    }
    assert client.post('/v1/image/edit', json=body).status_code == 422


@pytest.mark.parametrize(
    ('width', 'height'),
    [
        pytest.param(8193, 100, id='wide'),
        pytest.param(100, 8193, id='tall'),
        pytest.param(6000, 6000, id='too-many-pixels'),
        pytest.param(10_000, 10_000, id='pillow-bomb-warning'),
        pytest.param(30_000, 30_000, id='pillow-bomb-error'),
    ],
)
def test_oversized_image_headers(client: httpx.Client, width: int, height: int) -> None:
    body = {'edit_instruction': 'e', 'reference_image': png_header_b64(width, height)}
    invalid(client.post('/v1/image/edit', json=body), 'reference_image')


def test_limit_sized_header_is_decoded_not_rejected(client: httpx.Client) -> None:
    # 8192 x 4096 is within every limit; the tiny fake body then fails to decode: 422, not 400.
    body = {'edit_instruction': 'e', 'reference_image': png_header_b64(8192, 4096)}
    assert client.post('/v1/image/edit', json=body).status_code == 422


def test_remix_total_pixels(client: httpx.Client) -> None:
    images = [png_header_b64(6000, 5000), png_header_b64(6000, 5000)]  # each fine, together not
    response = client.post('/v1/image/remix', json={'prompt': 'r', 'reference_images': images})
    status, code, params = error_of(response)
    assert (status, code) == (400, 'INVALID_PARAMETER_VALUE')
    assert 'reference_images' in params


def test_remix_names_the_bad_image(client: httpx.Client) -> None:
    images = [png_b64(), 'data:image/png;base64,xx']
    invalid(
        client.post('/v1/image/remix', json={'prompt': 'r', 'reference_images': images}),
        'reference_images[1]',
    )


def test_image_byte_limits() -> None:
    padded = base64.b64encode(png_bytes() + b'\x00' * (40 * 1024 * 1024)).decode()
    with pytest.raises(ApiError, match='One of the request'):
        decode_images([padded], ['reference_image'])
    near = base64.b64encode(png_bytes() + b'\x00' * (35 * 1024 * 1024)).decode()
    with pytest.raises(ApiError) as info:
        decode_images(
            [near] * 3, ['reference_images[0]', 'reference_images[1]', 'reference_images[2]']
        )
    assert info.value.status == 400
    assert info.value.params == {'reference_images': 'images exceed 100 MB in total'}


def test_oversized_body_is_refused_without_reading(server: ReveServer) -> None:
    host, port = server.url.removeprefix('http://').split(':')
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b'POST /v1/image/create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n'
            b'Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n'
        )
        reply = sock.makefile('rb')
        assert reply.readline().startswith(b'HTTP/1.1 400')
        reply.close()


@pytest.mark.parametrize(
    'headers',
    [
        pytest.param({}, id='missing'),
        pytest.param({'Authorization': 'Bearer'}, id='no-token'),
        pytest.param({'Authorization': 'Basic papi.good'}, id='basic'),
        pytest.param({'Authorization': 'Bearer papi.wrong'}, id='wrong-key'),
    ],
)
def test_invalid_api_key(make_server: MakeServer, headers: dict[str, str]) -> None:
    server = make_server(api_keys=frozenset({'papi.good'}))
    with make_client(server, key=None) as client:
        for response in (
            client.post('/v1/image/create', json={'prompt': 'p'}, headers=headers),
            client.get('/api/misc/balance', headers=headers),
            client.get('/v1/image/effect', headers=headers),
        ):
            assert error_of(response)[:2] == (401, 'INVALID_API_KEY')
        ok = client.post(
            '/v1/image/create', json={'prompt': 'p'}, headers={'Authorization': 'Bearer papi.good'}
        )
        assert ok.status_code == 200


def test_any_key_accepted_by_default(server: ReveServer) -> None:
    with make_client(server, key='anything') as client:
        assert client.get('/api/misc/balance').status_code == 200
    with make_client(server, key=None) as client:
        assert client.get('/api/misc/balance').status_code == 401


def test_budget_exhausted(make_server: MakeServer) -> None:
    server = make_server(credits=23)
    with make_client(server) as client:
        assert (
            client.post('/v1/image/create', json={'prompt': 'p'}).json()['credits_remaining'] == 5
        )
        status, code, params = error_of(client.post('/v1/image/create', json={'prompt': 'p'}))
        assert (status, code) == (402, 'PARTNER_API_BUDGET_EXHAUSTED')
        assert params == {'requested_amount': 18, 'available_amount': 5}
        assert client.get('/api/misc/balance').json()['new_balance'] == 5
        body = {'edit_instruction': 'e', 'reference_image': png_b64(), 'version': 'latest-fast'}
        assert client.post('/v1/image/edit', json=body).json()['credits_remaining'] == 0
        assert server.credits_remaining == 0


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    for response in (
        client.get('/v1/image/nope'),
        client.post('/v2/image/create', json={'prompt': 'p'}),
    ):
        assert error_of(response)[:2] == (404, 'NOT_FOUND')
    response = client.get('/v1/image/create')
    assert error_of(response)[0] == 405
    assert response.headers['allow'] == 'POST'
    response = client.post('/api/misc/balance', json={})
    assert error_of(response)[0] == 405
    assert response.headers['allow'] == 'GET'
    assert error_of(client.delete('/v1/image/edit'))[0] == 405
    head = client.head('/v1/image/create')
    assert head.status_code == 405 and head.content == b''
    assert client.request('BREW', '/v1/image/create').json()['error_code']


def test_closed_service(make_server: MakeServer) -> None:
    server = make_server(closed=True)
    with make_client(server) as client:
        for response in (
            client.post('/v1/image/create', json={'prompt': 'p'}),
            client.post('/v1/image/edit', json=EDIT),
            client.get('/api/misc/balance'),
            client.get('/v1/image/effect'),
        ):
            assert error_of(response)[:2] == (410, 'PARTNER_API_CLOSED')


def test_effect_source_validated(client: httpx.Client) -> None:
    invalid(client.get('/v1/image/effect?source=mine'), 'source')


@pytest.mark.parametrize('accept', ['image/png', 'image/*', 'image/webp'])
def test_errors_in_raw_image_mode_send_a_grey_placeholder(
    client: httpx.Client, accept: str
) -> None:
    response = client.post('/v1/image/create', json={'prompt': ''}, headers={'Accept': accept})
    assert response.status_code == 400
    assert response.headers['x-reve-error-code'] == 'INVALID_PARAMETER_VALUE'
    assert response.headers['x-reve-request-id'].startswith('rsid-')
    assert response.headers['content-type'].startswith('image/')
    image = image_of(response)
    pixel = image.convert('RGB').getpixel((0, 0))
    assert isinstance(pixel, tuple) and all(abs(v - 128) <= 2 for v in pixel)  # WebP is lossy
    assert image.width <= 64
    other = client.post('/v1/image/create', json={'prompt': 'x' * 3000}, headers={'Accept': accept})
    assert other.headers['x-reve-error-code'] == 'PROMPT_TOO_LONG'


def test_json_errors_when_json_is_acceptable(client: httpx.Client) -> None:
    headers = {'Accept': 'application/json, image/png;q=0.5'}
    response = client.post('/v1/image/create', json={'prompt': ''}, headers=headers)
    assert error_of(response)[:2] == (400, 'INVALID_PARAMETER_VALUE')
