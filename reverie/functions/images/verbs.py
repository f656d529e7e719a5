"""``images.create / edit / remix``: the three verbs over any model.

``images.create(t.prompt, model='openai/gpt-image-2')`` picks the provider from the model's
prefix and builds a call of that provider's verb function (``verbs.openai_create``), so
each provider has its own resource pool and the column finds its function again by path.
"""

from __future__ import annotations

import functools
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError, TypeMismatchError
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr
from reverie.functions.images.calls import (
    Build,
    CheckCall,
    check_request,
    image_bytes,
    literal,
    paid_image_function,
)
from reverie.functions.images.provider import ImageRequest, Verb
from reverie.functions.images.registry import (
    PROVIDERS,
    default_settings,
    get_provider,
    resolve_model,
    split_model,
)
from reverie.functions.paid import PaidFunction, Params

_VERBS: tuple[Verb, ...] = ('create', 'edit', 'remix')
_OPTIONS = {'model': ts.String, 'aspect_ratio': ts.String, 'options': ts.Json}
_POSITIONAL: dict[Verb, dict[str, ts.ColumnType]] = {
    'create': {'prompt': ts.Required[ts.String]},
    'edit': {'image': ts.Required[ts.Image], 'instruction': ts.Required[ts.String]},
    'remix': {'prompt': ts.Required[ts.String], 'images': ts.Json},
}
_ARGUMENTS = {verb: tuple(names) for verb, names in _POSITIONAL.items()}


def _request(
    verb: Verb, kwargs: dict[str, Any], prompt: str, images: tuple[bytes, ...]
) -> ImageRequest:
    _, model_id = split_model(kwargs['model'])
    options = kwargs.get('options') or {}
    if not isinstance(options, dict):
        raise InvalidValueError(f'options must be a dict of provider fields, got {options!r}.')
    return ImageRequest(verb, model_id, prompt, images, kwargs.get('aspect_ratio'), options)


def request_builder(verb: Verb) -> Build:
    """Read one cell's values into the request of ``verb`` (checked once, by ``prepare``)."""

    async def build(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ImageRequest | None:
        if verb == 'create':
            return _request(verb, kwargs, args[0], ())
        if verb == 'edit':
            return _request(verb, kwargs, args[1], await image_bytes([args[0]]))
        images = args[1]
        if not isinstance(images, list):
            raise InvalidValueError(f'images must be a list of images, got {images!r}.')
        if any(img is None for img in images):
            return None  # an input image is missing (null): so is the remix
        return _request(verb, kwargs, args[0], await image_bytes(images))

    return build


def call_checker(provider_name: str, verb: Verb) -> CheckCall:
    """Check a call's literal arguments when its column is defined (nothing is sent)."""

    def check_call(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> None:
        n_images = 1 if verb == 'edit' else 0
        if verb == 'remix':
            n_images = len(_remix_items(args[1]))
        is_lit, prompt = literal(args[1] if verb == 'edit' else args[0])
        values = {k: v.value for k, v in kwargs.items() if isinstance(v, n.Literal)}
        placeholder = prompt if is_lit else 'a prompt'
        request = _request(verb, values, placeholder, (b'',) * n_images)
        check_request(get_provider(provider_name), request)

    return check_call


def _remix_items(node: n.Node) -> tuple[n.Node, ...]:
    if isinstance(node, n.ListNode):
        items = node.items
    elif isinstance(node, n.Literal) and isinstance(node.value, list):
        raise InvalidValueError(
            'remix(images=...) takes image columns or expressions, e.g. [t.edited, t.scene]; '
            'insert literal images into a column first.'
        )
    else:
        raise InvalidValueError(
            f'remix(images=...) takes a list of image expressions, got {node!r}.'
        )
    for i, item in enumerate(items):
        if not isinstance(item.col_type, ts.ImageType):
            raise TypeMismatchError(
                f'remix(images=...): item {i} must be an Image expression, got type '
                f'{item.col_type}.'
            )
    return items


@functools.cache
def verb_function(provider_name: str, verb: Verb) -> PaidFunction:
    """The function computing ``verb`` on provider ``provider_name`` (one per pair)."""
    return paid_image_function(
        provider_name,
        request_builder(verb),
        name=verb,
        path=f'{__name__}.{provider_name}_{verb}',
        params=Params(_POSITIONAL[verb], _OPTIONS, required=frozenset({'model'})),
        check_call=call_checker(provider_name, verb),
    )


def __getattr__(attr: str) -> PaidFunction:
    # A stored column finds its function again by path: verbs.openai_create and so on.
    provider_name, _, verb = attr.partition('_')
    if provider_name in PROVIDERS and verb in _VERBS:
        return verb_function(provider_name, verb)
    raise AttributeError(f'module {__name__!r} has no attribute {attr!r}')


class ImageVerb:
    """``images.create``, ``images.edit`` or ``images.remix``: one verb over every model."""

    def __init__(self, verb: Verb, doc: str) -> None:
        self.verb = verb
        self.name = verb
        self.__doc__ = doc

    def __repr__(self) -> str:
        return f'<images.{self.verb} over {", ".join(PROVIDERS)}>'

    def __call__(
        self, *args: Any, model: str | None = None, aspect_ratio: Any = None, **options: Any
    ) -> Expr:
        """Build the call; ``options`` are the provider's own fields (literal values)."""
        if isinstance(model, Expr):
            raise InvalidValueError(
                f"images.{self.verb}(model=...) must be a literal such as 'openai/gpt-image-2', "
                'not a column expression.'
            )
        model = resolve_model(model, default_settings())
        provider_name, _ = split_model(model)
        # The verb's own arguments may come by name too (images=[...]); the rest are options.
        kwargs: dict[str, Any] = {
            name: options.pop(name) for name in _ARGUMENTS[self.verb] if name in options
        }
        kwargs['model'] = model
        if aspect_ratio is not None:
            kwargs['aspect_ratio'] = aspect_ratio
        if options:
            bad = [k for k, v in options.items() if isinstance(v, Expr)]
            if bad:
                raise InvalidValueError(
                    f'images.{self.verb}() option(s) {", ".join(bad)} must be literal values, '
                    'not column expressions.'
                )
            kwargs['options'] = options
        return verb_function(provider_name, self.verb)(*args, **kwargs)


create = ImageVerb(
    'create',
    """Make an image from ``prompt`` with ``model='<provider>/<model id>'``.

    Args:
        prompt: what to draw (a String expression or literal).
        model: e.g. ``'openai/gpt-image-2'``; default ``REVERIE_IMAGE_MODEL``.
        aspect_ratio: ``'16:9'``, ``'1:1'``...; each model says which it can make.
        **options: the provider's own fields, e.g. ``quality='low'`` for OpenAI.
    """,
)
edit = ImageVerb(
    'edit',
    """Edit ``image`` by ``instruction`` with ``model='<provider>/<model id>'``.""",
)
remix = ImageVerb(
    'remix',
    """Blend ``images`` by ``prompt``; ``<img>N</img>`` in the prompt names ``images[N]``.""",
)
