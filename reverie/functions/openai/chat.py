"""OpenAI chat completions: ``chat_completions(messages, model=..., model_kwargs=None)``.

Pixeltable's name and result: the cell is the response JSON (``choices``, ``usage``...), so
``t.answer['choices'][0]['message']['content']`` is the text. Configure with
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` (or ``[openai]``); calls share the ``'openai'``
pool with the image calls and go through the ledger, journal, cache, budget and dry run.
A call is priced from the model's token rates: the worst case takes
``max_completion_tokens`` (or ``max_tokens``) from ``model_kwargs``, else
``text.DEFAULT_MAX_OUT`` (8192).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.functions.openai.client import JsonEndpoint
from reverie.functions.text import TokenPrices, check_cap, check_dict, paid_text_function

_SOURCE = 'https://platform.openai.com/docs/pricing, checked 2026-11-28'
PRICES: dict[str, TokenPrices] = {
    'gpt-4o-mini': TokenPrices(0.15, 0.60, _SOURCE),
    'gpt-4.1-mini': TokenPrices(0.40, 1.60, _SOURCE),
    'gpt-4.1': TokenPrices(2.00, 8.00, _SOURCE),
    'gpt-5-mini': TokenPrices(0.25, 2.00, _SOURCE),
    'gpt-5': TokenPrices(1.25, 10.00, _SOURCE),
}


class ChatCompletions(JsonEndpoint):
    """``POST {OPENAI_BASE_URL}/chat/completions``, one attempt per ``send``."""

    path = 'chat/completions'
    operation = 'chat_completions'
    answer_key = 'choices'
    prices = PRICES

    def tokens(self, usage: Mapping[str, Any]) -> tuple[float, float]:
        """``prompt_tokens`` in, ``completion_tokens`` out."""
        return float(usage['prompt_tokens']), float(usage['completion_tokens'])


def _build(messages: object, kwargs: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    if not isinstance(messages, list) or not messages:
        raise InvalidValueError(
            "messages must be a non-empty list such as [{'role': 'user', 'content': 'Hi'}], "
            f'got {messages!r}.'
        )
    fields = check_dict(kwargs.get('model_kwargs'), 'model_kwargs')
    cap = check_cap(fields.get('max_completion_tokens', fields.get('max_tokens')), 'max tokens')
    return {'model': kwargs.get('model'), 'messages': messages, **fields}, cap


chat_completions = paid_text_function(
    ChatCompletions(), _build, arg=('messages', ts.Json), options={'model_kwargs': ts.Json}
)
"""Create a chat completion; the cell is OpenAI's response JSON.

Args:
    messages: the conversation, e.g. ``[{'role': 'user', 'content': t.topic}]``.
    model: e.g. ``'gpt-4o-mini'``.
    model_kwargs: other request fields (``max_completion_tokens``, ``temperature``...).
    cache: False asks again even when the same request was answered before.
"""
