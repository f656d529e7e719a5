"""Image functions that make a new image: resize, rotate, crop, convert, point, blend, ...

Each equals the PIL call of the same name. Where the arguments are literals, the result
type carries the size and mode the image will have (``Image[(64, 64), 'RGB']``).
"""

from __future__ import annotations

import PIL.Image

from reverie import types as ts
from reverie.exprs import nodes as n
from reverie.functions.image._method import (
    IMG,
    UNKNOWN,
    image_method,
    image_type,
    input_type,
    literal,
)

# Transpose methods that swap width and height (ROTATE_90, ROTATE_270, TRANSPOSE, TRANSVERSE).
_SWAPS = {2, 4, 5, 6}


def _resize(img: PIL.Image.Image, size: list[int]) -> PIL.Image.Image:
    return img.resize((int(size[0]), int(size[1])))


def _resize_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    return image_type(literal(args, kwargs, 1, 'size', UNKNOWN), input_type(args).mode)


def _rotate(img: PIL.Image.Image, angle: float, expand: bool = False) -> PIL.Image.Image:
    return img.rotate(angle, expand=expand)


def _rotate_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    src = input_type(args)
    expand = literal(args, kwargs, 2, 'expand', False)
    return image_type(src.size if expand is False else None, src.mode)


def _convert(img: PIL.Image.Image, mode: str) -> PIL.Image.Image:
    return img.convert(mode)


def _convert_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    return image_type(input_type(args).size, literal(args, kwargs, 1, 'mode', UNKNOWN))


def _crop(img: PIL.Image.Image, box: list[int]) -> PIL.Image.Image:
    left, upper, right, lower = (int(v) for v in box)
    return img.crop((left, upper, right, lower))


def _crop_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    box = literal(args, kwargs, 1, 'box', UNKNOWN)
    size = None
    if isinstance(box, list | tuple) and len(box) == 4 and all(type(v) is int for v in box):
        size = (box[2] - box[0], box[3] - box[1])
    return image_type(size, input_type(args).mode)


def _thumbnail(img: PIL.Image.Image, size: list[int]) -> PIL.Image.Image:
    copy = img.copy()
    copy.thumbnail((int(size[0]), int(size[1])))
    return copy


def _same_mode(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    return image_type(None, input_type(args).mode)


def _same_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    src = input_type(args)
    return image_type(src.size, src.mode)


def _transpose(img: PIL.Image.Image, method: int) -> PIL.Image.Image:
    return img.transpose(PIL.Image.Transpose(method))


def _transpose_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    src = input_type(args)
    method = literal(args, kwargs, 1, 'method', UNKNOWN)
    size = src.size
    if size is not None and (method is UNKNOWN or method in _SWAPS):
        size = (size[1], size[0]) if method in _SWAPS else None
    return image_type(size, src.mode)


def _grayscale(img: PIL.Image.Image) -> PIL.Image.Image:
    return img.convert('L')


def _grayscale_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    return image_type(input_type(args).size, 'L')


def _reduce(img: PIL.Image.Image, factor: int) -> PIL.Image.Image:
    return img.reduce(factor)


def _reduce_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    src = input_type(args)
    factor = literal(args, kwargs, 1, 'factor', UNKNOWN)
    size = None
    if src.size is not None and type(factor) is int and factor > 0:
        size = (-(-src.size[0] // factor), -(-src.size[1] // factor))  # PIL rounds up
    return image_type(size, src.mode)


def _getchannel(img: PIL.Image.Image, channel: int | str) -> PIL.Image.Image:
    return img.getchannel(channel)


def _point(img: PIL.Image.Image, lut: list[int], mode: str | None = None) -> PIL.Image.Image:
    # A lookup table, not a Python callable: an expression must be storable as JSON.
    return img.point(lut, mode)


def _point_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    src = input_type(args)
    mode = literal(args, kwargs, 2, 'mode', None)
    return image_type(src.size, src.mode if mode is None else mode)


def _effect_spread(img: PIL.Image.Image, distance: int) -> PIL.Image.Image:
    return img.effect_spread(distance)


def _quantize(
    img: PIL.Image.Image, colors: int = 256, method: int | None = None, kmeans: int = 0
) -> PIL.Image.Image:
    return img.quantize(colors, PIL.Image.Quantize(method) if method is not None else None, kmeans)


def _quantize_type(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> ts.ColumnType:
    return image_type(input_type(args).size, 'P')


def _alpha_composite(im1: PIL.Image.Image, im2: PIL.Image.Image) -> PIL.Image.Image:
    return PIL.Image.alpha_composite(im1, im2)


def _blend(im1: PIL.Image.Image, im2: PIL.Image.Image, alpha: float) -> PIL.Image.Image:
    return PIL.Image.blend(im1, im2, alpha)


def _composite(
    image1: PIL.Image.Image, image2: PIL.Image.Image, mask: PIL.Image.Image
) -> PIL.Image.Image:
    return PIL.Image.composite(image1, image2, mask)


resize = image_method(_resize, param_types={'size': ts.Json}, call_type=_resize_type)
rotate = image_method(
    _rotate, param_types={'angle': ts.Float, 'expand': ts.Bool}, call_type=_rotate_type
)
convert = image_method(_convert, param_types={'mode': ts.String}, call_type=_convert_type)
crop = image_method(_crop, param_types={'box': ts.Json}, call_type=_crop_type)
thumbnail = image_method(_thumbnail, param_types={'size': ts.Json}, call_type=_same_mode)
transpose = image_method(_transpose, param_types={'method': ts.Int}, call_type=_transpose_type)
grayscale = image_method(_grayscale, call_type=_grayscale_type)
reduce = image_method(_reduce, param_types={'factor': ts.Int}, call_type=_reduce_type)
getchannel = image_method(_getchannel, param_types={'channel': ts.Json}, call_type=_grayscale_type)
point = image_method(_point, param_types={'lut': ts.Json, 'mode': ts.String}, call_type=_point_type)
effect_spread = image_method(_effect_spread, call_type=_same_type)
quantize = image_method(_quantize, call_type=_quantize_type)
alpha_composite = image_method(_alpha_composite, param_types={'im2': IMG}, call_type=_same_type)
blend = image_method(_blend, param_types={'im2': IMG}, call_type=_same_type)
composite = image_method(_composite, param_types={'image2': IMG, 'mask': IMG}, call_type=_same_type)
