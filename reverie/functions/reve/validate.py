"""Checks of Reve's own request fields, run before anything is sent (contract §3-§4).

The figures come from ``contract``; prompts and ``<img>N</img>`` tags are read by the one
parser every model shares (``reverie.functions.images.refs``). Every check raises
:class:`~reverie.errors.InvalidValueError` naming the argument, the allowed values and what
to do; :func:`build_body` runs them all and assembles the JSON body (``ReveClient`` uses it
for calls made directly; the provider assembles checked requests with :func:`request_body`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from reverie.errors import InvalidValueError
from reverie.functions.images import refs
from reverie.functions.reve.contract import (
    ASPECT_RATIOS,
    MAX_FIT_DIM,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_PROMPT_CHARS,
    MAX_REMIX_IMAGES,
    MAX_REQUEST_IMAGE_BYTES,
    MAX_REQUEST_PIXELS,
    MIN_REMIX_IMAGES,
    POSTPROCESSES,
    TEST_TIME_SCALING_RANGE,
    UPSCALE_FACTORS,
    VERSIONS,
)

ENDPOINTS: tuple[str, ...] = tuple(VERSIONS)
MIN_TEST_TIME_SCALING, MAX_TEST_TIME_SCALING = (int(x) for x in TEST_TIME_SCALING_RANGE)
_FIT_KEYS: tuple[str, ...] = ('max_dim', 'max_width', 'max_height')

# Which prompt-like field and which image field each endpoint takes.
_TEXT_FIELD = {'create': 'prompt', 'edit': 'edit_instruction', 'remix': 'prompt'}
_IMAGE_FIELD = {'create': None, 'edit': 'reference_image', 'remix': 'reference_images'}
_OPTIONAL_FIELDS = ('aspect_ratio', 'version', 'test_time_scaling', 'postprocessing')


def _choices(values: Sequence[object]) -> str:
    return ', '.join(repr(v) for v in values)


def check_prompt(prompt: object, arg: str = 'prompt') -> str:
    """Check that ``prompt`` is a non-blank string of at most 2560 characters and return it."""
    return refs.check_prompt(prompt, arg, MAX_PROMPT_CHARS)


def check_aspect_ratio(value: object) -> str | None:
    """Check ``aspect_ratio``: None, ``'auto'`` or one of :data:`ASPECT_RATIOS`."""
    if value is None or value == 'auto':
        return None if value is None else 'auto'
    if not isinstance(value, str) or value not in ASPECT_RATIOS:
        raise InvalidValueError(
            f'aspect_ratio {value!r} is not supported; use one of {_choices(ASPECT_RATIOS)}, '
            "'auto' or None."
        )
    return value


def _check_endpoint(endpoint: object) -> str:
    if not isinstance(endpoint, str) or endpoint not in VERSIONS:
        raise InvalidValueError(
            f'Reve endpoint {endpoint!r} is unknown; use one of {_choices(ENDPOINTS)}.'
        )
    return endpoint


def check_version(endpoint: str, value: object) -> str | None:
    """Check ``version`` for ``endpoint`` (``'create'``, ``'edit'`` or ``'remix'``)."""
    allowed = tuple(VERSIONS[_check_endpoint(endpoint)])
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValueError(
            f'version {value!r} is not available for Reve {endpoint}; use one of '
            f'{_choices(allowed)} or None (latest).'
        )
    return value


def check_test_time_scaling(value: object) -> int | float | None:
    """Check ``test_time_scaling``: None or a number from 1 to 15 (cost grows with it)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not MIN_TEST_TIME_SCALING <= value <= MAX_TEST_TIME_SCALING
    ):
        raise InvalidValueError(
            f'test_time_scaling {value!r} is out of range; pass a number from '
            f'{MIN_TEST_TIME_SCALING} to {MAX_TEST_TIME_SCALING} (credits scale with it) or None.'
        )
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_step(i: int, step: object) -> dict[str, Any]:
    where = f'postprocessing[{i}]'
    if not isinstance(step, Mapping):
        raise InvalidValueError(
            f"{where} must be a dict such as {{'process': 'upscale', 'upscale_factor': 2}}, "
            f'got {type(step).__name__} {step!r}.'
        )
    item = dict(step)
    process = item.get('process')
    if process not in POSTPROCESSES:
        raise InvalidValueError(
            f'{where} has process {process!r}; use one of {_choices(POSTPROCESSES)}.'
        )
    allowed: tuple[str, ...]
    if process == 'upscale':
        allowed = ('process', 'upscale_factor')
        factor = item.get('upscale_factor')
        if not _is_int(factor) or factor not in UPSCALE_FACTORS:
            raise InvalidValueError(
                f'{where} (upscale) needs upscale_factor {_choices(UPSCALE_FACTORS)}, '
                f'got {factor!r}.'
            )
    elif process == 'remove_background':
        allowed = ('process',)
    elif process == 'fit_image':
        allowed = ('process', *_FIT_KEYS)
        given = [k for k in _FIT_KEYS if k in item]
        if not given:
            raise InvalidValueError(
                f'{where} (fit_image) needs at least one of {_choices(_FIT_KEYS)}, '
                f'each 1 to {MAX_FIT_DIM}.'
            )
        for key in given:
            dim = item[key]
            if not _is_int(dim) or not 1 <= dim <= MAX_FIT_DIM:
                raise InvalidValueError(
                    f'{where} (fit_image) {key} must be an integer from 1 to {MAX_FIT_DIM}, '
                    f'got {dim!r}.'
                )
    else:
        allowed = ('process', 'effect_name', 'effect_parameters')
        name = item.get('effect_name')
        if not isinstance(name, str) or not name:
            raise InvalidValueError(
                f'{where} (effect) needs effect_name, a non-empty string from the '
                f'list of effects (ReveClient.effects()), got {name!r}.'
            )
        params = item.get('effect_parameters')
        if params is not None and not (
            isinstance(params, Mapping)
            and all(isinstance(k, str) and isinstance(v, Mapping) for k, v in params.items())
        ):
            raise InvalidValueError(
                f'{where} (effect) effect_parameters must be a dict '
                f'{{filter_id: {{uniform_id: value}}}}, got {params!r}.'
            )
        if params is None:
            item.pop('effect_parameters', None)
    unknown = sorted(str(k) for k in item if k not in allowed)
    if unknown:
        raise InvalidValueError(
            f'{where} ({process}) has unknown key(s) {", ".join(map(repr, unknown))}; '
            f'allowed: {_choices(allowed)}.'
        )
    return item


