"""The one ``<img>N</img>`` parser, and the prompt and aspect-ratio checks every model shares.

A remix prompt names its images ``<img>0</img>``, ``<img>1</img>``...; each provider says
them its own way (``image 1`` for FLUX.2 and OpenAI, labelled parts for Gemini; Reve keeps
the tags). Every entry point reads the tags here: ``images.*``, ``reve.*``, the provider
modules and the local Reve-compatible server (``reverie.reve_server``), so a prompt gets the
same verdict everywhere.

The rules:

- A tag is ``<img>`` ... ``</img>``, the tag names in any case (``<IMG>0</IMG>`` is a tag).
- Whitespace (newlines included) around the index is allowed: ``<img> 0 </img>`` names image 0.
- The index is 0-based, written in ASCII digits; a tag whose content is anything else
  (``<img>x</img>``, ``<img>-1</img>``, ``<img></img>``) is a malformed reference and refused.
- An index with no image (``<img>2</img>`` with two images) is refused.
- Images no tag names are allowed (a prompt need not name every image).
- An ``<img>`` never closed is plain text.

Examples:
    >>> image_refs('<img> 0 </img> x <IMG>1</IMG>')
    [0, 1]
    >>> bad_ref('<IMG>5</IMG> and <img>0</img>', 2)
    '<IMG>5</IMG>'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from reverie.errors import InvalidValueError

_IMG_TAG = re.compile(r'<img>(.*?)</img>', re.IGNORECASE | re.DOTALL)
_INDEX = re.compile(r'\s*([0-9]+)\s*')
_RATIO = re.compile(r'^([1-9][0-9]?):([1-9][0-9]?)$')

ASPECT_RATIOS: tuple[str, ...] = ('16:9', '9:16', '3:2', '2:3', '4:3', '3:4', '1:1')
"""The ratios ``images.create / edit / remix`` offer on every model (a model may add others)."""


@dataclass(frozen=True)
class Ref:
    """One tag: its text as written and the index it names (None: malformed)."""

    text: str
    index: int | None


def refs(prompt: str) -> Iterator[Ref]:
    """Every tag in ``prompt``, in order (see the module docstring for the rules)."""
    for m in _IMG_TAG.finditer(prompt):
        digits = _INDEX.fullmatch(m.group(1))
        yield Ref(m.group(0), int(digits.group(1)) if digits else None)


def image_refs(prompt: str) -> list[int]:
    """The indexes named by well-formed tags in ``prompt``, in order.

    Examples:
        >>> image_refs('put <img>0</img> into <img>1</img>; ignore <img>x</img>')
        [0, 1]
    """
    return [r.index for r in refs(prompt) if r.index is not None]


def bad_ref(prompt: str, n_images: int) -> str | None:
    """The first tag that names no image of the ``n_images`` given, or None."""
    for ref in refs(prompt):
        if ref.index is None or ref.index >= n_images:
            return ref.text
    return None


def check_refs(prompt: str, n_images: int, *, where: str = 'prompt') -> None:
    """Refuse a tag that names no image of the ``n_images`` given.

    Examples:
        >>> check_refs('<img>2</img>', 2)
        Traceback (most recent call last):
        ...
        reverie.errors.InvalidValueError: prompt refers to '<img>2</img>' but 2 image(s) were \
given; indexes are 0-based, so use <img>0</img> to <img>1</img>.
    """
    bad = bad_ref(prompt, n_images)
    if bad is not None:
        valid = {0: 'no tags', 1: '<img>0</img> only'}.get(
            n_images, f'<img>0</img> to <img>{n_images - 1}</img>'
        )
        raise InvalidValueError(
            f'{where} refers to {bad!r} but {n_images} image(s) were given; indexes '
            f'are 0-based, so use {valid}.'
        )


def translate_refs(prompt: str, name: Callable[[int], str]) -> str:
    """Replace each well-formed tag by ``name(N)`` (check first with ``check_refs``).

    Examples:
        >>> translate_refs('<img>0</img> in <IMG> 1 </IMG>', lambda i: f'image {i + 1}')
        'image 1 in image 2'
    """

    def say(m: re.Match[str]) -> str:
        digits = _INDEX.fullmatch(m.group(1))
        return name(int(digits.group(1))) if digits else m.group(0)

    return _IMG_TAG.sub(say, prompt)


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


def check_options(options: Iterable[str], allowed: Iterable[str], model: str) -> None:
    """Refuse option names the model does not take, listing those it takes."""
    allowed = tuple(allowed)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidValueError(
            f'{model} takes no option(s) {", ".join(map(repr, unknown))}; it takes '
            f'{", ".join(allowed) or "none"}.'
        )


def check_image_count(n: int, low: int, high: int, model: str) -> None:
    """Refuse a number of input images the model cannot take."""
    if not low <= n <= high:
        raise InvalidValueError(
            f'{model} takes {low} to {high} input image(s), got {n}. Pass fewer images '
            'or pick another model.'
        )
