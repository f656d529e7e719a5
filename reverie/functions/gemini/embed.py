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

import httpx
import numpy as np

from reverie import types as ts
from reverie.errors import InvalidValueError, ServiceError
from reverie.functions.gemini.client import LABEL
from reverie.functions.gemini.client import _failure as failure
from reverie.functions.images import http
from reverie.functions.paid import Answer
from reverie.functions.text import EmbeddingCall, TokenPrices, check_dict, paid_text_function

_SOURCE = 'https://ai.google.dev/gemini-api/docs/pricing, checked 2026-12-07'
PRICES: dict[str, TokenPrices] = {'gemini-embedding-001': TokenPrices(0.15, 0.0, _SOURCE)}
_CONFIG = {
    'task_type': 'taskType',
    'title': 'title',
    'output_dimensionality': 'outputDimensionality',
}


class EmbedContent:
    """``POST {GEMINI_BASE_URL}/v1beta/models/{model}:embedContent``, one attempt."""

    name = 'gemini'
    label = LABEL
    operation = 'embed_content'
    answer_key = 'embedding'

    def request(self, model: str, base_url: str, key: str) -> tuple[str, dict[str, str]]:
        """The key in ``x-goog-api-key``."""
        return f'{base_url}/v1beta/models/{model}:embedContent', {'x-goog-api-key': key}

    def failure(self, fail: http.Failure, response: httpx.Response) -> ServiceError:
        """As for Gemini's other models: ``{"error": {code, message, status, details}}``."""
        return failure(fail, response)

    def read(self, model: str, body: Mapping[str, Any], headers: httpx.Headers) -> Answer:
        """No request id, version or token count in the answer: the ledger prices it."""
        return Answer(b'')

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


def _embed_content(
    contents: str,
    *,
    model: str,
    config: dict[str, Any] | None = None,
    cache: bool | None = None,
) -> np.ndarray:
    raise NotImplementedError  # the signature only: the engine calls the paid-call layer


embed_content = paid_text_function(
    EmbedContent(),
    _build,
    name='embed_content',
    signature=_embed_content,
    param_types={'contents': ts.String, 'config': ts.Json},
    prices=PRICES,
    default_max_out=0,
    return_type=ts.Array[(None,), ts.Float],
    call_type=EmbeddingCall,
)
"""Embed a string with a Gemini embedding model; the cell is a float32 vector.

Args:
    contents: the text, e.g. ``t.caption``.
    model: e.g. ``'gemini-embedding-001'``.
    config: ``task_type`` (``'RETRIEVAL_DOCUMENT'``...), ``title``, ``output_dimensionality``.
    cache: False asks again even when the same request was answered before.
"""