def check_postprocessing(items: object) -> list[dict[str, Any]] | None:
    """Check ``postprocessing``: None or a list of steps (contract §4.4); returns copies."""
    if items is None:
        return None
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise InvalidValueError(
            f'postprocessing must be a list of dicts such as '
            f"[{{'process': 'fit_image', 'max_dim': 512}}], got {type(items).__name__} "
            f'{items!r}.'
        )
    return [_check_step(i, step) for i, step in enumerate(items)]


def check_image_count(n: int) -> int:
    """Check that remix got 1 to 6 reference images."""
    if not MIN_REMIX_IMAGES <= n <= MAX_REMIX_IMAGES:
        raise InvalidValueError(
            f'images has {n} image(s); Reve remix takes {MIN_REMIX_IMAGES} to '
            f'{MAX_REMIX_IMAGES} reference images. Pass a list of that length.'
        )
    return n


def check_image_limits(
    sizes: Sequence[tuple[int, int, int]], names: Sequence[str] | None = None
) -> None:
    """Check per-image and per-request size limits.

    Args:
        sizes: one ``(width, height, n_bytes)`` per input image, in request order.
        names: how messages name each image (default ``images[i]``; an edit's is ``image``).
    """
    total_pixels = 0
    total_bytes = 0
    for i, (width, height, n_bytes) in enumerate(sizes):
        name = names[i] if names is not None else f'images[{i}]'
        where = f'{name} ({width}x{height}, {n_bytes} bytes)'
        if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
            raise InvalidValueError(
                f'{where} is too large: Reve accepts sides up to {MAX_IMAGE_SIDE} px. '
                'Resize it first.'
            )
        if width * height > MAX_IMAGE_PIXELS:
            raise InvalidValueError(
                f'{where} has {width * height} pixels; Reve accepts at most '
                f'{MAX_IMAGE_PIXELS} per image. Resize it first.'
            )
        if n_bytes > MAX_IMAGE_BYTES:
            raise InvalidValueError(
                f'{where} is too large: Reve accepts at most {MAX_IMAGE_BYTES} bytes (40 MB) '
                'per image. Resize or recompress it first.'
            )
        total_pixels += width * height
        total_bytes += n_bytes
    if total_pixels > MAX_REQUEST_PIXELS:
        raise InvalidValueError(
            f'images have {total_pixels} pixels in total; Reve accepts at most '
            f'{MAX_REQUEST_PIXELS} per request. Resize them or pass fewer images.'
        )
    if total_bytes > MAX_REQUEST_IMAGE_BYTES:
        raise InvalidValueError(
            f'images have {total_bytes} bytes in total; Reve accepts at most '
            f'{MAX_REQUEST_IMAGE_BYTES} (100 MB) per request. Recompress them or pass fewer images.'
        )


