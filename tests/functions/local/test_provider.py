"""The local provider's three verbs on the tiny pipeline, through the real loading path."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.config import Config
from reverie.functions import local
from reverie.functions.images.calls import check_request
from reverie.functions.images.provider import ImageAnswer, ImageRequest
from reverie.functions.local import pipeline


def _png(size: tuple[int, int], color: str) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', size, color).save(buf, format='PNG')
    return buf.getvalue()


def _send(request: ImageRequest) -> ImageAnswer:
    provider = local.provider()
    provider.check(request)
    return asyncio.run(provider.send(request, Config.load()))


def _image(answer: ImageAnswer) -> PIL.Image.Image:
    assert answer.image.startswith(b'\x89PNG\r\n\x1a\n')
    return PIL.Image.open(io.BytesIO(answer.image))


def test_create_edit_remix(local_env: Path):
    model = str(local_env)
    created = _send(ImageRequest('create', model, 'a fox at dawn', aspect_ratio='16:9'))
    img = _image(created)
    assert img.size == (86, 48)  # 64x64 pixels' worth at 16:9, even sides
    assert created.model_version == str(local_env.resolve())
    assert created.credits == 0.0
    assert created.meta['steps'] == 2
    assert isinstance(created.meta['seed'], int)
    assert created.meta['device'] == 'cpu'

    edited = _send(ImageRequest('edit', model, 'make it red', (_png((96, 64), 'blue'),)))
    assert _image(edited).size == (78, 52)  # no aspect_ratio: keeps the input's 3:2 shape

    remixed = _send(
        ImageRequest(
            'remix',
            model,
            'the subject of <img>0</img> in the scene of <img>1</img>',
            (created.image, edited.image),
            aspect_ratio='1:1',
        )
    )
    assert _image(remixed).size == (64, 64)
    assert remixed.meta['prompt'] == 'the subject of image 1 in the scene of image 2'


def test_same_seed_same_image(local_env: Path):
    def make(seed: int) -> bytes:
        request = ImageRequest('create', str(local_env), 'a fox', options={'seed': seed})
        answer = _send(request)
        assert answer.meta['seed'] == seed
        return answer.image

    first = make(7)
    assert make(7) == first
    assert make(8) != first


def test_weights_load_once_per_device_and_dtype(local_env: Path):
    settings = Config.load().local
    first = pipeline.load(str(local_env), settings)
    assert pipeline.load(str(local_env), settings) is first
    assert first.placement == pipeline.Placement('cpu', 'float32', cpu_offload=False)
    # cpu_offload has nothing to offload to on the CPU: same placement, same loaded model
    offload = pipeline.load(str(local_env), type(settings)('cpu', 'float32', cpu_offload=True))
    assert offload is first


def test_bfloat16_on_cpu(local_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv('REVERIE_LOCAL_DTYPE', 'bfloat16')
    answer = _send(ImageRequest('create', str(local_env), 'a fox', options={'seed': 1}))
    assert answer.meta['dtype'] == 'bfloat16'
    assert _image(answer).size == (64, 64)


def test_small_inputs_are_scaled_up(local_env: Path):
    # FLUX.2 refuses inputs under 64 px; a thumbnail still works.
    answer = _send(ImageRequest('edit', str(local_env), 'x', (_png((32, 24), 'red'),)))
    assert _image(answer).size == (74, 56)


@pytest.mark.parametrize(
    ('request_', 'message'),
    [
        pytest.param(
            ImageRequest('create', '.', 'x', aspect_ratio='5:4'), 'aspect_ratio', id='ratio'
        ),
        pytest.param(
            ImageRequest('create', '.', 'x', options={'quality': 'low'}),
            "no option.*'quality'.*seed, steps, guidance_scale",
            id='option',
        ),
        pytest.param(ImageRequest('create', '.', 'x', options={'steps': 0}), 'steps', id='steps'),
        pytest.param(ImageRequest('remix', '.', '<img>1</img>', (b'',)), r'<img>1</img>', id='tag'),
        pytest.param(
            ImageRequest('edit', '.', 'x'), 'takes 1 to 1 input image', id='edit-no-image'
        ),
    ],
)
def test_check_refuses_before_loading(request_: ImageRequest, message: str):
    with pytest.raises(rv.InvalidValueError, match=message):
        check_request(local.provider(), request_)


def test_price_is_zero():
    price = local.provider().price(ImageRequest('create', 'org/model', 'x'))
    assert (price.low, price.high, price.unit) == (0.0, 0.0, 'credits')
