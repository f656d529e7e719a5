"""Deterministic image drawing, encoding, effects and postprocessing.

Same inputs always give the same pixels (and, through Pillow's encoders, the same bytes).
Pictures are derived from a SHAKE-256 stream of the prompt and version, so a different
prompt gives a visibly different image; reference images are blended in.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

from reverie.reve_server.options import ASPECT_RATIOS, invalid

ImageFormat = Literal['png', 'jpeg', 'webp']

_MEGAPIXEL = 1024 * 1024
_MIN_SIDE = 16
_REFERENCE_WEIGHT = 0.65  # share of the reference image in an edit/remix result
_font_lock = threading.Lock()


# ---------------------------------------------------------------- sizes


def ratio_of(aspect_ratio: str) -> float:
    """Return width / height of an aspect ratio string such as `'16:9'`."""
    width, height = aspect_ratio.split(':')
    return int(width) / int(height)


def output_size(ratio: float, megapixels: float) -> tuple[int, int]:
    """Return the output size for `ratio` at `megapixels` x 1024², sides multiples of 8."""
    ratio = min(max(ratio, 1 / 8), 8.0)
    area = megapixels * _MEGAPIXEL
    width = max(_MIN_SIDE, round(math.sqrt(area * ratio) / 8) * 8)
    height = max(_MIN_SIDE, round(math.sqrt(area / ratio) / 8) * 8)
    return width, height


def nearest_aspect_ratio(size: tuple[int, int]) -> str:
    """Return the contract aspect ratio closest to the shape of `size`."""
    target = math.log(size[0] / size[1])
    return min(ASPECT_RATIOS, key=lambda ar: abs(math.log(ratio_of(ar)) - target))


# ---------------------------------------------------------------- drawing


def pattern(key: str, size: tuple[int, int]) -> Image.Image:
    """Draw an RGB picture determined by `key`: a colour field with a few shapes."""
    data = hashlib.shake_256(key.encode('utf-8')).digest(256)
    width, height = size
    image = Image.frombytes('RGB', (4, 3), data[:36]).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for i in range(5 + data[36] % 8):
        b = data[40 + 12 * i : 52 + 12 * i]
        cx, cy = b[0] / 255 * width, b[1] / 255 * height
        rx = (0.04 + b[2] / 255 * 0.22) * width
        ry = (0.04 + b[3] / 255 * 0.22) * height
        colour = (b[4], b[5], b[6])
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        kind = b[7] % 3
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour, outline=(b[8], b[9], b[10]))
        else:
            draw.polygon([(cx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)], fill=colour)
    return image


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def label(image: Image.Image, text: str) -> None:
    """Write `text` on a dark band along the bottom of `image`, in place."""
    width, height = image.size
    size = max(8, height // 24)
    if height < 3 * size:
        return
    chars = max(1, int(width / (size * 0.5)) - 2)
    shown = text if len(text) <= chars else text[: chars - 1] + '…'
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height - size * 3 // 2, width, height), fill=(16, 16, 16))
    with _font_lock:  # FreeType faces are not safe to share between threads
        draw.text(
            (size // 2, height - size * 5 // 4), shown, fill=(240, 240, 240), font=_font(size)
        )


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop `image` to exactly `size` (RGB)."""
    src_w, src_h = image.size
    scale = max(size[0] / src_w, size[1] / src_h)
    crop_w, crop_h = size[0] / scale, size[1] / scale
    left, top = max(0.0, (src_w - crop_w) / 2), max(0.0, (src_h - crop_h) / 2)
    box = (left, top, min(float(src_w), left + crop_w), min(float(src_h), top + crop_h))
    rgb = image if image.mode == 'RGB' else image.convert('RGB')
    return rgb.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)


def tiles(images: Sequence[Image.Image], size: tuple[int, int], key: str) -> Image.Image:
    """Lay `images` out on a grid over the pattern for `key`, each cell covered by one image."""
    canvas = pattern(key, size)
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    for index, image in enumerate(images):
        row, col = divmod(index, cols)
        left, right = col * size[0] // cols, (col + 1) * size[0] // cols
        top, bottom = row * size[1] // rows, (row + 1) * size[1] // rows
        if right > left and bottom > top:
            canvas.paste(cover(image, (right - left, bottom - top)), (left, top))
    return canvas


def with_references(
    key: str, text: str, images: Sequence[Image.Image], size: tuple[int, int]
) -> Image.Image:
    """Blend the tiled reference `images` with the pattern for `key` and label it."""
    base = tiles(images, size, key) if images else pattern(key, size)
    result = Image.blend(pattern(key, size), base, _REFERENCE_WEIGHT) if images else base
    label(result, text)
    return result