def _check_base64_image(arg: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValueError(
            f'{arg} must be a non-empty base64 string of the image file, got '
            f'{type(value).__name__}.'
        )
    if value.startswith('data:'):
        raise InvalidValueError(
            f"{arg} starts with a 'data:' prefix; send plain base64 of the file bytes."
        )
    return value


def build_body(endpoint: str, **fields: object) -> dict[str, object]:
    """Validate ``fields`` for ``endpoint`` and return the JSON request body.

    Images must already be base64 strings (``reference_image`` for edit,
    ``reference_images`` for remix). Fields that are None are omitted, and so is
    ``aspect_ratio='auto'`` (the service then uses the endpoint's default).

    Examples:
        >>> build_body('create', prompt='a fox', aspect_ratio='auto', version=None)
        {'prompt': 'a fox'}
    """
    _check_endpoint(endpoint)
    text_field = _TEXT_FIELD[endpoint]
    image_field = _IMAGE_FIELD[endpoint]
    known = {text_field, *_OPTIONAL_FIELDS} | ({image_field} if image_field else set())
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InvalidValueError(
            f'Reve {endpoint} does not take {", ".join(map(repr, unknown))}; '
            f'fields: {_choices(sorted(known))}.'
        )
    text = check_prompt(fields.get(text_field), text_field)
    images: list[str] = []
    if endpoint == 'edit':
        images = [_check_base64_image('reference_image', fields.get('reference_image'))]
    elif endpoint == 'remix':
        given = fields.get('reference_images')
        if not isinstance(given, list | tuple):
            raise InvalidValueError(
                f'reference_images must be a list of base64 strings, got {type(given).__name__}.'
            )
        check_image_count(len(given))
        images = [_check_base64_image(f'reference_images[{i}]', g) for i, g in enumerate(given)]
        refs.check_refs(text, len(images))
    optional: dict[str, object] = {
        'aspect_ratio': check_aspect_ratio(fields.get('aspect_ratio')),
        'version': check_version(endpoint, fields.get('version')),
        'test_time_scaling': check_test_time_scaling(fields.get('test_time_scaling')),
        'postprocessing': check_postprocessing(fields.get('postprocessing')),
    }
    return request_body(endpoint, text, images, optional)


def request_body(
    endpoint: str, text: str, images: Sequence[str], options: Mapping[str, object]
) -> dict[str, object]:
    """The JSON body of a request whose fields were checked; None and ``'auto'`` are left out.

    Examples:
        >>> request_body('edit', 'make it blue', ['QQ=='], {'version': None})
        {'edit_instruction': 'make it blue', 'reference_image': 'QQ=='}
    """
    body: dict[str, object] = {_TEXT_FIELD[endpoint]: text}
    if endpoint == 'edit':
        body['reference_image'] = images[0]
    elif endpoint == 'remix':
        body['reference_images'] = list(images)
    for name, value in options.items():
        if value is not None and not (name == 'aspect_ratio' and value == 'auto'):
            body[name] = value
    return body
