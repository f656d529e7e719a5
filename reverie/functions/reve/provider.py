"""Reve as an ``ImageProvider``: one attempt per ``send``, priced from the credit table.

``model='reve/<version>'`` (``latest``, ``latest-fast``, ``reve-edit@20250915``...) picks the
version; ``reve.create / edit / remix`` are the image verbs on this provider. Configure
with ``REVE_API_KEY`` and ``REVE_API_URL`` (or ``[reve]`` in ``config.toml``): the ``reve``
entry of ``Config.providers``. ``REVE_TIMEOUT`` is the *total* time one attempt may take
(connect, send, wait, download), not a per-read timeout: an answer dripped a byte at a time
ends at the deadline.

Credits (docs/reve-api.md §5): create 18, edit 30, remix 30, edit/remix with a ``-fast`` version
5, times ``test_time_scaling``; ``upscale`` / ``remove_background`` add more (the contract
gives no figure: the worst case reserves ``POSTPROCESS_CREDITS_MAX`` per step).
"""

from __future__ import annotations

import asyncio
import io
import math
from typing import TYPE_CHECKING

import PIL.Image

from reverie.errors import ServiceError
from reverie.functions.images.provider import Capabilities, ImageAnswer, ImageRequest, Price
from reverie.functions.reve import contract
from reverie.functions.reve import validate as v
from reverie.functions.reve.client import (
    ReveClient,
    ReveResult,
    client_from_settings,
    encode_images,
)

if TYPE_CHECKING:
    from reverie.config import Config, ProviderSettings

POSTPROCESS_CREDITS_MIN = 0
POSTPROCESS_CREDITS_MAX = 30
PRICE_SOURCE = 'Reve credit table (docs/reve-api.md §5, docs/providers.md)'
_PAID_STEPS = ('upscale', 'remove_background')

CAPABILITIES = Capabilities(
    label='Reve',
    aspect_ratios=contract.ASPECT_RATIOS,
    images={
        'create': (0, 0),
        'edit': (1, 1),
        'remix': (contract.MIN_REMIX_IMAGES, contract.MAX_REMIX_IMAGES),
    },
    options=('test_time_scaling', 'postprocessing'),
    max_prompt_chars=contract.MAX_PROMPT_CHARS,
)
"""What every Reve version can do (the version itself is checked per verb)."""

_clients: dict[tuple[int, str | None, str, float], ReveClient] = {}


def client_for(settings: ProviderSettings) -> ReveClient:
    """One client (one connection pool) per event loop and service."""
    key = (id(asyncio.get_running_loop()), settings.api_key, settings.base_url, settings.timeout)
    client = _clients.get(key)
    if client is None:
        client = client_from_settings(settings)
        _clients[key] = client
    return client


class ReveProvider:
    """The Reve image API (or any Reve-compatible server) behind the provider contract."""

    name = 'reve'
    capabilities = CAPABILITIES

    def __repr__(self) -> str:
        return '<ReveProvider>'

    def price(self, request: ImageRequest) -> Price:
        """Credits ``request`` costs, from the credit table (sends nothing)."""
        fast = 'fast' in request.model
        base = contract.FAST_CREDITS if fast else contract.BASE_CREDITS[request.verb]
        scaling = request.options.get('test_time_scaling') or 1
        credits = math.ceil(base * float(scaling) - 1e-9)
        steps = request.options.get('postprocessing') or []
        paid_steps = sum(
            1 for s in steps if isinstance(s, dict) and s.get('process') in _PAID_STEPS
        )
        return Price(
            low=credits + paid_steps * POSTPROCESS_CREDITS_MIN,
            high=credits + paid_steps * POSTPROCESS_CREDITS_MAX,
            unit='credits',
            source=PRICE_SOURCE,
        )

    def check(self, request: ImageRequest) -> None:
        """Refuse what the Reve contract refuses, before anything is sent."""
        CAPABILITIES.check(request)
        v.check_version(request.verb, request.model)
        v.check_test_time_scaling(request.options.get('test_time_scaling'))
        v.check_postprocessing(request.options.get('postprocessing'))
        if all(request.images):  # placeholders (b'') when checked at definition
            names = ('image',) if request.verb == 'edit' else None  # edit's one argument
            v.check_image_limits([_size(data) for data in request.images], names)

    async def send(self, request: ImageRequest, config: Config) -> ImageAnswer:
        """One attempt, ended at the total deadline ``REVE_TIMEOUT``."""
        settings = config.reve
        client = client_for(settings)
        try:
            async with asyncio.timeout(settings.timeout):
                result = await client.generate(request.verb, await _body(request))
        except TimeoutError:
            raise ServiceError(
                f'Reve {request.verb} failed (no HTTP answer): no complete answer from '
                f'{settings.base_url!r} within REVE_TIMEOUT={settings.timeout:g} s (total '
                'time). The request may have been charged; raise REVE_TIMEOUT if the service '
                'is slow.',
                maybe_charged=True,
            ) from None
        return _answer(result)


async def _body(request: ImageRequest) -> dict[str, object]:
    """The JSON body of a request ``check`` accepted (nothing is checked again)."""
    images = await encode_images('images', list(request.images)) if request.images else []
    options = {
        'aspect_ratio': request.aspect_ratio,
        'version': request.model,
        'test_time_scaling': request.options.get('test_time_scaling'),
        'postprocessing': request.options.get('postprocessing'),
    }
    return v.request_body(request.verb, request.prompt, images, options)


def _size(data: bytes) -> tuple[int, int, int]:
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            return img.width, img.height, len(data)
    except Exception:
        return 0, 0, len(data)  # not an image: the service says so (422)


def _answer(result: ReveResult) -> ImageAnswer:
    return ImageAnswer(
        data=result.image,
        request_id=result.request_id or None,
        model_version=result.version or None,
        credits=float(result.credits_used) if result.credits_known else None,
        meta={'credits_remaining': result.credits_remaining},
    )


_PROVIDER = ReveProvider()


def provider() -> ReveProvider:
    """The Reve provider (the images registry imports this module lazily and calls it)."""
    return _PROVIDER
