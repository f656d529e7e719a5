"""The one interface every image model speaks: ``ImageRequest`` in, ``ImageAnswer`` out.

``images.create / edit / remix(..., model='<provider>/<model id>')`` build an
``ImageRequest``; the provider named by the prefix turns it into its own wire format
(OpenAI, Gemini, Black Forest Labs, a local diffusers pipeline, a Reve-compatible server)
and answers with the image's file bytes and what the provider said it charged.

A provider's ``send`` does one attempt and nothing else: retries, pools, the ledger of
paid calls, the answer journal, the cache and budgets live above it, once, in the engine.
``send`` raises ``reverie.errors.ServiceError`` (with ``status``, ``retryable``,
``retry_after``, ``request_id``) for failures; it must say whether the request may have
been charged (``ServiceError.maybe_charged``) when it cannot know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from reverie.functions.images import refs
from reverie.functions.paid import Answer, Price

if TYPE_CHECKING:
    from reverie.config import Config

__all__ = ['Capabilities', 'ImageAnswer', 'ImageProvider', 'ImageRequest', 'Price', 'Verb']

Verb = Literal['create', 'edit', 'remix']


@dataclass(frozen=True)
class ImageRequest:
    """One image to make.

    Attributes:
        verb: ``create`` (text only), ``edit`` (one image + instruction) or ``remix``
            (a prompt over 1..N reference images, named ``<img>0</img>``, ``<img>1</img>``...).
        model: the model id after the provider prefix (``'gpt-image-2'`` for
            ``'openai/gpt-image-2'``).
        prompt: the prompt; for ``edit`` the instruction; for ``remix`` still with reverie's
            ``<img>N</img>`` tags (each provider translates them to its own naming).
        images: file bytes (PNG, JPEG or WebP) of the input images, in order.
        aspect_ratio: one of ``16:9 9:16 3:2 2:3 4:3 3:4 1:1``, or None for the model's default.
        options: provider-specific fields, passed through as given by the user.
    """

    verb: Verb
    model: str
    prompt: str
    images: tuple[bytes, ...] = ()
    aspect_ratio: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class ImageAnswer(Answer):
    """What a provider answered for one request: an ``Answer`` whose ``data`` is an image.

    ``data`` holds the image file bytes as received (kept lossless, never re-encoded);
    ``credits`` is in the provider's own unit (Reve credits).
    """

    @property
    def image(self) -> bytes:
        """The image file bytes (``data``)."""
        return self.data


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, declared once beside its provider and checked in one place.

    Attributes:
        label: how messages name the model (``'Reve'``, ``'OpenAI gpt-image-2'``).
        aspect_ratios: the ratios it can make.
        images: for each verb, the least and most input images it takes.
        options: the provider fields it takes (``request.options``) with every verb.
        max_prompt_chars: the longest prompt, or None.
        verb_options: fields it takes with one verb only (``{'edit': ('input_fidelity',)}``).
    """

    label: str
    aspect_ratios: tuple[str, ...]
    images: Mapping[Verb, tuple[int, int]]
    options: tuple[str, ...] = ()
    max_prompt_chars: int | None = None
    verb_options: Mapping[Verb, tuple[str, ...]] = field(default_factory=dict)

    def check(self, request: ImageRequest) -> None:
        """Refuse what the model cannot do: the prompt, image counts, ratio, options.

        (The ``<img>`` tags are checked once for every provider, by ``calls.check_request``.)
        """
        where = 'instruction' if request.verb == 'edit' else 'prompt'
        refs.check_prompt(request.prompt, where, self.max_prompt_chars)
        low, high = self.images.get(request.verb, (0, 0))
        refs.check_image_count(len(request.images), low, high, f'{self.label} {request.verb}')
        refs.check_aspect_ratio(request.aspect_ratio, self.aspect_ratios, self.label)
        allowed = (*self.options, *self.verb_options.get(request.verb, ()))
        refs.check_options(request.options, allowed, self.label)


class ImageProvider(Protocol):
    """A provider of image models: one attempt per ``send``."""

    name: str  # the prefix in model='<name>/<model id>', and the provider's resource pool

    def price(self, request: ImageRequest) -> Price:
        """The cost range of ``request`` from the provider's price table (sends nothing)."""
        ...

    def check(self, request: ImageRequest) -> None:
        """Refuse, before anything is sent, what this model cannot do (InvalidValueError)."""
        ...

    async def send(self, request: ImageRequest, config: Config) -> ImageAnswer:
        """Make one attempt; settings (keys, URLs, timeouts) come from the open catalog's config."""
        ...
