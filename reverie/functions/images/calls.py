"""Building blocks of paid image functions: input bytes, the cell value, the pool.

``paid_image_function`` wraps a request builder into a ``PaidFunction`` whose answer becomes
an image cell with ``cellmeta`` (provider, model, request id, cost); the verbs of
``images`` and each provider's native functions are made with it.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.config import Config
from reverie.errors import InvalidValueError
from reverie.exprs import nodes as n
from reverie.functions.images import refs
from reverie.functions.images.provider import ImageAnswer, ImageRequest, Verb
from reverie.functions.images.registry import get_provider
from reverie.functions.paid import PaidCall, PaidFunction
from reverie.functions.udf import CellValue, PoolSettings
from reverie.store.media import attach_source, source_bytes

Build = Callable[[tuple[Any, ...], dict[str, Any]], Awaitable[ImageRequest | None]]
CheckCall = Callable[[tuple[n.Node, ...], dict[str, n.Node]], None]

_SENDABLE_FORMATS = ('PNG', 'JPEG', 'WEBP')


async def image_bytes(images: Sequence[PIL.Image.Image]) -> tuple[bytes, ...]:
    """The file bytes to send for each image: as stored when PNG/JPEG/WebP, else PNG."""
    out = []
    for i, img in enumerate(images):
        if not isinstance(img, PIL.Image.Image):
            raise InvalidValueError(
                f'images[{i}] must be an image, got {type(img).__name__}. Pass an Image column.'
            )
        data = source_bytes(img)
        if data is None or (img.format or '').upper() not in _SENDABLE_FORMATS:
            data = await asyncio.to_thread(_png, img)
        out.append(data)
    return tuple(out)


def _png(img: PIL.Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def image_cell(provider: str, request: ImageRequest, answer: ImageAnswer) -> CellValue:
    """The image cell for an answer, its provenance and cost kept in ``cellmeta``."""
    img = PIL.Image.open(io.BytesIO(answer.image))
    attach_source(img, answer.image)
    meta: dict[str, Any] = {
        'provider': provider,
        'model': request.model,
        'request_id': answer.request_id,
        'model_version': answer.model_version,
        'cost_usd': answer.cost_usd,
    }
    if answer.credits is not None:
        meta['credits'] = answer.credits
    meta.update(answer.meta)
    return CellValue(img, meta)


def pool_settings(name: str, config: Config) -> PoolSettings:
    """The resource pool of provider ``name``: one per provider, limits from its settings."""
    if name == 'reve':
        reve = config.reve
        return PoolSettings(
            'reve',
            max_concurrency=reve.max_concurrency,
            requests_per_minute=reve.requests_per_minute,
        )
    provider = get_provider(name)
    if name in config.providers:
        s = config.provider(name)
        return PoolSettings(
            provider.pool_name(),
            max_concurrency=s.max_concurrency,
            requests_per_minute=s.requests_per_minute,
        )
    return PoolSettings(provider.pool_name(), max_concurrency=1)  # one local pipeline


def paid_image_function(
    provider_name: str,
    build: Build,
    *,
    name: str,
    path: str,
    signature: Callable[..., Any],
    param_types: dict[str, ts.ColumnType],
    check_call: CheckCall | None = None,
) -> PaidFunction:
    """A ``PaidFunction`` that sends ``build(args, kwargs)`` to provider ``provider_name``.

    ``build`` checks the per-cell values and returns the request, or None when an input
    image is null (then so is the result, and nothing is sent).
    """

    async def prepare(
        args: tuple[Any, ...], kwargs: dict[str, Any], config: Config
    ) -> PaidCall | None:
        request = await build(args, kwargs)
        if request is None:
            return None
        provider = get_provider(provider_name)
        provider.check(request)
        return PaidCall(provider, request)

    def finish(call: PaidCall, answer: ImageAnswer) -> CellValue:
        return image_cell(call.provider.name, call.request, answer)

    return PaidFunction(
        prepare,
        finish,
        pool_for=lambda config: pool_settings(provider_name, config),
        signature=signature,
        name=name,
        path=path,
        return_type=ts.Image,
        param_types=param_types,
        check_call=check_call,
    )


def literal(node: n.Node | None) -> tuple[bool, Any]:
    """``(True, value)`` for a literal argument, else ``(False, None)``."""
    if isinstance(node, n.Literal):
        return True, node.value
    return False, None


def _verb(n_images: int) -> Verb:
    return 'create' if n_images == 0 else 'edit' if n_images == 1 else 'remix'


def native_image_function(
    provider_name: str,
    *,
    name: str,
    signature: Callable[..., Any],
    param_types: dict[str, ts.ColumnType],
    default_model: str,
    images_at: int | None = None,
) -> PaidFunction:
    """A provider's own function: ``(prompt[, images], *, model=..., field=...)``.

    ``images_at`` is the position of the images argument (one image or a list), if any;
    the prompt is the first other positional argument. Keyword arguments other than
    ``model`` are the provider's request fields, passed through as given (None: not sent).
    """
    prompt_at = 1 if images_at == 0 else 0

    def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        images = args[images_at] if images_at is not None and len(args) > images_at else None
        if images is None:
            # No images where they are optional; a null image where they are required
            # (then build() returns None: a null input gives a null result).
            images = [None] if images_at == 0 and args else []
        images = images if isinstance(images, list | tuple) else [images]
        fields = {k: v for k, v in kwargs.items() if k != 'model' and v is not None}
        return kwargs.get('model') or default_model, list(images), fields

    async def build(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ImageRequest | None:
        model, images, fields = split(args, kwargs)
        if any(img is None for img in images):
            return None
        prompt = refs.check_prompt(args[prompt_at])
        refs.check_refs(prompt, len(images))
        data = await image_bytes(images)
        return ImageRequest(_verb(len(data)), model, prompt, data, None, fields)

    def check_call(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> None:
        provider = get_provider(provider_name)
        n_images = 0
        if images_at is not None and len(args) > images_at:
            node = args[images_at]
            n_images = len(node.items) if isinstance(node, n.ListNode) else 1
        values = {k: v.value for k, v in kwargs.items() if isinstance(v, n.Literal)}
        model, _, fields = split((), values)
        is_lit, prompt = literal(args[prompt_at])
        if is_lit:
            refs.check_prompt(prompt)
            refs.check_refs(prompt, n_images)
        placeholder = prompt if is_lit else 'a prompt'
        provider.check(
            ImageRequest(_verb(n_images), model, placeholder, (b'',) * n_images, None, fields)
        )

    return paid_image_function(
        provider_name,
        build,
        name=name,
        path=f'reverie.functions.{provider_name}.{name}',
        signature=signature,
        param_types=param_types,
        check_call=check_call,
    )
