"""Building blocks of paid image functions: the call, its answer check, the cell, the pool.

``paid_image_function`` wraps a request builder into a ``PaidFunction`` whose calls are
``ImageCall``s: the image family's side of the paid-call layer (price and send from the
provider, the fingerprint fields, the answer check, the image cell with ``cellmeta``). The
verbs of ``images``, ``reve.*`` and each provider's native functions are made with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.config import Config
from reverie.errors import InvalidValueError, ServiceError
from reverie.exprs import nodes as n
from reverie.functions.images import models, refs
from reverie.functions.images.provider import ImageProvider, ImageRequest, Verb
from reverie.functions.images.registry import get_provider
from reverie.functions.paid import Answer, PaidCall, PaidFunction, Params, Price
from reverie.functions.udf import CellValue, PoolSettings
from reverie.store.media import attach_source, source_bytes

Build = Callable[[tuple[Any, ...], dict[str, Any]], Awaitable[ImageRequest | None]]
CheckCall = Callable[[tuple[n.Node, ...], dict[str, n.Node]], None]

MAX_ANSWER_PIXELS = 100_000_000
MAX_ANSWER_SIDE = 16_384
_SENDABLE_FORMATS = ('PNG', 'JPEG', 'WEBP')


@dataclass(frozen=True)
class ImageCall:
    """One image request to one provider: the image family's ``PaidCall``."""

    provider: ImageProvider
    request: ImageRequest

    @property
    def endpoint(self) -> str:
        """``'openai/create'`` and so on."""
        return f'{self.provider.name}/{self.request.verb}'

    def price(self) -> Price:
        """From the provider's price table."""
        return self.provider.price(self.request)

    def fingerprint_fields(self) -> dict[str, Any]:
        """Provider, verb, model, every request field and each image's sha256."""
        r = self.request
        return {
            'provider': self.provider.name,
            'verb': r.verb,
            'model': r.model,
            'prompt': r.prompt,
            'aspect_ratio': r.aspect_ratio,
            'options': dict(r.options),
            'images': [hashlib.sha256(b).hexdigest() for b in r.images],
        }

    async def send(self, config: Config) -> Answer:
        """One attempt of the provider."""
        return await self.provider.send(self.request, config)

    def check_answer(self, data: bytes, call_id: int | None) -> None:
        """The image decodes fully under size limits."""
        check_answer_image(data, call_id)

    def to_cell(self, answer: Answer) -> CellValue:
        """The image, its provenance and cost in ``cellmeta``."""
        return image_cell(self.provider.name, self.request, answer)


def check_request(provider: ImageProvider, request: ImageRequest) -> None:
    """The one check of a request: the model still exists, its ``<img>`` tags, what it can do."""
    models.check_model(f'{provider.name}/{request.model}')
    where = 'instruction' if request.verb == 'edit' else 'prompt'
    if isinstance(request.prompt, str):
        refs.check_refs(request.prompt, len(request.images), where=where)
    provider.check(request)


