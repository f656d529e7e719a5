"""Reve ``create`` / ``edit`` / ``remix`` as functions for computed columns.

Configure with ``REVE_API_KEY`` and ``REVE_API_URL`` (default ``https://api.reve.com``), or
``[reve] api_key``, ``base_url``, ``max_concurrency``, ``requests_per_minute`` in
``REVERIE_HOME/config.toml``. Reve closed its public API on 2026-08-14: point
``REVE_API_URL`` at a Reve-compatible server such as ``reverie reve-server``.

These are ``PaidFunction``s: the engine's paid-call layer (``exec/paid.py``) sends them
through the shared resource pool ``'reve'`` and records every attempt in the ledger.
``cache=False`` asks for a fresh image even when the same request was answered before.
Literal arguments are checked when the column is defined (aspect ratio, version, prompt
length, every ``<img>N</img>`` against the number of images); values from columns are
checked per cell, before any request is sent. Each cell keeps its request id, resolved
model version and credits used in ``cellmeta``.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.config import Config
from reverie.errors import InvalidValueError, TypeMismatchError
from reverie.exprs import nodes as n
from reverie.functions.images.provider import ImageAnswer, ImageRequest, Verb
from reverie.functions.paid import PaidCall, PaidFunction
from reverie.functions.reve import validate as v
from reverie.functions.reve.provider import POOL_NAME, provider
from reverie.functions.udf import CellValue, PoolSettings
from reverie.store.media import attach_source, source_bytes

_PROVIDER = provider()


def _pool_for(config: Config) -> PoolSettings:
    settings = config.reve
    return PoolSettings(
        POOL_NAME,
        max_concurrency=settings.max_concurrency,
        requests_per_minute=settings.requests_per_minute,
    )


async def _image_bytes(img: PIL.Image.Image) -> bytes:
    data = source_bytes(img)
    if data is not None and (img.format or '').upper() in ('PNG', 'JPEG', 'WEBP'):
        return data

    def encode() -> bytes:
        buf = io.BytesIO()
        img.save(buf, format='PNG')
        return buf.getvalue()

    return await asyncio.to_thread(encode)


async def _checked_bytes(images: list[PIL.Image.Image]) -> list[bytes]:
    """The file bytes to send for each image, within the service's size limits."""
    datas = [await _image_bytes(img) for img in images]
    v.check_image_limits(
        [(img.width, img.height, len(d)) for img, d in zip(images, datas, strict=True)]
    )
    return datas


def _request(verb: Verb, prompt: str, images: list[bytes], kwargs: dict[str, Any]) -> PaidCall:
    options = {
        k: kwargs[k]
        for k in ('version', 'test_time_scaling', 'postprocessing')
        if kwargs.get(k) is not None
    }
    request = ImageRequest(
        verb=verb,
        model=str(kwargs.get('version') or 'latest'),
        prompt=prompt,
        images=tuple(images),
        aspect_ratio=kwargs.get('aspect_ratio'),
        options=options,
    )
    return PaidCall(_PROVIDER, request)


async def _prepare_create(
    args: tuple[Any, ...], kwargs: dict[str, Any], config: Config
) -> PaidCall | None:
    (prompt,) = args
    v.check_prompt(prompt)
    return _request('create', prompt, [], kwargs)


async def _prepare_edit(
    args: tuple[Any, ...], kwargs: dict[str, Any], config: Config
) -> PaidCall | None:
    image, instruction = args
    v.check_prompt(instruction, 'edit_instruction')
    (data,) = await _checked_bytes([image])
    return _request('edit', instruction, [data], kwargs)


async def _prepare_remix(
    args: tuple[Any, ...], kwargs: dict[str, Any], config: Config
) -> PaidCall | None:
    prompt, images = args
    v.check_prompt(prompt)
    v.check_image_count(len(images))
    v.check_image_refs(prompt, len(images))
    if any(img is None for img in images):
        return None  # an input image is missing (null): so is the remix
    datas = await _checked_bytes(images)
    return _request('remix', prompt, datas, kwargs)


def _finish(call: PaidCall, answer: ImageAnswer) -> CellValue:
    img = PIL.Image.open(io.BytesIO(answer.image))
    attach_source(img, answer.image)
    credits = answer.credits
    meta = {
        'request_id': answer.request_id or '',
        'version': answer.model_version or '',
        'credits_used': int(credits) if credits is not None else 0,
    }
    return CellValue(img, meta)


