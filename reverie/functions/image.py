"""Image methods usable in expressions: ``t.img.resize((128, 128))``, ``.rotate(90)``, ...

Each is a ``Function`` in this module (so stored expressions find it by path) and is
registered as a method of ``Image`` expressions.
"""

from __future__ import annotations

import PIL.Image

from reverie import types as ts
from reverie.functions.udf import Function, register_as_method


def _resize(img: PIL.Image.Image, size: list[int]) -> PIL.Image.Image:
    return img.resize((int(size[0]), int(size[1])))


def _rotate(img: PIL.Image.Image, angle: float, expand: bool = False) -> PIL.Image.Image:
    return img.rotate(angle, expand=expand)


def _convert(img: PIL.Image.Image, mode: str) -> PIL.Image.Image:
    return img.convert(mode)


def _crop(img: PIL.Image.Image, box: list[int]) -> PIL.Image.Image:
    left, upper, right, lower = (int(v) for v in box)
    return img.crop((left, upper, right, lower))


def _thumbnail(img: PIL.Image.Image, size: list[int]) -> PIL.Image.Image:
    copy = img.copy()
    copy.thumbnail((int(size[0]), int(size[1])))
    return copy


def _transpose(img: PIL.Image.Image, method: int) -> PIL.Image.Image:
    return img.transpose(PIL.Image.Transpose(method))


def _grayscale(img: PIL.Image.Image) -> PIL.Image.Image:
    return img.convert('L')


_IMG = ts.Required[ts.Image]
resize = Function(
    _resize, name='resize', path=f'{__name__}.resize', param_types={'img': _IMG, 'size': ts.Json}
)
rotate = Function(
    _rotate,
    name='rotate',
    path=f'{__name__}.rotate',
    param_types={'img': _IMG, 'angle': ts.Float, 'expand': ts.Bool},
)
convert = Function(
    _convert,
    name='convert',
    path=f'{__name__}.convert',
    param_types={'img': _IMG, 'mode': ts.String},
)
crop = Function(
    _crop, name='crop', path=f'{__name__}.crop', param_types={'img': _IMG, 'box': ts.Json}
)
thumbnail = Function(
    _thumbnail,
    name='thumbnail',
    path=f'{__name__}.thumbnail',
    param_types={'img': _IMG, 'size': ts.Json},
)
transpose = Function(
    _transpose,
    name='transpose',
    path=f'{__name__}.transpose',
    param_types={'img': _IMG, 'method': ts.Int},
)
grayscale = Function(
    _grayscale, name='grayscale', path=f'{__name__}.grayscale', param_types={'img': _IMG}
)


for _fn in (resize, rotate, convert, crop, thumbnail, transpose, grayscale):
    register_as_method('Image', _fn)