def check_answer_image(data: bytes, call_id: int | None) -> None:
    """Decode an answer image fully under size limits, or raise the corrupt-image error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w > MAX_ANSWER_SIDE or h > MAX_ANSWER_SIDE or w * h > MAX_ANSWER_PIXELS:
                    raise ValueError(f'{w}x{h} pixels is over the limit for an answer')
                img.load()
    except Exception as e:
        raise ServiceError(
            f'the service returned a corrupt image ({len(data)} bytes: {type(e).__name__}: '
            f'{e}); its bytes are kept in the answer journal (rv.calls(), call id {call_id}). '
            'Recompute the cell to ask again.'
        ) from None


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


def image_cell(provider: str, request: ImageRequest, answer: Answer) -> CellValue:
    """The image cell for an answer, its provenance and cost kept in ``cellmeta``.

    One shape for every provider: ``provider``, ``model``, ``request_id``, ``model_version``,
    ``cost_usd``, plus ``credits`` where the provider counts them (Reve) and its own extras.
    """
    data = answer.data
    img = PIL.Image.open(io.BytesIO(data))
    attach_source(img, data)
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


def read_cellmeta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """``cellmeta`` in the one shape, also for Reve cells stored before it existed.

    Reve cells written by earlier versions hold ``{request_id, version, credits_used}``.

    Examples:
        >>> read_cellmeta({'request_id': 'r1', 'version': 'reve-create@20250915',
        ...                'credits_used': 18})['credits']
        18
    """
    meta = dict(meta or {})
    if 'provider' in meta or 'credits_used' not in meta:
        return meta
    version = meta.pop('version', None)
    return {
        'provider': 'reve',
        'model': version,
        'request_id': meta.pop('request_id', None),
        'model_version': version,
        'cost_usd': None,
        'credits': meta.pop('credits_used'),
        **meta,
    }


def pool_settings(name: str, config: Config) -> PoolSettings:
    """The resource pool of provider ``name``: one per provider, limits from its settings."""
    provider = get_provider(name)
    if name in config.providers:
        s = config.provider(name)
        return PoolSettings(
            provider.name,
            max_concurrency=s.max_concurrency,
            requests_per_minute=s.requests_per_minute,
        )
    return PoolSettings(provider.name, max_concurrency=1)  # one local pipeline


def paid_image_function(
    provider_name: str,
    build: Build,
    *,
    name: str,
    path: str,
    params: Params,
    check_call: CheckCall | None = None,
) -> PaidFunction:
    """A ``PaidFunction`` that sends ``build(args, kwargs)`` to provider ``provider_name``.

    ``build`` reads the per-cell values into a request, or returns None when an input image
    is null (then so is the result, and nothing is sent); the request is checked once here.
    """

    async def prepare(
        args: tuple[Any, ...], kwargs: dict[str, Any], config: Config
    ) -> PaidCall | None:
        request = await build(args, kwargs)
        if request is None:
            return None
        provider = get_provider(provider_name)
        check_request(provider, request)
        return ImageCall(provider, request)

    return PaidFunction(
        prepare,
        pool_for=lambda config: pool_settings(provider_name, config),
        params=params,
        name=name,
        path=path,
        return_type=ts.Image,
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
    fields: dict[str, ts.ColumnType],
    default_model: str,
    images: str | None = None,
    images_at: int = 1,
) -> PaidFunction:
    """A provider's own function: ``(prompt[, images], *, model=default_model, field=None...)``.

    ``images`` names the images argument (one image or a list), if any, at ``images_at``:
    0, before the prompt, where they are required; 1, after it, where they default to None
    (without ``images`` a call has only the prompt). ``fields`` are the provider's request
    fields, passed through as given (None: not sent).
    """
    positional: dict[str, ts.ColumnType] = {'prompt': ts.Required[ts.String]}
    defaults: dict[str, Any] = {'model': default_model}
    if images is not None and images_at == 0:
        positional = {images: ts.Json, **positional}
    elif images is not None:
        positional[images] = ts.Json
        defaults[images] = None
    prompt_at = 1 if images_at == 0 else 0

    def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        images = args[images_at] if len(args) > images_at else None
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
        data = await image_bytes(images)
        return ImageRequest(_verb(len(data)), model, args[prompt_at], data, None, fields)

    def check_call(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> None:
        n_images = 0
        if len(args) > images_at:
            node = args[images_at]
            n_images = len(node.items) if isinstance(node, n.ListNode) else 1
        values = {k: v.value for k, v in kwargs.items() if isinstance(v, n.Literal)}
        model, _, fields = split((), values)
        is_lit, prompt = literal(args[prompt_at])
        request = ImageRequest(
            _verb(n_images),
            model,
            prompt if is_lit else 'a prompt',
            (b'',) * n_images,
            None,
            fields,
        )
        check_request(get_provider(provider_name), request)

    return paid_image_function(
        provider_name,
        build,
        name=name,
        path=f'reverie.functions.{provider_name}.{name}',
        params=Params(positional, {'model': ts.String, **fields}, defaults),
        check_call=check_call,
    )
