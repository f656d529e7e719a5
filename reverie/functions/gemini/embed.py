"""Gemini embeddings: ``embed_content(contents, model=..., config=None)``.

The google-genai SDK's name (``client.models.embed_content``); the cell is the embedding as a
float32 array (``embedding.values`` of the ``embedContent`` answer), so it can be an
embedding index's function. ``config`` holds ``task_type``, ``title`` and
``output_dimensionality`` in snake case. Calls share the ``'gemini'`` pool and go through
the ledger, journal, cache, budget and dry run. The answer carries no token count, so the
ledger records the price table's worst case (input tokens at 2 characters each) for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.functions.gemini.client import JsonEndpoint
from reverie.functions.text import EmbeddingEndpoint, TokenPrices, check_dict, paid_text_function

_SOURCE = 'https://ai.google.dev/gemini-api/docs/pricing, checked 2026-12-07'
PRICES: dict[str, TokenPrices] = {'gemini-embedding-001': TokenPrices(0.15, 0.0, _SOURCE)}
_CONFIG = {
    'task_type': 'taskType',
    'title': 'title',
    'output_dimensionality': 'outputDimensionality',
}


class EmbedContent(JsonEndpoint, EmbeddingEndpoint):
    """``POST {GEMINI_BASE_URL}/v1beta/models/{model}:embedContent``, one attempt.

    The answer has no request id, version or token count: the ledger prices it.
    """

    method = 'embedContent'
    operation = 'embed_content'
    answer_key = 'embedding'
    prices = PRICES

    def vector(self, body: Mapping[str, Any]) -> object:
        """``embedding.values``."""
        embedding = body.get('embedding')
        return embedding.get('values') if isinstance(embedding, dict) else None


def _build(contents: object, kwargs: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    if not isinstance(contents, str) or not contents:
        raise InvalidValueError(f'contents must be a non-empty string, got {contents!r}.')
    config = check_dict(kwargs.get('config'), 'config')
    unknown = sorted(set(config) - set(_CONFIG))
    if unknown:
        raise InvalidValueError(
            f'config may hold {", ".join(sorted(_CONFIG))}; got {", ".join(unknown)}.'
        )
    body: dict[str, Any] = {
        'model': f'models/{kwargs.get("model")}',
        'content': {'parts': [{'text': contents}]},
    }
    body.update({_CONFIG[k]: v for k, v in config.items() if v is not None})
    return body, None


embed_content = paid_text_function(
    EmbedContent(), _build, arg=('contents', ts.String), options={'config': ts.Json}
)
"""Embed a string with a Gemini embedding model; the cell is a float32 vector.

Args:
    contents: the text, e.g. ``t.caption``.
    model: e.g. ``'gemini-embedding-001'``.
    config: ``task_type`` (``'RETRIEVAL_DOCUMENT'``...), ``title``, ``output_dimensionality``.
    cache: False asks again even when the same request was answered before.
"""