def _create(
    prompt: str,
    *,
    aspect_ratio: str | None = None,
    version: str | None = None,
    test_time_scaling: float | None = None,
    postprocessing: list[Any] | None = None,
    cache: bool | None = None,
) -> PIL.Image.Image:
    raise NotImplementedError  # a signature only: the engine calls prepare/finish


def _edit(
    image: PIL.Image.Image,
    edit_instruction: str,
    *,
    aspect_ratio: str | None = None,
    version: str | None = None,
    test_time_scaling: float | None = None,
    postprocessing: list[Any] | None = None,
    cache: bool | None = None,
) -> PIL.Image.Image:
    raise NotImplementedError  # a signature only: the engine calls prepare/finish


def _remix(
    prompt: str,
    images: list[Any],
    *,
    aspect_ratio: str | None = None,
    version: str | None = None,
    test_time_scaling: float | None = None,
    postprocessing: list[Any] | None = None,
    cache: bool | None = None,
) -> PIL.Image.Image | None:
    raise NotImplementedError


def _literal(node: n.Node | None) -> tuple[bool, Any]:
    if isinstance(node, n.Literal):
        return True, node.value
    return False, None


def _check_options(endpoint: str, kwargs: dict[str, n.Node]) -> None:
    for name, check in (
        ('aspect_ratio', v.check_aspect_ratio),
        ('test_time_scaling', v.check_test_time_scaling),
        ('postprocessing', v.check_postprocessing),
    ):
        is_lit, value = _literal(kwargs.get(name))
        if is_lit:
            check(value)
    is_lit, value = _literal(kwargs.get('version'))
    if is_lit:
        v.check_version(endpoint, value)


def _check_create(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> None:
    is_lit, prompt = _literal(args[0] if args else None)
    if is_lit:
        v.check_prompt(prompt)
    _check_options('create', kwargs)


def _check_edit(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> None:
    is_lit, instruction = _literal(args[1] if len(args) > 1 else None)
    if is_lit:
        v.check_prompt(instruction, 'edit_instruction')
    _check_options('edit', kwargs)


def _check_remix(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> None:
    prompt_node, images_node = args[0], args[1]
    if isinstance(images_node, n.ListNode):
        items = images_node.items
    elif isinstance(images_node, n.Literal) and isinstance(images_node.value, list):
        raise InvalidValueError(
            'remix(images=...) takes image columns or expressions, e.g. [t.edited, t.scene]; '
            'insert literal images into a column first.'
        )
    else:
        raise InvalidValueError(
            f'remix(images=...) takes a list of 1-6 image expressions, got {images_node!r}.'
        )
    v.check_image_count(len(items))
    for i, item in enumerate(items):
        if not isinstance(item.col_type, ts.ImageType):
            raise TypeMismatchError(
                f'remix(images=...): item {i} must be an Image expression, got type '
                f'{item.col_type}.'
            )
    is_lit, prompt = _literal(prompt_node)
    if is_lit:
        v.check_prompt(prompt)
        v.check_image_refs(prompt, len(items))
    _check_options('remix', kwargs)


_IMG = ts.Required[ts.Image]
_OPTIONS = {
    'cache': ts.Bool,
    'aspect_ratio': ts.String,
    'version': ts.String,
    'test_time_scaling': ts.Float,
    'postprocessing': ts.Json,
}

create = PaidFunction(
    _prepare_create,
    _finish,
    pool_for=_pool_for,
    signature=_create,
    name='create',
    path=f'{__name__}.create',
    return_type=ts.Image,
    param_types={'prompt': ts.Required[ts.String], **_OPTIONS},
    check_call=_check_create,
)
edit = PaidFunction(
    _prepare_edit,
    _finish,
    pool_for=_pool_for,
    signature=_edit,
    name='edit',
    path=f'{__name__}.edit',
    return_type=ts.Image,
    param_types={'image': _IMG, 'edit_instruction': ts.Required[ts.String], **_OPTIONS},
    check_call=_check_edit,
)
remix = PaidFunction(
    _prepare_remix,
    _finish,
    pool_for=_pool_for,
    signature=_remix,
    name='remix',
    path=f'{__name__}.remix',
    return_type=ts.Image,
    param_types={'prompt': ts.Required[ts.String], 'images': ts.Json, **_OPTIONS},
    check_call=_check_remix,
)
