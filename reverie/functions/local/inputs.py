"""Turning a reverie request into a pipeline's inputs: prompt wording, output size, options.

FLUX.2 prompts name reference images in order ("image 1", "image 2"), so reverie's 0-based
``<img>N</img>`` becomes ``image N+1``. The output size keeps the model's default area (or
``[local] megapixels``) at the requested aspect ratio, rounded to what the model accepts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reverie.errors import InvalidValueError
from reverie.functions.images import refs

ASPECT_RATIOS = refs.ASPECT_RATIOS  # the verbs' ratios: any size is a ratio away
MAX_IMAGES = 10  # FLUX.2 takes up to 10 references; [klein] works best with up to 4
OPTION_NAMES = ('seed', 'steps', 'guidance_scale')


def name_references(prompt: str) -> str:
    """Say ``<img>N</img>`` the way FLUX.2 prompts name their inputs: ``image N+1``.

    Examples:
        >>> name_references('Place the subject of <img>0</img> into <img>1</img>')
        'Place the subject of image 1 into image 2'
    """
    return refs.translate_refs(prompt, refs.ordinal_name)


def output_size(
    aspect_ratio: str | None, like: tuple[int, int] | None, area: int, multiple: int
) -> tuple[int, int]:
    """Width and height of ``area`` pixels at ``aspect_ratio`` (None: ``like``'s, or square).

    Examples:
        >>> output_size('16:9', None, 1024 * 1024, 16)
        (1360, 768)
        >>> output_size(None, (640, 480), 64 * 64, 2)
        (74, 56)
    """
    if aspect_ratio is not None:
        w, h = (int(x) for x in aspect_ratio.split(':'))
        ratio = w / h
    elif like is not None:
        ratio = like[0] / like[1]
    else:
        ratio = 1.0
    width = math.sqrt(area * ratio)
    height = width / ratio
    return _round(width, multiple), _round(height, multiple)


def _round(x: float, multiple: int) -> int:
    return max(multiple, round(x / multiple) * multiple)


@dataclass(frozen=True)
class Options:
    """The request options a local model takes (``images.create(..., seed=7)``)."""

    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None


def parse_options(options: Mapping[str, Any]) -> Options:
    """Check and convert ``options``; refuse names the local model does not take."""
    refs.check_options(options, OPTION_NAMES, 'The local model')
    seed = options.get('seed')
    steps = options.get('steps')
    guidance = options.get('guidance_scale')
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**63):
        raise InvalidValueError(f'seed must be an integer from 0 to 2**63 - 1, got {seed!r}.')
    if steps is not None and (not _is_int(steps) or not 1 <= steps <= 1000):
        raise InvalidValueError(f'steps must be an integer from 1 to 1000, got {steps!r}.')
    if guidance is not None and (
        isinstance(guidance, bool) or not isinstance(guidance, int | float) or guidance < 0
    ):
        raise InvalidValueError(f'guidance_scale must be a number >= 0, got {guidance!r}.')
    return Options(seed, steps, None if guidance is None else float(guidance))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
