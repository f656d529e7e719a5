"""Gemini text generation: ``generate_content(contents, model=..., config=None)``.

Pixeltable's name and result: the cell is the ``generateContent`` response JSON
(``candidates``, ``usageMetadata``, ``modelVersion``...), so
``t.answer['candidates'][0]['content']['parts'][0]['text']`` is the text. ``contents`` is a
string or the API's list of contents; ``config`` holds generation settings in snake case
(``max_output_tokens``, ``temperature``, ``system_instruction``...). Configure with
``GEMINI_API_KEY`` / ``GEMINI_BASE_URL`` (or ``[gemini]``); calls share the ``'gemini'``
pool and go through the ledger, journal, cache, budget and dry run, priced from token
rates (the worst case takes ``max_output_tokens``, else ``text.DEFAULT_MAX_OUT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.functions.gemini.client import JsonEndpoint
from reverie.functions.text import TokenPrices, check_cap, check_dict, paid_text_function

_SOURCE = 'https://ai.google.dev/gemini-api/docs/pricing, checked 2026-11-28'
PRICES: dict[str, TokenPrices] = {
    'gemini-2.5-flash-lite': TokenPrices(0.10, 0.40, _SOURCE),
    'gemini-2.5-flash': TokenPrices(0.30, 2.50, _SOURCE),
    'gemini-2.5-pro': TokenPrices(2.50, 15.00, _SOURCE),
    'gemini-3-pro-preview': TokenPrices(4.00, 18.00, _SOURCE),
}
# Top-level request fields a config may carry; the rest is generationConfig.
_TOP_LEVEL = ('system_instruction', 'safety_settings', 'tools', 'tool_config')


class GenerateContent(JsonEndpoint):
    """``POST {GEMINI_BASE_URL}/v1beta/models/{model}:generateContent``, one attempt."""

    method = 'generateContent'
    operation = 'generate_content'
    answer_key = 'candidates'
    prices = PRICES

    def tokens(self, usage: Mapping[str, Any]) -> tuple[float, float]:
        """Prompt tokens in; candidates and thoughts out."""
        out = float(usage.get('candidatesTokenCount', 0))
        return float(usage['promptTokenCount']), out + float(usage.get('thoughtsTokenCount', 0))


def _camel(name: str) -> str:
    first, *rest = name.split('_')
    return first + ''.join(part.title() for part in rest)


def request_body(contents: object, config: Mapping[str, Any]) -> dict[str, Any]:
    """The REST body for ``contents`` and a snake-case ``config``.

    Examples:
        >>> request_body('Hi', {'max_output_tokens': 50, 'system_instruction': 'Be brief.'})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'contents': [{'role': 'user', 'parts': [{'text': 'Hi'}]}],
         'systemInstruction': {'parts': [{'text': 'Be brief.'}]},
         'generationConfig': {'maxOutputTokens': 50}}
    """
    if isinstance(contents, str) and contents:
        contents = [{'role': 'user', 'parts': [{'text': contents}]}]
    if not isinstance(contents, list) or not contents:
        raise InvalidValueError(
            f'contents must be a non-empty string or list of contents, got {contents!r}.'
        )
    body: dict[str, Any] = {'contents': contents}
    for name in _TOP_LEVEL:
        value = config.get(name)
        if isinstance(value, str) and name == 'system_instruction':
            value = {'parts': [{'text': value}]}
        if value is not None:
            body[_camel(name)] = value
    generation = {_camel(k): v for k, v in config.items() if k not in _TOP_LEVEL}
    if generation:
        body['generationConfig'] = generation
    return body


def _build(contents: object, kwargs: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    fields = check_dict(kwargs.get('config'), 'config')
    cap = check_cap(fields.get('max_output_tokens'), 'max_output_tokens')
    return request_body(contents, fields), cap


generate_content = paid_text_function(
    GenerateContent(), _build, arg=('contents', ts.Json), options={'config': ts.Json}
)
"""Generate content with a Gemini model; the cell is the response JSON.

Args:
    contents: a prompt string (e.g. ``t.topic``) or the API's list of contents.
    model: e.g. ``'gemini-2.5-flash'``.
    config: generation settings in snake case (``max_output_tokens``, ``temperature``,
        ``system_instruction``...).
    cache: False asks again even when the same request was answered before.
"""
