"""Google Gemini 3 image models: ``generate_image`` with Gemini's own parameters.

Configure with ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``, or ``[gemini] api_key`` in
``REVERIE_HOME/config.toml``) and optionally ``GEMINI_BASE_URL`` (default
``https://generativelanguage.googleapis.com``). Calls share the resource pool ``'gemini'``.
``images.create / edit / remix`` with ``model='gemini/gemini-3.1-flash-image'``
reach the same models.

``gemini.generate_content(contents, model=...)`` is Gemini's text generation (see
``reverie.functions.gemini.text``).

>>> from reverie.functions import gemini
>>> gemini.generate_image.name, gemini.provider().name
('generate_image', 'gemini')
"""

from __future__ import annotations

from reverie.functions.gemini.client import FIELDS, GeminiProvider
from reverie.functions.gemini.embed import embed_content
from reverie.functions.gemini.text import generate_content
from reverie.functions.images.calls import native_image_function

__all__ = ['embed_content', 'generate_content', 'generate_image', 'provider']

_PROVIDER = GeminiProvider()


def provider() -> GeminiProvider:
    """The Gemini image provider (for ``model='gemini/...'``)."""
    return _PROVIDER


generate_image = native_image_function(
    'gemini',
    name='generate_image',
    fields=FIELDS,
    default_model='gemini-3.1-flash-image',
    images='images',
)
"""``:generateContent``: an image from ``prompt`` and up to 14 reference ``images``."""
