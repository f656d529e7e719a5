"""Reference tags and aspect ratios: the two things every provider translates its own way.

A remix prompt names its images ``<img>0</img>``, ``<img>1</img>``...; each provider says
them differently (``image 1`` for FLUX.2 and OpenAI, labelled parts for Gemini).
``check_refs`` refuses a tag without an image before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from reverie.errors import InvalidValueError

_IMG_TAG = re.compile(r'<img>\s*([^<]*?)\s*</img>', re.IGNORECASE)
_RATIO = re.compile(r'^([1-9][0-9]?):([1-9][0-9]?)$')

ASPECT_RATIOS = ('16:9', '9:16', '3:2', '2:3', '4:3', '3:4', '1:1')
"""The ratios ``images.create / edit / remix`` accept everywhere (a model may add others)."""


def image_refs(prompt: str) -> list[int]:
    """The indexes named by well-formed ``<img>N</img>`` tags in ``prompt``, in order.

    Examples:
        >>> image_refs('put <img>0</img> into <img>1</img>')
        [0, 1]
    """
    return [int(m.group(1)) for m in _IMG_TAG.finditer(prompt) if m.group(1).isdecimal()]


def check_refs(prompt: str, n_images: int, *, where: str = 'prompt') -> None:
    """Refuse a ``<img>N</img>`` tag that names no image of the ``n_images`` given.

    Examples:
        >>> check_refs('<img>2</img>', 2)
        Traceback (most recent call last):
        ...
        reverie.errors.InvalidValueError: prompt refers to '<img>2</img>' but 2 image(s) were \
given; indexes are 0-based, so use <img>0</img> to <img>1</img>.
    """
    for m in _IMG_TAG.finditer(prompt):
        text = m.group(1)
        if text.isdecimal() and int(text) < n_images:
            continue
        valid = f'<img>0</img> to <img>{n_images - 1}</img>' if n_images > 0 else 'no tags'
        raise InvalidValueError(
            f'{where} refers to {m.group(0)!r} but {n_images} image(s) were given; indexes '
            f'are 0-based, so use {valid}.'
        )


def translate_refs(prompt: str, name: Callable[[int], str]) -> str:
    """Replace each ``<img>N</img>`` by ``name(N)`` (checked first with ``check_refs``).

    Examples:
        >>> translate_refs('<img>0</img> in <img>1</img>', lambda i: f'image {i + 1}')
        'image 1 in image 2'
    """
    return _IMG_TAG.sub(lambda m: name(int(m.group(1))), prompt)


def ordinal_name(index: int) -> str:
    """``image 1`` for ``<img>0</img>``: how FLUX.2 and GPT Image prompts name inputs."""
    return f'image {index + 1}'


def check_aspect_ratio(value: object, supported: tuple[str, ...], model: str) -> str | None:
    """Return ``value`` if ``model`` can make that ratio, else say which it can."""
    if value is None:
        return None
    if not isinstance(value, str) or not _RATIO.match(value):
        raise InvalidValueError(
            f"aspect_ratio must be a string 'W:H' such as '16:9', got {value!r}."
        )
    if value not in supported:
        raise InvalidValueError(
            f'{model} cannot make aspect_ratio {value!r}; it supports '
            f'{", ".join(map(repr, supported))}. Pick one of those, or another model.'
        )
    return value


def check_prompt(value: object, arg: str = 'prompt', max_chars: int | None = None) -> str:
    """A non-empty string within the model's length limit."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError(f'{arg} must be a non-empty string, got {value!r}.')
    if max_chars is not None and len(value) > max_chars:
        raise InvalidValueError(
            f'{arg} has {len(value)} characters; this model takes at most {max_chars}. Shorten it.'
        )
    return value


def check_image_count(n: int, low: int, high: int, model: str) -> None:
    """Refuse a number of input images the model cannot take."""
    if not low <= n <= high:
        raise InvalidValueError(
            f'{model} takes {low} to {high} input image(s), got {n}. Pass fewer images '
            'or pick another model.'
        )
