"""Successful calls: endpoints, response modes, headers, credits, sizes, determinism."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from reverie.reve_server import DeterministicBackend, ReveServer
from tests.reve_server.conftest import MakeServer
from tests.reve_server.util import image_of, make_client, png_b64

HEADERS = (
    'x-reve-request-id',
    'x-reve-version',
    'x-reve-content-violation',
    'x-reve-credits-used',
    'x-reve-credits-remaining',
)


def test_create_json_body_and_headers(client: httpx.Client) -> None:
    response = client.post('/v1/image/create', json={'prompt': 'a solarpunk oasis city'})
    assert response.status_code == 200
    assert response.headers['content-type'] == 'application/json'
    body = response.json()
    assert set(body) == {
        'image', 'version', 'content_violation', 'request_id', 'credits_used', 'credits_remaining'
    }  # fmt: skip
    assert body['version'] == 'reve-create@20250915'
    assert body['content_violation'] is False
    assert body['request_id'].startswith('rsid-')
    assert body['credits_used'] == 18
    assert body['credits_remaining'] == 1_000_000 - 18
    assert image_of(response).format == 'PNG'
    assert response.headers['x-reve-request-id'] == body['request_id']
    assert response.headers['x-reve-version'] == body['version']
    assert response.headers['x-reve-content-violation'] == 'false'
    assert response.headers['x-reve-credits-used'] == '18'
    assert response.headers['x-reve-credits-remaining'] == str(body['credits_remaining'])
    assert 'x-reve-error-code' not in response.headers


def test_edit_and_remix(client: httpx.Client) -> None:
    edit = client.post(
        '/v1/image/edit', json={'edit_instruction': 'make it blue', 'reference_image': png_b64()}
    )
    assert edit.status_code == 200
    assert edit.json()['version'] == 'reve-edit@20250915'
    assert edit.json()['credits_used'] == 30
    remix = client.post(
        '/v1/image/remix',
        json={'prompt': '<img>0</img> meets <img>1</img>', 'reference_images': [png_b64()] * 2},
    )
    assert remix.status_code == 200
    assert remix.json()['version'] == 'reve-remix@20250915'
    assert remix.json()['credits_used'] == 30


@pytest.mark.parametrize(
    ('accept', 'content_type', 'pil_format'),
    [
        pytest.param('image/png', 'image/png', 'PNG', id='png'),
        pytest.param('image/jpeg', 'image/jpeg', 'JPEG', id='jpeg'),
        pytest.param('image/webp', 'image/webp', 'WEBP', id='webp'),
        pytest.param('image/*', 'image/png', 'PNG', id='any-image'),
        pytest.param('image/webp;q=0.5, image/jpeg', 'image/jpeg', 'JPEG', id='q-values'),
    ],
)
def test_raw_image_mode(
    client: httpx.Client, accept: str, content_type: str, pil_format: str
) -> None:
    response = client.post(
        '/v1/image/create', json={'prompt': 'raw please'}, headers={'Accept': accept}
    )
    assert response.status_code == 200
    assert response.headers['content-type'] == content_type
    assert int(response.headers['content-length']) == len(response.content)
    for name in HEADERS:
        assert name in response.headers
    assert response.headers['x-reve-version'] == 'reve-create@20250915'
    assert response.headers['x-reve-credits-used'] == '18'
    assert image_of(response).format == pil_format


@pytest.mark.parametrize(
    'accept', ['*/*', 'application/json', 'application/json, image/png', 'text/html']
)
def test_json_mode_accept_values(client: httpx.Client, accept: str) -> None:
    response = client.post('/v1/image/create', json={'prompt': 'p'}, headers={'Accept': accept})
    assert response.headers['content-type'] == 'application/json'
    assert response.json()['image']


def test_trailing_slash_and_breadcrumb(client: httpx.Client) -> None:
    response = client.post('/v1/image/create/?breadcrumb=demo', json={'prompt': 'slash'})
    assert response.status_code == 200
    plain = client.post('/v1/image/create', json={'prompt': 'slash'})
    assert response.json()['image'] == plain.json()['image']
    assert client.get('/api/misc/balance/').status_code == 200
    assert client.get('/v1/image/effect/').status_code == 200


@pytest.mark.parametrize(
    ('endpoint', 'field', 'extra'),
    [
        pytest.param('create', 'prompt', {}, id='create'),
        pytest.param('edit', 'edit_instruction', {'reference_image': png_b64()}, id='edit'),
        pytest.param('remix', 'prompt', {'reference_images': [png_b64()]}, id='remix'),
    ],
)
def test_content_violation(
    client: httpx.Client, server: ReveServer, endpoint: str, field: str, extra: dict[str, object]
) -> None:
    body = {field: 'Please trigger a Content-Violation here', **extra}
    response = client.post(f'/v1/image/{endpoint}', json=body)
    assert response.status_code == 200
    data = response.json()
    assert data['content_violation'] is True
    assert data['image'] is None
    assert data['credits_used'] == 0
    assert data['credits_remaining'] == 1_000_000
    assert response.headers['x-reve-content-violation'] == 'true'
    raw = client.post(f'/v1/image/{endpoint}', json=body, headers={'Accept': 'image/png'})
    assert raw.status_code == 200
    assert raw.headers['x-reve-content-violation'] == 'true'
    assert raw.content == b''
    assert server.credits_remaining == 1_000_000


@pytest.mark.parametrize(
    ('endpoint', 'body', 'cost'),
    [
        pytest.param('create', {}, 18, id='create'),
        pytest.param('create', {'test_time_scaling': 2}, 36, id='scaling-2'),
        pytest.param('create', {'test_time_scaling': 1.5}, 27, id='scaling-float'),
        pytest.param('create', {'test_time_scaling': 40}, 18 * 15, id='clamped-high'),
        pytest.param('create', {'test_time_scaling': 0}, 18, id='clamped-low'),
        pytest.param('edit', {}, 30, id='edit'),
        pytest.param('edit', {'version': 'latest-fast'}, 5, id='edit-fast'),
        pytest.param('remix', {'version': 'reve-remix-fast@20251030'}, 5, id='remix-fast'),
        pytest.param('remix', {'version': 'latest-fast', 'test_time_scaling': 3}, 15, id='fast-x3'),
        pytest.param(
            'create',
            {'postprocessing': [{'process': 'upscale', 'upscale_factor': 2}]},
            28,
            id='upscale',
        ),
        pytest.param(
            'create', {'postprocessing': [{'process': 'remove_background'}]}, 28, id='remove-bg'
        ),
        pytest.param(
            'create', {'postprocessing': [{'process': 'fit_image', 'max_dim': 20}]}, 18, id='fit'
        ),
        pytest.param(
            'create',
            {'postprocessing': [{'process': 'effect', 'effect_name': 'grayscale'}]},
            18,
            id='effect',
        ),
    ],
)
def test_credits(
    client: httpx.Client, server: ReveServer, endpoint: str, body: dict[str, object], cost: int
) -> None:
    bases: dict[str, dict[str, object]] = {
        'create': {'prompt': 'p'},
        'edit': {'edit_instruction': 'e', 'reference_image': png_b64()},
        'remix': {'prompt': 'r', 'reference_images': [png_b64()]},
    }
    base = bases[endpoint]
    first = client.post(f'/v1/image/{endpoint}', json={**base, **body}).json()
    second = client.post(f'/v1/image/{endpoint}', json={**base, **body}).json()
    assert first['credits_used'] == second['credits_used'] == cost
    assert first['credits_remaining'] == 1_000_000 - cost
    assert second['credits_remaining'] == 1_000_000 - 2 * cost
    assert server.credits_remaining == 1_000_000 - 2 * cost
    balance = client.get('/api/misc/balance').json()
    assert balance['new_balance'] == 1_000_000 - 2 * cost


def test_balance(client: httpx.Client) -> None:
    response = client.get('/api/misc/balance?breadcrumb=x')
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {'budget_id', 'new_balance'}
    assert isinstance(body['budget_id'], str)
    assert body['new_balance'] == 1_000_000
    assert response.headers['x-reve-request-id'].startswith('rsid-')


def test_effects_list(client: httpx.Client) -> None:
    effects = client.get('/v1/image/effect').json()['effects']
    names = {e['name'] for e in effects}
    assert {'grayscale', 'sepia', 'blur', 'posterize'} <= names
    for effect in effects:
        assert set(effect) == {'name', 'description', 'source', 'category'}
    assert client.get('/v1/image/effect?source=all').json()['effects'] == effects
    assert client.get('/v1/image/effect?source=preset').json()['effects'] == effects
    assert client.get('/v1/image/effect?source=project').json()['effects'] == []


@pytest.mark.parametrize(
    ('version', 'resolved'),
    [
        ('latest', 'reve-edit@20250915'),
        ('latest-fast', 'reve-edit-fast@20251030'),
        ('reve-edit@20250915', 'reve-edit@20250915'),
        ('reve-edit-fast@20251030', 'reve-edit-fast@20251030'),
    ],
)
def test_edit_versions_resolve(client: httpx.Client, version: str, resolved: str) -> None:
    body = {'edit_instruction': 'e', 'reference_image': png_b64(), 'version': version}
    response = client.post('/v1/image/edit', json=body)
    assert response.json()['version'] == resolved
    assert response.headers['x-reve-version'] == resolved


@pytest.mark.parametrize('version', ['latest', 'reve-create@20250915'])
def test_create_versions_resolve(client: httpx.Client, version: str) -> None:
    response = client.post('/v1/image/create', json={'prompt': 'p', 'version': version})
    assert response.json()['version'] == 'reve-create@20250915'


@pytest.mark.parametrize(
    ('version', 'resolved'),
    [('latest', 'reve-remix@20250915'), ('latest-fast', 'reve-remix-fast@20251030')],
)
def test_remix_versions_resolve(client: httpx.Client, version: str, resolved: str) -> None:
    body = {'prompt': 'p', 'reference_images': [png_b64()], 'version': version}
    assert client.post('/v1/image/remix', json=body).json()['version'] == resolved


@pytest.mark.parametrize(
    ('aspect_ratio', 'ratio'),
    [('16:9', 16 / 9), ('9:16', 9 / 16), ('3:2', 1.5), ('2:3', 2 / 3), ('4:3', 4 / 3),
     ('3:4', 0.75), ('1:1', 1.0), ('auto', 1.5)],
)  # fmt: skip
def test_create_size_follows_aspect_ratio(
    client: httpx.Client, aspect_ratio: str, ratio: float
) -> None:
    body = {'prompt': 'sizes', 'aspect_ratio': aspect_ratio}
    image = image_of(client.post('/v1/image/create', json=body))
    width, height = image.size
    assert abs(width / height - ratio) / ratio < 0.15
    assert width % 8 == 0 and height % 8 == 0
    assert 0.6 * 0.01 * 1024**2 < width * height < 1.4 * 0.01 * 1024**2


def test_default_create_ratio_is_3_2(client: httpx.Client) -> None:
    default = image_of(client.post('/v1/image/create', json={'prompt': 'x'}))
    explicit = image_of(
        client.post('/v1/image/create', json={'prompt': 'x', 'aspect_ratio': '3:2'})
    )
    assert default.size == explicit.size
    assert default.tobytes() == explicit.tobytes()


def test_full_size_is_about_one_megapixel(make_server: MakeServer) -> None:
    server = make_server(megapixels=1.0)
    with make_client(server) as client:
        body = {'prompt': 'big', 'aspect_ratio': '16:9'}
        assert image_of(client.post('/v1/image/create', json=body)).size == (1368, 768)


def test_tiny_megapixels_keep_a_minimum_side(make_server: MakeServer) -> None:
    server = make_server(megapixels=0.0001)
    with make_client(server) as client:
        body = {'prompt': 'tiny', 'aspect_ratio': '9:16'}
        width, height = image_of(client.post('/v1/image/create', json=body)).size
        assert min(width, height) >= 16


def test_edit_default_and_auto_keep_reference_shape(client: httpx.Client) -> None:
    reference = png_b64((200, 50))
    for extra in ({}, {'aspect_ratio': 'auto'}):
        body = {'edit_instruction': 'e', 'reference_image': reference, **extra}
        width, height = image_of(client.post('/v1/image/edit', json=body)).size
        assert 3.2 < width / height < 4.8
    body = {'edit_instruction': 'e', 'reference_image': reference, 'aspect_ratio': '1:1'}
    width, height = image_of(client.post('/v1/image/edit', json=body)).size
    assert width == height


def test_remix_default_ratio_from_first_image(client: httpx.Client) -> None:
    body = {'prompt': 'r', 'reference_images': [png_b64((90, 160)), png_b64((100, 100))]}
    width, height = image_of(client.post('/v1/image/remix', json=body)).size
    assert abs(width / height - 9 / 16) < 0.08


def test_same_request_gives_identical_bytes(make_server: MakeServer) -> None:
    bodies = [
        ('create', {'prompt': 'same', 'aspect_ratio': '4:3'}),
        ('edit', {'edit_instruction': 'same', 'reference_image': png_b64()}),
        ('remix', {'prompt': 'same', 'reference_images': [png_b64(), png_b64((8, 8), 'blue')]}),
    ]
    answers = []
    for _ in range(2):  # two separate servers: nothing depends on server state
        server = make_server()
        with make_client(server) as client:
            answers.append(
                [client.post(f'/v1/image/{e}', json=b).json()['image'] for e, b in bodies]
            )
            raw = client.post(
                '/v1/image/create', json=bodies[0][1], headers={'Accept': 'image/webp'}
            )
            answers[-1].append(base64.b64encode(raw.content).decode())
    assert answers[0] == answers[1]


def test_images_depend_on_inputs(client: httpx.Client) -> None:
    def create(**body: object) -> bytes:
        return image_of(client.post('/v1/image/create', json=body)).tobytes()

    assert create(prompt='a red fox') != create(prompt='a blue whale')

    def edit(reference: str, version: str = 'latest') -> bytes:
        body = {'edit_instruction': 'same', 'reference_image': reference, 'version': version}
        return image_of(client.post('/v1/image/edit', json=body)).tobytes()

    red, green = png_b64(color=(255, 0, 0)), png_b64(color=(0, 255, 0))
    assert edit(red) != edit(green)
    assert edit(red) != edit(red, 'latest-fast')

    def remix(*images: str) -> bytes:
        body = {'prompt': 'same', 'reference_images': list(images)}
        return image_of(client.post('/v1/image/remix', json=body)).tobytes()

    assert remix(red, green) != remix(green, red)


def test_reference_image_formats(client: httpx.Client) -> None:
    for fmt, mode in (
        ('JPEG', 'RGB'),
        ('WEBP', 'RGBA'),
        ('GIF', 'P'),
        ('TIFF', 'RGB'),
        ('PNG', 'LA'),
    ):
        buffer = io.BytesIO()
        Image.new(mode, (30, 20)).save(buffer, fmt)
        body = {
            'edit_instruction': 'e',
            'reference_image': base64.b64encode(buffer.getvalue()).decode(),
        }
        assert client.post('/v1/image/edit', json=body).status_code == 200, fmt


def test_upscale(client: httpx.Client) -> None:
    plain = image_of(client.post('/v1/image/create', json={'prompt': 'u'}))
    for factor in (2, 3, 4):
        body = {'prompt': 'u', 'postprocessing': [{'process': 'upscale', 'upscale_factor': factor}]}
        image = image_of(client.post('/v1/image/create', json=body))
        assert image.size == (plain.width * factor, plain.height * factor)


def test_remove_background_gives_rgba(client: httpx.Client) -> None:
    body = {'prompt': 'cutout', 'postprocessing': [{'process': 'remove_background'}]}
    image = image_of(client.post('/v1/image/create', json=body))
    assert image.mode == 'RGBA'
    alpha = image.getchannel('A')
    assert alpha.getextrema() == (0, 255)
    assert (
        image_of(client.post('/v1/image/create', json=body, headers={'Accept': 'image/png'})).mode
        == 'RGBA'
    )
    assert (
        image_of(client.post('/v1/image/create', json=body, headers={'Accept': 'image/jpeg'})).mode
        == 'RGB'
    )


@pytest.mark.parametrize(
    ('limits', 'check'),
    [
        pytest.param({'max_dim': 50}, lambda w, h: max(w, h) == 50, id='max-dim'),
        pytest.param({'max_width': 30}, lambda w, h: w == 30, id='max-width'),
        pytest.param({'max_height': 20}, lambda w, h: h == 20, id='max-height'),
        pytest.param({'max_dim': 4096}, lambda w, h: (w, h) == (128, 80), id='never-enlarges'),
    ],
)
def test_fit_image(client: httpx.Client, limits: dict[str, int], check: object) -> None:
    body = {'prompt': 'f', 'postprocessing': [{'process': 'fit_image', **limits}]}
    image = image_of(client.post('/v1/image/create', json=body))
    assert callable(check) and check(*image.size), image.size


def test_postprocessing_runs_in_order(client: httpx.Client) -> None:
    steps = [
        {'process': 'fit_image', 'max_width': 40},
        {'process': 'upscale', 'upscale_factor': 2},
    ]
    image = image_of(client.post('/v1/image/create', json={'prompt': 'o', 'postprocessing': steps}))
    assert image.width == 80


@pytest.mark.parametrize(
    ('name', 'params'),
    [
        ('grayscale', None),
        ('sepia', {'sepia': {'strength': 0.5}}),
        ('invert', None),
        ('blur', {'blur': {'radius': 2}}),
        ('posterize', {'posterize': {'bits': 2}}),
        ('pixelate', {'pixelate': {'block': 4}}),
    ],
)
def test_effects_change_the_image(client: httpx.Client, name: str, params: object) -> None:
    step: dict[str, object] = {'process': 'effect', 'effect_name': name}
    if params is not None:
        step['effect_parameters'] = params
    plain = image_of(client.post('/v1/image/create', json={'prompt': 'e'}))
    image = image_of(
        client.post('/v1/image/create', json={'prompt': 'e', 'postprocessing': [step]})
    )
    assert image.size == plain.size
    assert image.tobytes() != plain.tobytes()
    if name == 'grayscale':
        red, green, blue = image.convert('RGB').split()
        assert red.tobytes() == green.tobytes() == blue.tobytes()


def test_custom_backend(make_server: MakeServer) -> None:
    class Solid:
        def create(self, prompt: str, aspect_ratio: str, version: str) -> Image.Image:
            return Image.new('RGB', (10, 10), (1, 2, 3))

        def edit(
            self, instruction: str, image: Image.Image, aspect_ratio: str | None, version: str
        ) -> Image.Image:
            return image.resize((5, 5))

        def remix(
            self, prompt: str, images: list[Image.Image], aspect_ratio: str | None, version: str
        ) -> Image.Image:
            return Image.new('RGB', (len(images), 1))

    server = make_server(backend=Solid())
    with make_client(server) as client:
        image = image_of(client.post('/v1/image/create', json={'prompt': 'p'}))
        assert image.size == (10, 10) and image.getpixel((0, 0)) == (1, 2, 3)
        body: dict[str, object] = {'edit_instruction': 'e', 'reference_image': png_b64()}
        assert image_of(client.post('/v1/image/edit', json=body)).size == (5, 5)
        body = {'prompt': 'r', 'reference_images': [png_b64()] * 3}
        assert image_of(client.post('/v1/image/remix', json=body)).size == (3, 1)


def test_deterministic_backend_directly() -> None:
    backend = DeterministicBackend(megapixels=0.01)
    first = backend.create('p', '1:1', 'reve-create@20250915')
    assert first.tobytes() == backend.create('p', '1:1', 'reve-create@20250915').tobytes()
    assert first.size == (104, 104)
    with pytest.raises(ValueError, match='megapixels'):
        DeterministicBackend(megapixels=0)