# ---------------------------------------------------------------- encoding


def encode(image: Image.Image, fmt: ImageFormat) -> bytes:
    """Encode `image` as PNG (fast compression), JPEG or WebP."""
    buffer = io.BytesIO()
    if fmt == 'png':
        image.save(buffer, 'PNG', compress_level=1)
    elif fmt == 'jpeg':
        if image.mode != 'RGB':
            flat = Image.new('RGB', image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel('A') if image.mode == 'RGBA' else None)
            image = flat
        image.save(buffer, 'JPEG', quality=90)
    else:
        image.save(buffer, 'WEBP', quality=90, method=0)
    return buffer.getvalue()


def placeholder(fmt: ImageFormat) -> bytes:
    """Return the small grey image sent with errors in raw-image mode."""
    return encode(Image.new('RGB', (64, 64), (128, 128, 128)), fmt)


# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class Effect:
    """A named filter usable as a postprocessing `effect`.

    `uniforms` maps each parameter to `(minimum, maximum, default)`; clients set them as
    `effect_parameters: {<effect name>: {<uniform>: value}}`.
    """

    name: str
    description: str
    category: str
    uniforms: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    source: str = 'preset'

    def describe(self) -> dict[str, str]:
        """Return the list-effects JSON entry."""
        return {
            'name': self.name,
            'description': self.description,
            'source': self.source,
            'category': self.category,
        }


EFFECTS: dict[str, Effect] = {
    e.name: e
    for e in (
        Effect('grayscale', 'Black and white.', 'color'),
        Effect('sepia', 'Warm old-photo toning.', 'color', {'strength': (0.0, 1.0, 1.0)}),
        Effect('invert', 'Negative image.', 'color'),
        Effect('blur', 'Gaussian blur.', 'filter', {'radius': (0.0, 50.0, 4.0)}),
        Effect('posterize', 'Fewer colour levels.', 'stylize', {'bits': (1.0, 8.0, 3.0)}),
        Effect('pixelate', 'Large square pixels.', 'stylize', {'block': (2.0, 64.0, 8.0)}),
    )
}


