"""The text family of paid functions: a JSON request in, the service's JSON answer out.

``openai.chat_completions`` and ``gemini.generate_content`` are made with
``paid_text_function``: each call is a ``TextCall`` (the family's side of the paid-call
layer) priced from token rates, the worst case taking the request's output-token cap, and
its cell is the provider's response JSON (as Pixeltable returns it) with ``cellmeta`` in
the shape image cells have (``provider``, ``model``, ``request_id``, ``model_version``,
``cost_usd``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import numpy as np

from reverie import types as ts
from reverie.config import Config
from reverie.errors import InvalidValueError, ServiceError
from reverie.functions.images import http
from reverie.functions.paid import Answer, PaidCall, PaidFunction, Params, Price
from reverie.functions.udf import CellValue, PoolSettings

# Input tokens from the request's JSON size: English runs about 4 characters a token, so
# the least is priced at 6 and the most at 2 (a budget reserves the most).
CHARS_PER_TOKEN_LOW, CHARS_PER_TOKEN_HIGH = 6, 2
# The output tokens a call that sets no cap is priced at (its worst case).
DEFAULT_MAX_OUT = 8192


@dataclass(frozen=True)
class TokenPrices:
    """USD per million input and output tokens of one text model, and where they come from."""

    usd_in: float
    usd_out: float
    source: str

    def usd(self, tokens_in: float, tokens_out: float) -> float:
        """Money for the given token counts."""
        return round((tokens_in * self.usd_in + tokens_out * self.usd_out) / 1_000_000, 9)


def prices_for(table: Mapping[str, TokenPrices], model: str) -> tuple[TokenPrices, str]:
    """The prices of ``model`` (the longest listed prefix), or the dearest, said so."""
    listed = [m for m in table if model == m or model.startswith(f'{m}-')]
    if listed:
        return table[max(listed, key=len)], ''
    dearest = max(table, key=lambda m: table[m].usd_out)
    return table[dearest], f'no price listed for {model!r}: priced as {dearest!r}; '


def token_cost(
    prices: Mapping[str, TokenPrices],
    model: str,
    usage: Mapping[str, Any],
    tokens: Callable[[Mapping[str, Any]], tuple[float, float]],
) -> float | None:
    """Money for an answer's ``usage``, counted in and out by ``tokens`` (None if malformed)."""
    rates, _ = prices_for(prices, model)
    try:
        return rates.usd(*tokens(usage))
    except (KeyError, TypeError, ValueError):
        return None


def usage_answer(
    request_id: object,
    model_version: object,
    usage: object,
    cost: Callable[[Mapping[str, Any]], float | None],
) -> Answer:
    """An answer's ids, and its money from ``usage`` when it has one (``data`` comes after)."""
    counted = usage if isinstance(usage, dict) else None
    return Answer(
        b'',
        request_id=nonempty_str(request_id),
        model_version=nonempty_str(model_version),
        cost_usd=cost(counted) if counted else None,
        meta={'usage': counted} if counted else {},
    )


def nonempty_str(value: object) -> str | None:
    """``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


class TextService(Protocol):
    """One provider's text endpoint: where to send, how to read the answer."""

    name: str  # the provider, and its pool
    label: str  # how messages name the provider
    operation: str  # 'chat_completions', for the ledger's endpoint
    answer_key: str  # the part every answer must have ('choices', 'candidates')

    def request(self, model: str, base_url: str, key: str) -> tuple[str, dict[str, str]]:
        """The URL and headers of a request (the key travels in a header)."""
        ...

    def failure(self, fail: http.Failure, response: httpx.Response) -> ServiceError:
        """The error an error answer means."""
        ...

    def read(self, model: str, body: Mapping[str, Any], headers: httpx.Headers) -> Answer:
        """Request id, model version and cost of an answer (``data`` is filled in after)."""
        ...


async def send_text(
    service: TextService, model: str, body: Mapping[str, Any], config: Config
) -> Answer:
    """One attempt of ``service``: POST the JSON body, the answer's bytes as received."""
    settings = config.provider(service.name)
    key = http.require_key(settings, service.label)
    fail = http.Failure(service.label, service.operation.replace('_', ' '), key)
    url, headers = service.request(model, settings.base_url, key)
    response = await http.send(
        fail, http.http_client(settings), 'POST', url, paid=True, headers=headers, json=dict(body)
    )
    if response.status_code >= 300:
        raise service.failure(fail, response)
    answer = service.read(model, http.json_object(response.content) or {}, response.headers)
    return dataclasses.replace(answer, data=response.content)


