"""Image functions, also methods of Image expressions: ``t.img.resize((128, 128))``.

They follow Pixeltable's image module and equal PIL's own calls. Stored expressions find
each by ``reverie.functions.image.<name>``. ``t.img.width``, ``.height``, ``.size`` and
``.mode`` are properties, not functions (see ``exprs/nodes.py``).
"""

from __future__ import annotations

from reverie.functions.image.measure import (
    b64_encode,
    entropy,
    get_metadata,
    getbands,
    getbbox,
    getcolors,
    getextrema,
    getpalette,
    getpixel,
    getprojection,
    histogram,
)
from reverie.functions.image.transform import (
    alpha_composite,
    blend,
    composite,
    convert,
    crop,
    effect_spread,
    getchannel,
    grayscale,
    point,
    quantize,
    reduce,
    resize,
    rotate,
    thumbnail,
    transpose,
)

__all__ = [
    'alpha_composite',
    'b64_encode',
    'blend',
    'composite',
    'convert',
    'crop',
    'effect_spread',
    'entropy',
    'get_metadata',
    'getbands',
    'getbbox',
    'getchannel',
    'getcolors',
    'getextrema',
    'getpalette',
    'getpixel',
    'getprojection',
    'grayscale',
    'histogram',
    'point',
    'quantize',
    'reduce',
    'resize',
    'rotate',
    'thumbnail',
    'transpose',
]
