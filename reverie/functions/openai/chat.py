"""OpenAI chat completions: ``chat_completions(messages, model=..., model_kwargs=None)``.

Pixeltable's name and result: the cell is the response JSON (``choices``, ``usage``...), so
``t.answer['choices'][0]['message']['content']`` is the text. Configure with
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` (or ``[openai]``); calls share the ``'openai'``
pool with the image calls and go through the ledger, journal, cache, budget and dry run.
A call is priced from the model's token rates: the worst case takes
``max_completion_tokens`` (or ``max_tokens``) from ``model_kwargs``, else
``DEFAULT_MAX_OUT``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reverie import types as ts
from reverie.config import Config
from reverie.errors import InvalidValueError
from reverie.functions.images import http
from reverie.functions.openai.client import LABEL, failure
from reverie.functions.paid import Answer
from reverie.functions.text import (
    TextCall,
    TokenPrices,
    check_cap,
    check_dict,
    paid_text_function,
    prices_for,
)

DEFAULT_MAX_OUT = 8192
_SOURCE = 'https://platform.openai.com/docs/pricing, checked 2026-11-28'
PRICES: dict[str, TokenPrices] = {
    'gpt-4o-mini': TokenPrices(0.15, 0.60, _SOURCE),
    'gpt-4.1-mini': TokenPrices(0.40, 1.60, _SOURCE),
    'gpt-4.1': TokenPrices(2.00, 8.00, _SOURCE),
    'gpt-5-mini': TokenPrices(0.25, 2.00, _SOURCE),
    'gpt-5': TokenPrices(1.25, 10.00, _SOURCE),
}


class ChatCompletions:
    """``POST {OPENAI_BASE_URL}/chat/completions``, one attempt per ``send``."""

    name = 'openai'
    operation = 'chat_completions'
    answer_key = 'choices'

    async def send(self, model: str, body: Mapping[str, Any], config: Config) -> Answer:
        """One attempt; the answer's bytes as received, priced from its ``usage``."""
        settings = config.provider('openai')
        key = http.require_key(settings, LABEL)
        fail = http.Failure(LABEL, 'chat completion', key)
        response = await http.send(
            fail,
            http.http_client(settings),
            'POST',
            f'{settings.base_url}/chat/completions',
            paid=True,
            headers={'Authorization': f'Bearer {key}', 'Accept': 'application/json'},
            json=dict(body),
        )
        if response.status_code >= 300:
            raise failure(fail, response)
        data = http.json_object(response.content) or {}
        usage = data.get('usage') if isinstance(data.get('usage'), dict) else None
        return Answer(
            response.content,
            request_id=response.headers.get('x-request-id') or _str(data.get('id')),
            model_version=_str(data.get('model')),
            cost_usd=usage_cost(model, usage) if usage else None,
            meta={'usage': usage} if usage else {},
        )


def usage_cost(model: str, usage: Mapping[str, Any]) -> float | None:
    """Money for an answer's ``usage`` (``prompt_tokens``, ``completion_tokens``)."""
    prices, _ = prices_for(PRICES, model)
    try:
        return prices.usd(float(usage['prompt_tokens']), float(usage['completion_tokens']))
    except (KeyError, TypeError, ValueError):
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


_SERVICE = ChatCompletions()


async def _prepare(args: tuple[Any, ...], kwargs: dict[str, Any], config: Config) -> TextCall:
    (messages,) = args
    model = kwargs.get('model')
    if not isinstance(messages, list) or not messages:
        raise InvalidValueError(
            "messages must be a non-empty list such as [{'role': 'user', 'content': 'Hi'}], "
            f'got {messages!r}.'
        )
    if not isinstance(model, str) or not model:
        raise InvalidValueError(f"model must be a model id such as 'gpt-4o-mini', got {model!r}.")
    fields = check_dict(kwargs.get('model_kwargs'), 'model_kwargs')
    cap = check_cap(fields.get('max_completion_tokens', fields.get('max_tokens')), 'max tokens')
    prices, note = prices_for(PRICES, model)
    body = {'model': model, 'messages': messages, **fields}
    return TextCall(_SERVICE, model, body, prices, cap or DEFAULT_MAX_OUT, note)


def _chat_completions(
    messages: list[Any],
    *,
    model: str,
    model_kwargs: dict[str, Any] | None = None,
    cache: bool | None = None,
) -> dict[str, Any]:
    raise NotImplementedError  # the signature only: the engine calls the paid-call layer


chat_completions = paid_text_function(
    _SERVICE,
    _prepare,
    name='chat_completions',
    signature=_chat_completions,
    param_types={
        'messages': ts.Json,
        'model': ts.Required[ts.String],
        'model_kwargs': ts.Json,
        'cache': ts.Bool,
    },
)
"""Create a chat completion; the cell is OpenAI's response JSON.

Args:
    messages: the conversation, e.g. ``[{'role': 'user', 'content': t.topic}]``.
    model: e.g. ``'gpt-4o-mini'``.
    model_kwargs: other request fields (``max_completion_tokens``, ``temperature``...).
    cache: False asks again even when the same request was answered before.
"""