@dataclass(frozen=True)
class TextCall:
    """One text request: the text family's ``PaidCall``."""

    service: TextService
    model: str
    body: Mapping[str, Any]
    prices: TokenPrices
    max_out: int  # the output-token cap the worst case is priced at
    note: str = ''

    @property
    def endpoint(self) -> str:
        """``'openai/chat_completions'`` and so on."""
        return f'{self.service.name}/{self.service.operation}'

    def price(self) -> Price:
        """Input tokens estimated from the request's size; the worst case adds ``max_out``."""
        size = len(json.dumps(self.body))
        low = self.prices.usd(size // CHARS_PER_TOKEN_LOW, 0)
        high = self.prices.usd(math.ceil(size / CHARS_PER_TOKEN_HIGH), self.max_out)
        source = f'{self.note}up to {self.max_out} output tokens; {self.prices.source}'
        return Price(low, high, 'usd', source)

    def fingerprint_fields(self) -> dict[str, Any]:
        """The provider, operation, model and the whole JSON request."""
        return {
            'provider': self.service.name,
            'operation': self.service.operation,
            'model': self.model,
            'body': dict(self.body),
        }

    async def send(self, config: Config) -> Answer:
        """One attempt of the service."""
        return await send_text(self.service, self.model, self.body, config)

    def check_answer(self, data: bytes, call_id: int | None) -> None:
        """A JSON object with a non-empty ``answer_key`` list."""
        key = self.service.answer_key
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get(key), list) or not body[key]:
            raise ServiceError(
                f'{self.service.name} answered without {key!r} ({len(data)} bytes); its bytes '
                f'are kept in the answer journal (rv.calls(), call id {call_id}). Recompute '
                'the cell to ask again.'
            )

    def to_cell(self, answer: Answer) -> CellValue:
        """The response JSON, with its provenance and cost in ``cellmeta``."""
        meta: dict[str, Any] = {
            'provider': self.service.name,
            'model': self.model,
            'request_id': answer.request_id,
            'model_version': answer.model_version,
            'cost_usd': answer.cost_usd,
            **answer.meta,
        }
        return CellValue(json.loads(answer.data), meta)


class EmbeddingService(TextService, Protocol):
    """One provider's embedding endpoint: a text endpoint whose answer holds one vector."""

    def vector(self, body: Mapping[str, Any]) -> object:
        """The answer's vector (None or a non-list when it has none)."""
        ...


@dataclass(frozen=True)
class EmbeddingCall(TextCall):
    """One embedding request: input tokens only; the cell is the vector as float32."""

    service: EmbeddingService

    def price(self) -> Price:
        """Input tokens estimated from the request's size (there are no output tokens)."""
        size = len(json.dumps(self.body))
        low = self.prices.usd(size // CHARS_PER_TOKEN_LOW, 0)
        high = self.prices.usd(math.ceil(size / CHARS_PER_TOKEN_HIGH), 0)
        return Price(low, high, 'usd', f'{self.note}input tokens only; {self.prices.source}')

    def check_answer(self, data: bytes, call_id: int | None) -> None:
        """A JSON object holding a non-empty list of numbers."""
        if _vector_of(self.service, data) is None:
            raise ServiceError(
                f'{self.service.name} answered without an embedding ({len(data)} bytes); its '
                f'bytes are kept in the answer journal (rv.calls(), call id {call_id}). '
                'Recompute the cell to ask again.'
            )

    def to_cell(self, answer: Answer) -> CellValue:
        """The vector (float32), with provenance and cost in ``cellmeta``."""
        cell = super().to_cell(answer)
        return CellValue(_vector_of(self.service, answer.data), cell.meta)


def _vector_of(service: EmbeddingService, data: bytes) -> np.ndarray | None:
    try:
        body = json.loads(data)
        values = service.vector(body) if isinstance(body, dict) else None
        if not isinstance(values, list) or not values:
            return None
        vector = np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError, KeyError):
        return None
    return vector if vector.ndim == 1 and np.isfinite(vector).all() else None


