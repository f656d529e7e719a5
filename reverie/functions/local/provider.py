"""The ``local`` image provider: ``images.create / edit / remix`` on a diffusers pipeline.

One attempt per ``send``, like every provider; the weights load on the first call (in a
thread, as does each generation, so the event loop keeps serving other cells) and stay
loaded. Nothing is charged: ``price`` is 0 credits.
"""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import PIL.Image

from reverie.errors import ServiceError
from reverie.functions.images.provider import Capabilities, ImageAnswer, ImageRequest, Price
from reverie.functions.local import inputs
from reverie.functions.local import pipeline as pl
from reverie.functions.local import weights as wt

if TYPE_CHECKING:
    from reverie.config import Config, LocalSettings

CAPABILITIES = Capabilities(
    label='a local model',
    aspect_ratios=inputs.ASPECT_RATIOS,
    images={'create': (0, 0), 'edit': (1, 1), 'remix': (1, inputs.MAX_IMAGES)},
    options=inputs.OPTION_NAMES,
)
"""What ``model='local/...'`` can do, whatever the model."""


class LocalProvider:
    """Runs ``model='local/<folder or Hugging Face id>'`` on this machine."""

    name = 'local'

    def __repr__(self) -> str:
        return '<LocalProvider>'

    def price(self, request: ImageRequest) -> Price:
        """Nothing: the model runs here."""
        return Price(0.0, 0.0, 'credits', 'local model: no charge')

    def check(self, request: ImageRequest) -> None:
        """Refuse bad inputs, missing libraries or unreachable weights; loads nothing."""
        CAPABILITIES.check(request)
        inputs.parse_options(request.options)
        wt.check(request.model)
        pl.check_libraries()

    async def send(self, request: ImageRequest, config: Config) -> ImageAnswer:
        """Make one image (checked by the caller); the model loads on the first call."""
        return await asyncio.to_thread(_generate, request, config.local)


def _generate(request: ImageRequest, settings: LocalSettings) -> ImageAnswer:
    options = inputs.parse_options(request.options)
    model = pl.load(request.model, settings)
    images = [_decode(data, i) for i, data in enumerate(request.images)]
    image, meta = model.render(
        request.prompt,
        images,
        request.aspect_ratio,
        settings,
        seed=options.seed,
        steps=options.steps,
        guidance_scale=options.guidance_scale,
    )
    buf = io.BytesIO()
    image.save(buf, format='PNG')
    return ImageAnswer(
        buf.getvalue(),
        model_version=model.weights.version,
        credits=0.0,
        cost_usd=0.0,
        meta=meta,
    )


def _decode(data: bytes, index: int) -> PIL.Image.Image:
    try:
        img = PIL.Image.open(io.BytesIO(data))
        img.load()
    except (OSError, PIL.Image.DecompressionBombError) as e:
        raise ServiceError(
            f'Input image {index} is not a readable image ({e}); pass PNG, JPEG or WebP.',
            code='INVALID_INPUT',
        ) from None
    return img.convert('RGB')


_PROVIDER = LocalProvider()


def provider() -> LocalProvider:
    """The ``local`` provider (one per process, so loaded models are shared)."""
    return _PROVIDER
