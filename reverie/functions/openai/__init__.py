"""OpenAI GPT Image: ``image_generate`` and ``image_edit`` with OpenAI's own parameters.

Configure with ``OPENAI_API_KEY`` (or ``[openai] api_key`` in ``REVERIE_HOME/config.toml``)
and, for an OpenAI-compatible server, ``OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``). Calls share the resource pool ``'openai'``
(``[openai] max_concurrency``, ``requests_per_minute``). ``images.create / edit / remix``
with ``model='openai/gpt-image-2'`` reach the same model.

``openai.chat_completions(messages, model=...)`` is OpenAI's chat completions (a text
model; see ``reverie.functions.openai.chat``).

>>> from reverie.functions import openai
>>> openai.image_generate.name, openai.provider().name
('image_generate', 'openai')
"""

from __future__ import annotations

from reverie import types as ts
from reverie.functions.images.calls import native_image_function
from reverie.functions.openai.chat import chat_completions
from reverie.functions.openai.client import OpenAIProvider
from reverie.functions.openai.embeddings import embeddings

__all__ = ['chat_completions', 'embeddings', 'image_edit', 'image_generate', 'provider']

_PROVIDER = OpenAIProvider()
_FIELDS: dict[str, ts.ColumnType] = {
    'quality': ts.String,
    'size': ts.String,
    'output_format': ts.String,
    'output_compression': ts.Int,
    'background': ts.String,
    'moderation': ts.String,
}


def provider() -> OpenAIProvider:
    """The OpenAI image provider (for ``model='openai/...'``)."""
    return _PROVIDER


image_generate = native_image_function(
    'openai', name='image_generate', fields=_FIELDS, default_model='gpt-image-2'
)
"""``POST /images/generations``: an image from ``prompt`` (one per cell)."""

image_edit = native_image_function(
    'openai',
    name='image_edit',
    fields={**_FIELDS, 'input_fidelity': ts.String},
    default_model='gpt-image-2',
    images='images',
    images_at=0,
)
"""``POST /images/edits``: edit one image, or combine up to 16 (``image[]``), by ``prompt``."""