def _pixelate(rgb: Image.Image, block: int) -> Image.Image:
    small = rgb.resize(
        (max(1, rgb.width // block), max(1, rgb.height // block)), Image.Resampling.BOX
    )
    return small.resize(rgb.size, Image.Resampling.NEAREST)


_FILTERS: dict[str, Callable[[Image.Image, dict[str, float]], Image.Image]] = {
    'grayscale': lambda im, p: ImageOps.grayscale(im).convert('RGB'),
    'sepia': lambda im, p: Image.blend(
        im, ImageOps.colorize(ImageOps.grayscale(im), '#2b1a0e', '#f5e6c8'), p['strength']
    ),
    'invert': lambda im, p: ImageOps.invert(im),
    'blur': lambda im, p: im.filter(ImageFilter.GaussianBlur(p['radius'])),
    'posterize': lambda im, p: ImageOps.posterize(im, int(p['bits'])),
    'pixelate': lambda im, p: _pixelate(im, int(p['block'])),
}


def apply_effect(image: Image.Image, name: str, params: dict[str, float]) -> Image.Image:
    """Apply the effect `name` to the colour channels of `image`, keeping any alpha."""
    values = {u: params.get(u, spec[2]) for u, spec in EFFECTS[name].uniforms.items()}
    result = _FILTERS[name](image.convert('RGB'), values)
    if image.mode == 'RGBA':
        result.putalpha(image.getchannel('A'))
    return result


# ---------------------------------------------------------------- postprocessing


@dataclass(frozen=True)
class Step:
    """One validated postprocessing item."""

    process: str
    upscale_factor: int = 1
    limits: tuple[int | None, int | None, int | None] = (None, None, None)  # width, height, dim
    effect_name: str = ''
    effect_parameters: dict[str, float] = field(default_factory=dict)


_STEP_FIELDS: dict[str, frozenset[str]] = {
    'upscale': frozenset({'upscale_factor'}),
    'remove_background': frozenset(),
    'fit_image': frozenset({'max_width', 'max_height', 'max_dim'}),
    'effect': frozenset({'effect_name', 'effect_parameters'}),
}


def _number(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None  # type: ignore[arg-type]


def _int_in(value: object, low: int, high: int) -> int | None:
    number = _number(value)
    if number is None or not number.is_integer() or not low <= number <= high:
        return None
    return int(number)


def _effect_params(raw: object, name: str, where: str) -> dict[str, float]:
    if raw is None:
        return {}
    uniforms = EFFECTS[name].uniforms
    if not isinstance(raw, dict) or set(raw) - {name}:
        raise invalid(where, f'must be an object with the single key {name!r}')
    inner = raw.get(name, {})
    if not isinstance(inner, dict):
        raise invalid(f'{where}.{name}', 'must be an object of uniform values')
    values: dict[str, float] = {}
    for uniform, value in inner.items():
        if uniform not in uniforms:
            known = ', '.join(uniforms) or 'none'
            raise invalid(f'{where}.{name}.{uniform}', f'unknown uniform; known: {known}')
        low, high, _ = uniforms[uniform]
        number = _number(value)
        if number is None or not low <= number <= high:
            raise invalid(f'{where}.{name}.{uniform}', f'must be a number from {low:g} to {high:g}')
        values[uniform] = number
    return values


def _parse_step(item: object, where: str) -> Step:
    if not isinstance(item, dict):
        raise invalid(where, 'must be an object with a "process" field')
    process = item.get('process')
    if not isinstance(process, str) or process not in _STEP_FIELDS:
        raise invalid(f'{where}.process', f'must be one of {", ".join(_STEP_FIELDS)}')
    extra = sorted(set(item) - _STEP_FIELDS[process] - {'process'})
    if extra:
        raise invalid(f'{where}.{extra[0]}', f'is not a field of {process!r}')
    if process == 'upscale':
        factor = _int_in(item.get('upscale_factor'), 2, 4)
        if factor is None:
            raise invalid(f'{where}.upscale_factor', 'required; must be 2, 3 or 4')
        return Step(process, upscale_factor=factor)
    if process == 'fit_image':
        limits: list[int | None] = []
        for key in ('max_width', 'max_height', 'max_dim'):
            value = item.get(key)
            limit = None if value is None else _int_in(value, 1, 4096)
            if value is not None and limit is None:
                raise invalid(f'{where}.{key}', 'must be an integer from 1 to 4096')
            limits.append(limit)
        if limits == [None, None, None]:
            raise invalid(where, 'fit_image needs at least one of max_dim, max_width, max_height')
        return Step(process, limits=(limits[0], limits[1], limits[2]))
    if process == 'effect':
        name = item.get('effect_name')
        if not isinstance(name, str) or name not in EFFECTS:
            raise invalid(f'{where}.effect_name', f'must be one of {", ".join(EFFECTS)}')
        params = _effect_params(item.get('effect_parameters'), name, f'{where}.effect_parameters')
        return Step(process, effect_name=name, effect_parameters=params)
    return Step(process)


def parse_postprocessing(value: object) -> list[Step]:
    """Validate the `postprocessing` field; raise a 400 `ApiError` naming the bad item."""
    if not isinstance(value, list):
        raise invalid('postprocessing', 'must be an array of objects')
    return [_parse_step(item, f'postprocessing[{i}]') for i, item in enumerate(value)]


def remove_background(image: Image.Image) -> Image.Image:
    """Make pixels close to the top-left corner colour transparent; return RGBA."""
    rgb = image.convert('RGB')
    backdrop = Image.new('RGB', rgb.size, rgb.getpixel((0, 0)))
    distance = ImageChops.difference(rgb, backdrop).convert('L')
    alpha = distance.point([0 if v < 24 else 255 for v in range(256)])
    if image.mode == 'RGBA':
        alpha = ImageChops.multiply(alpha, image.getchannel('A'))
    rgb.putalpha(alpha)
    return rgb


def fit(image: Image.Image, limits: tuple[int | None, int | None, int | None]) -> Image.Image:
    """Shrink `image` (never enlarge) so it fits max width, height and longest side."""
    max_w, max_h, max_dim = limits
    scale = 1.0
    for limit, side in ((max_w, image.width), (max_h, image.height)):
        if limit is not None:
            scale = min(scale, limit / side)
    if max_dim is not None:
        scale = min(scale, max_dim / max(image.size))
    if scale >= 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def postprocess(image: Image.Image, steps: Sequence[Step]) -> Image.Image:
    """Apply validated postprocessing `steps` in order."""
    for step in steps:
        if step.process == 'upscale':
            size = (image.width * step.upscale_factor, image.height * step.upscale_factor)
            image = image.resize(size, Image.Resampling.BICUBIC)
        elif step.process == 'remove_background':
            image = remove_background(image)
        elif step.process == 'fit_image':
            image = fit(image, step.limits)
        else:
            image = apply_effect(image, step.effect_name, step.effect_parameters)
    return image
