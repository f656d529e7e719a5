"""OpenAI embeddings: ``embeddings(input, model=..., dimensions=None, model_kwargs=None)``.

Pixeltable's name and result: the cell is the embedding as a float32 array (the
``data[0].embedding`` of OpenAI's answer), so it can be an embedding index's function:
``t.add_embedding_index('text', embedding=openai.embeddings.using(model=...))``. Calls share
the ``'openai'`` pool and go through the ledger, journal, cache, budget and dry run, priced
from input-token rates (``usage.prompt_tokens`` of each answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.functions.openai.client import JsonEndpoint
from reverie.functions.text import (
    EmbeddingEndpoint,
    TokenPrices,
    check_cap,
    check_dict,
    paid_text_function,
)

_SOURCE = 'https://platform.openai.com/docs/pricing, checked 2026-12-07'
PRICES: dict[str, TokenPrices] = {
    'text-embedding-3-small': TokenPrices(0.02, 0.0, _SOURCE),
    'text-embedding-3-large': TokenPrices(0.13, 0.0, _SOURCE),
    'text-embedding-ada-002': TokenPrices(0.10, 0.0, _SOURCE),
}


class Embeddings(JsonEndpoint, EmbeddingEndpoint):
    """``POST {OPENAI_BASE_URL}/embeddings``, one attempt per ``send``."""

    path = 'embeddings'
    operation = 'embeddings'
    answer_key = 'data'
    prices = PRICES

    def tokens(self, usage: Mapping[str, Any]) -> tuple[float, float]:
        """``prompt_tokens`` in, nothing out."""
        return float(usage['prompt_tokens']), 0.0

    def vector(self, body: Mapping[str, Any]) -> object:
        """``data[0].embedding``."""
        data = body.get('data')
        first = data[0] if isinstance(data, list) and data else None
        return first.get('embedding') if isinstance(first, dict) else None


def _build(text: object, kwargs: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    if not isinstance(text, str) or not text:
        raise InvalidValueError(f'input must be a non-empty string, got {text!r}.')
    fields = check_dict(kwargs.get('model_kwargs'), 'model_kwargs')
    dimensions = check_cap(kwargs.get('dimensions'), 'dimensions')
    if dimensions is not None:
        fields['dimensions'] = dimensions
    body = {'model': kwargs.get('model'), 'input': text, 'encoding_format': 'float', **fields}
    return body, None


embeddings = paid_text_function(
    Embeddings(),
    _build,
    arg=('input', ts.String),  # OpenAI's and Pixeltable's name
    options={'dimensions': ts.Int, 'model_kwargs': ts.Json},
)
"""Embed a string with an OpenAI embedding model; the cell is a float32 vector.

Args:
    input: the text, e.g. ``t.caption``.
    model: e.g. ``'text-embedding-3-small'``.
    dimensions: fewer dimensions than the model's own (text-embedding-3 models).
    model_kwargs: other request fields (``user``...).
    cache: False asks again even when the same request was answered before.
"""
