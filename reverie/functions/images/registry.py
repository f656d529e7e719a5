"""Which module serves ``model='<provider>/<model id>'``: imported on first use.

Each provider module exposes ``provider() -> ImageProvider``. Hosted providers need only
httpx; ``local`` needs ``pip install 'reverie[local]'``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from reverie.config import Config
from reverie.errors import InvalidValueError, NotFoundError
from reverie.functions.images.provider import ImageProvider

PROVIDERS: dict[str, str] = {
    'openai': 'reverie.functions.openai',
    'gemini': 'reverie.functions.gemini',
    'bfl': 'reverie.functions.bfl',
    'reve': 'reverie.functions.reve',
    'local': 'reverie.functions.local',
}
_INSTALL_HINTS = {'local': "pip install 'reverie[local]'"}
_EXAMPLE = "'openai/gpt-image-2'"


def split_model(model: object) -> tuple[str, str]:
    """``('openai', 'gpt-image-2')`` for ``'openai/gpt-image-2'``.

    The model id keeps any further slashes (``local/org/name`` is a Hugging Face id).

    Examples:
        >>> split_model('local/black-forest-labs/FLUX.2-klein-4B')
        ('local', 'black-forest-labs/FLUX.2-klein-4B')
    """
    if not isinstance(model, str):
        raise InvalidValueError(
            f"model must be a string '<provider>/<model id>' such as {_EXAMPLE}, got {model!r}."
        )
    name, _, model_id = model.partition('/')
    if not name or not model_id.strip():
        raise InvalidValueError(
            f"model {model!r} is not '<provider>/<model id>', e.g. {_EXAMPLE}; providers: "
            f'{", ".join(PROVIDERS)}.'
        )
    if name not in PROVIDERS:
        raise NotFoundError(
            f'Unknown image provider {name!r} in model {model!r}; known providers: '
            f'{", ".join(PROVIDERS)}.'
        )
    return name, model_id.strip()


_settings: list[Callable[[], Config]] = [Config.load]


def use_settings(source: Callable[[], Config]) -> None:
    """Where ``images.*`` read the default model: the open catalog's settings.

    ``reverie.api`` registers the default catalog's settings here (this layer never looks
    the catalog up); without it, the process's settings.
    """
    _settings[0] = source


def default_settings() -> Config:
    """The settings a call without ``model=`` takes its default model from."""
    return _settings[0]()


def resolve_model(model: object, config: Config) -> str:
    """``model``, or the default model from ``REVERIE_IMAGE_MODEL`` / ``[images] model``."""
    if model is None:
        model = config.image_model
        if not model:
            raise InvalidValueError(
                f'No image model given: pass model= (e.g. model={_EXAMPLE}) or set '
                f'REVERIE_IMAGE_MODEL or [images] model in {config.home / "config.toml"}.'
            )
    split_model(model)
    assert isinstance(model, str)
    return model


@functools.cache
def get_provider(name: str) -> ImageProvider:
    """The provider serving ``name``, importing its module on first use."""
    if name not in PROVIDERS:
        raise NotFoundError(
            f'Unknown image provider {name!r}; known providers: {", ".join(PROVIDERS)}.'
        )
    module_name = PROVIDERS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        hint = _INSTALL_HINTS.get(name, 'check that reverie is installed completely')
        raise NotFoundError(
            f'Image provider {name!r} cannot be loaded ({module_name}: {e}). Install what it '
            f'needs: {hint}.'
        ) from None
    factory = getattr(module, 'provider', None)
    if not callable(factory):
        raise NotFoundError(
            f'Image provider module {module_name!r} has no provider() function; it cannot '
            'serve images.* calls.'
        )
    provider: ImageProvider = factory()
    return provider