class TokenEndpoint:
    """A text endpoint priced by tokens: how it reads its answers, what its function returns.

    Subclasses say where to send (``request``, ``failure``), the model's token ``prices``,
    the output-token cap a call that sets none is priced at (``max_out``), the answer's
    fields holding its ids and token usage, and how to count the tokens of a ``usage``; an
    answer without them has no request id, version or cost (the ledger prices it).
    """

    name: str
    label: str
    operation: str  # also the function's name
    answer_key: str
    prices: Mapping[str, TokenPrices]
    max_out = DEFAULT_MAX_OUT
    call_type: type[TextCall] = TextCall
    return_type: ts.ColumnType = ts.Json
    id_header = ''  # the header holding the request id, if any
    id_key = 'id'  # else the answer's field holding it
    version_key = 'model'
    usage_key = 'usage'

    def tokens(self, usage: Mapping[str, Any]) -> tuple[float, float]:
        """Tokens in and out of a ``usage``; ``KeyError`` when it lacks one (cost unknown).

        An endpoint whose answers count no tokens keeps this: its cost is never known.
        """
        raise KeyError(self.usage_key)

    def read(self, model: str, body: Mapping[str, Any], headers: httpx.Headers) -> Answer:
        """Request id, model version and cost of an answer (``data`` is filled in after)."""
        request_id = (headers.get(self.id_header) if self.id_header else None) or body.get(
            self.id_key
        )
        return usage_answer(
            request_id,
            body.get(self.version_key),
            body.get(self.usage_key),
            lambda usage: token_cost(self.prices, model, usage, self.tokens),
        )

    def request(self, model: str, base_url: str, key: str) -> tuple[str, dict[str, str]]:
        """The URL and headers of a request (the key travels in a header)."""
        raise NotImplementedError

    def failure(self, fail: http.Failure, response: httpx.Response) -> ServiceError:
        """The error an error answer means."""
        raise NotImplementedError


class EmbeddingEndpoint(TokenEndpoint):
    """A token-priced endpoint whose answer holds one vector: input tokens only."""

    call_type = EmbeddingCall
    return_type = ts.Array[(None,), ts.Float]
    max_out = 0

    def vector(self, body: Mapping[str, Any]) -> object:
        """The answer's vector (None or a non-list when it has none)."""
        raise NotImplementedError


Build = Callable[[Any, dict[str, Any]], tuple[Mapping[str, Any], int | None]]


def paid_text_function(
    service: TokenEndpoint,
    build: Build,
    *,
    arg: tuple[str, ts.ColumnType],
    options: dict[str, ts.ColumnType],
) -> PaidFunction:
    """The ``PaidFunction`` named ``service.operation``, sharing the service's pool.

    The function takes ``(arg, *, model, options..., cache=None)``: one positional argument
    (its name and type), a required ``model``, then ``options`` (None by default) and
    ``cache``. ``build`` turns the argument and the keyword arguments into the request body
    and its output-token cap (None: the service's ``max_out``).
    """

    def pool_for(config: Config) -> PoolSettings:
        s = config.provider(service.name)
        return PoolSettings(
            service.name,
            max_concurrency=s.max_concurrency,
            requests_per_minute=s.requests_per_minute,
        )

    async def prepare_call(
        args: tuple[Any, ...], kwargs: dict[str, Any], config: Config
    ) -> PaidCall | None:
        (first,) = args
        body, cap = build(first, kwargs)
        return text_call(service, kwargs.get('model'), body, cap)

    return PaidFunction(
        prepare_call,
        pool_for=pool_for,
        params=Params(
            dict([arg]),
            {'model': ts.String, **options, 'cache': ts.Bool},
            required=frozenset({'model'}),
        ),
        name=service.operation,
        path=f'reverie.functions.{service.name}.{service.operation}',
        return_type=service.return_type,
    )


def text_call(
    service: TokenEndpoint, model: object, body: Mapping[str, Any], max_out: int | None
) -> TextCall:
    """The call of ``body`` to ``model``, priced from the service's prices (checks the id)."""
    if not isinstance(model, str) or not model:
        example = next(iter(service.prices))
        raise InvalidValueError(f'model must be a model id such as {example!r}, got {model!r}.')
    rates, note = prices_for(service.prices, model)
    return service.call_type(service, model, body, rates, max_out or service.max_out, note)


def check_dict(value: object, arg: str) -> dict[str, Any]:
    """``value`` as a dict of request fields (None: none)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidValueError(f'{arg} must be a dict of request fields, got {value!r}.')
    return dict(value)


def check_cap(value: object, arg: str) -> int | None:
    """An output-token cap: None or a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f'{arg} must be a positive integer, got {value!r}.')
    return value
