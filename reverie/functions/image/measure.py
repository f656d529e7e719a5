"""Image functions that describe an image: metadata, bands, extrema, histogram, entropy.

Each equals the PIL call of the same name, with tuples turned into lists (JSON keeps no
tuples, and a query must give what a stored column gives).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.functions.image._method import image_method


def _lists(value: Any) -> Any:
    """Tuples (nested too) as lists."""
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def _get_metadata(img: PIL.Image.Image) -> dict[str, Any]:
    return {
        'width': img.width,
        'height': img.height,
        'mode': img.mode,
        'bits': getattr(img, 'bits', None),
        'format': img.format,
    }  # Pixeltable's five keys; the palette is getpalette()


def _getbands(img: PIL.Image.Image) -> list[str]:
    return list(img.getbands())


def _getbbox(img: PIL.Image.Image, alpha_only: bool = True) -> list[int] | None:
    box = img.getbbox(alpha_only=alpha_only)
    return None if box is None else list(box)


def _getcolors(img: PIL.Image.Image, maxcolors: int = 256) -> list[Any] | None:
    colors = img.getcolors(maxcolors)
    return None if colors is None else _lists(colors)


def _getextrema(img: PIL.Image.Image) -> list[Any]:
    return _lists(img.getextrema())  # type: ignore[no-any-return]


def _getpixel(img: PIL.Image.Image, xy: list[int]) -> Any:
    return _lists(img.getpixel((int(xy[0]), int(xy[1]))))


def _getpalette(img: PIL.Image.Image, mode: str | None = 'RGB') -> list[int] | None:
    return img.getpalette(mode)


def _getprojection(img: PIL.Image.Image) -> list[list[int]]:
    return _lists(img.getprojection())  # type: ignore[no-any-return]


def _histogram(
    img: PIL.Image.Image, mask: PIL.Image.Image | None = None, extrema: list[Any] | None = None
) -> list[int]:
    return img.histogram(mask, _extrema(extrema))


def _entropy(
    img: PIL.Image.Image, mask: PIL.Image.Image | None = None, extrema: list[Any] | None = None
) -> float:
    return img.entropy(mask, _extrema(extrema))


def _extrema(extrema: list[Any] | None) -> Any:
    return None if extrema is None else tuple(extrema)


def _b64_encode(img: PIL.Image.Image, image_format: str = 'png') -> str:
    buf = io.BytesIO()
    img.save(buf, format=image_format)
    return base64.b64encode(buf.getvalue()).decode('ascii')


get_metadata = image_method(_get_metadata)
getbands = image_method(_getbands)
getbbox = image_method(_getbbox)
getcolors = image_method(_getcolors)
getextrema = image_method(_getextrema)
getpixel = image_method(_getpixel, param_types={'xy': ts.Json}, return_type=ts.Json)
getpalette = image_method(_getpalette)
getprojection = image_method(_getprojection)
histogram = image_method(_histogram, param_types={'mask': ts.Image, 'extrema': ts.Json})
entropy = image_method(_entropy, param_types={'mask': ts.Image, 'extrema': ts.Json})
b64_encode = image_method(_b64_encode)
