"""Request validation for the Reve v1 image endpoints (§3, §4 of docs/reve-api.md)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass

from PIL import Image, ImageOps

from reverie.functions.images.refs import bad_ref
from reverie.reve_server import options as o
from reverie.reve_server import render
from reverie.reve_server.options import ApiError, invalid

_OPTIONAL = frozenset({'aspect_ratio', 'version', 'test_time_scaling', 'postprocessing'})
_TEXT_FIELD = {'create': 'prompt', 'edit': 'edit_instruction', 'remix': 'prompt'}
_IMAGE_FIELD = {'edit': 'reference_image', 'remix': 'reference_images'}
_MAX_BASE64_CHARS = 4 * math.ceil(o.MAX_IMAGE_BYTES / 3)
_INPUT_FORMATS = ('PNG', 'JPEG', 'WEBP', 'GIF', 'TIFF', 'AVIF')


@dataclass(frozen=True)
class ImageRequest:
    """A validated create, edit or remix request."""

    endpoint: str
    text: str  # prompt, or edit_instruction for edit
    aspect_ratio: str | None  # None: endpoint default chosen from the reference image
    version: str  # resolved dated version
    test_time_scaling: float
    steps: tuple[render.Step, ...]
    images: tuple[Image.Image, ...]

    @property
    def cost(self) -> int:
        """Credits charged on success (§5)."""
        base = o.FAST_CREDITS if '-fast@' in self.version else o.BASE_CREDITS[self.endpoint]
        extra = sum(
            o.UPSCALE_CREDITS if s.process == 'upscale' else o.REMOVE_BACKGROUND_CREDITS
            for s in self.steps
            if s.process in ('upscale', 'remove_background')
        )
        return math.ceil(base * self.test_time_scaling - 1e-9) + extra


def parse_json_body(content_type: str | None, body: bytes) -> dict[str, object]:
    """Decode a JSON object body sent as `application/json`."""
    media = (content_type or '').split(';')[0].strip().lower()
    if media != 'application/json':
        raise invalid('Content-Type', 'must be application/json')

    def no_constants(name: str) -> object:
        raise ValueError(f'{name} is not valid JSON')

    try:
        data = json.loads(body.decode('utf-8'), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid('body', f'malformed JSON: {exc}') from None
    if not isinstance(data, dict):
        raise invalid('body', 'must be a JSON object')
    return data


def text_of(endpoint: str, data: dict[str, object]) -> str | None:
    """Return the prompt or instruction of a request body, if it is a string."""
    text = data.get(_TEXT_FIELD[endpoint])
    return text if isinstance(text, str) else None


def parse_request(endpoint: str, data: dict[str, object]) -> ImageRequest:
    """Validate a create/edit/remix body; raise `ApiError` (400/422) on the first problem."""
    text_field, image_field = _TEXT_FIELD[endpoint], _IMAGE_FIELD.get(endpoint)
    allowed = _OPTIONAL | {text_field} | ({image_field} if image_field else set())
    unknown = sorted(set(data) - allowed)
    if unknown:
        params: dict[str, object] = {name: 'unrecognized field' for name in unknown}
        raise ApiError(400, 'UNRECOGNIZED', f'Unrecognized request field {unknown[0]!r}.', params)
    for name in (text_field, image_field):
        if name is not None and name not in data:
            raise invalid(name, 'required')
    text = _text(data[text_field], text_field)
    aspect_ratio = _aspect_ratio(data.get('aspect_ratio', 'auto'))
    if endpoint == 'create' and aspect_ratio is None:
        aspect_ratio = o.DEFAULT_CREATE_ASPECT_RATIO
    version = _version(endpoint, data.get('version', 'latest'))
    scaling = _scaling(data.get('test_time_scaling', 1))
    steps = render.parse_postprocessing(data.get('postprocessing', []))
    images: list[Image.Image] = []
    if endpoint == 'edit':
        images = decode_images([data['reference_image']], ['reference_image'])
    elif endpoint == 'remix':
        refs = data['reference_images']
        if not isinstance(refs, list) or not 1 <= len(refs) <= o.MAX_REMIX_IMAGES:
            raise invalid('reference_images', 'must be an array of 1 to 6 base64 images')
        bad = bad_ref(text, len(refs))
        if bad is not None:
            reason = f'{bad} refers to a missing image; there are {len(refs)}'
            raise invalid('prompt', reason + ' (0-based)')
        images = decode_images(refs, [f'reference_images[{i}]' for i in range(len(refs))])
    return ImageRequest(endpoint, text, aspect_ratio, version, scaling, tuple(steps), tuple(images))


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(field, f'must be a string of 1 to {o.MAX_PROMPT_CHARS} characters')
    if len(value) > o.MAX_PROMPT_CHARS:
        raise ApiError(
            400,
            'PROMPT_TOO_LONG',
            f'The {field} has {len(value)} characters; the limit is {o.MAX_PROMPT_CHARS}.',
            {field: f'must be at most {o.MAX_PROMPT_CHARS} characters'},
        )
    return value


def _aspect_ratio(value: object) -> str | None:
    if value == 'auto':
        return None
    if not isinstance(value, str) or value not in o.ASPECT_RATIOS:
        raise invalid('aspect_ratio', f'must be one of {", ".join(o.ASPECT_RATIOS)}')
    return value


def _version(endpoint: str, value: object) -> str:
    versions = o.VERSIONS[endpoint]
    if not isinstance(value, str) or value not in versions:
        raise invalid('version', f'must be one of {", ".join(versions)}')
    return versions[value]


def _scaling(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid('test_time_scaling', 'must be a number')
    low, high = o.TEST_TIME_SCALING_RANGE
    return min(max(float(value), low), high)


def _open_image(value: object, field: str) -> tuple[Image.Image, int]:
    """Identify one base64 image and check its limits without decoding the pixels."""
    if not isinstance(value, str) or not value:
        raise invalid(field, 'must be a base64 string of image file bytes')
    if value[:5].lower() == 'data:':
        raise invalid(field, 'must be plain base64 of the file bytes, without a data: prefix')
    if len(value) > _MAX_BASE64_CHARS:
        raise invalid(field, 'image is larger than 40 MB')
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(field, 'is not valid standard base64') from None
    if len(raw) > o.MAX_IMAGE_BYTES:
        raise invalid(field, 'image is larger than 40 MB')
    too_big = f'image must have at most {o.MAX_IMAGE_PIXELS:,} pixels and sides <= 8192'
    try:
        image = Image.open(io.BytesIO(raw), formats=_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise invalid(field, too_big) from None
    except Exception:
        raise _undecodable(field) from None
    width, height = image.size
    if width > o.MAX_IMAGE_SIDE or height > o.MAX_IMAGE_SIDE or width * height > o.MAX_IMAGE_PIXELS:
        raise invalid(field, too_big)
    if width < 1 or height < 1:
        raise _undecodable(field)
    return image, len(raw)


def decode_images(values: list[object], fields: list[str]) -> list[Image.Image]:
    """Decode reference images after checking per-image and per-request limits."""
    opened = [_open_image(value, field) for value, field in zip(values, fields, strict=True)]
    if sum(im.width * im.height for im, _ in opened) > o.MAX_REQUEST_PIXELS:
        raise invalid(fields[0].split('[')[0], 'images exceed 50,331,648 pixels in total')
    if sum(size for _, size in opened) > o.MAX_REQUEST_IMAGE_BYTES:
        raise invalid(fields[0].split('[')[0], 'images exceed 100 MB in total')
    return [_load(image, field) for (image, _), field in zip(opened, fields, strict=True)]


def _load(image: Image.Image, field: str) -> Image.Image:
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        has_alpha = 'A' in image.getbands() or 'transparency' in image.info
        return image.convert('RGBA' if has_alpha else 'RGB')
    except Exception:
        raise _undecodable(field) from None


def _undecodable(field: str) -> ApiError:
    return ApiError(
        422,
        'INVALID_IMAGE',
        'The image data could not be decoded.',
        {field: 'not a readable PNG, JPEG, WebP, GIF, TIFF or AVIF image'},
    )


def _formats() -> list[str]:
    Image.init()
    return [name for name in _INPUT_FORMATS if name in Image.OPEN]
