"""Functions whose calls cost money, declared so the engine can call them safely.

A ``PaidFunction`` splits a call so that everything about money lives in one layer of the
engine (``exec/paid.py``), which knows no family of functions (images, text, ...):

1. ``prepare(args, kwargs, config)``: check the inputs and build a ``PaidCall``, or return
   None when there is nothing to call (a null input); sends nothing.
2. the engine: fingerprint (``call.fingerprint_fields()``), cache, budget
   (``call.price()``), ledger row, pool, ``call.send(config)``, journal.
3. ``call.check_answer(data)`` then ``call.to_cell(answer)``: the family checks the answer's
   bytes (an image decodes, a JSON body has its parts) and turns it into the cell value.

Outside the engine, ``py_fn`` runs the steps directly with the process's settings, so the
function still works on its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from reverie import types as ts
from reverie.config import Config
from reverie.errors import InvalidValueError
from reverie.functions.udf import CellValue, Function, PoolSettings

Unit = Literal['credits', 'usd']
UNITS: tuple[Unit, ...] = ('credits', 'usd')


def money(amount: float, unit: str, high: float | None = None) -> str:
    """An amount (or a range up to ``high``) with its unit: ``18 credits``, ``$0.03-0.34``."""
    text = number(amount) if high is None or high == amount else f'{number(amount)}-{number(high)}'
    return f'${text}' if unit == 'usd' else f'{text} credits'


def number(x: float) -> str:
    """``18``, ``0.25``, ``0.0042``: an amount as the summaries print it."""
    if float(x).is_integer():
        return str(int(x))
    return f'{x:.2f}' if abs(x) >= 0.01 else f'{x:.4f}'


@dataclass(frozen=True)
class Budget:
    """A spend cap in each unit: ``rv.Budget(credits=500)``, ``rv.Budget(usd=5)``, or both.

    A unit left out has no cap. A bare number given as ``budget=`` means the provider's own
    unit, and is refused when the calls it would cap are priced in both units.
    """

    credits: float | None = None
    usd: float | None = None

    def __post_init__(self) -> None:
        for unit in UNITS:
            value = getattr(self, unit)
            if value is not None and (isinstance(value, bool) or not value >= 0):
                raise InvalidValueError(f'Budget({unit}=...) must be a number >= 0, got {value!r}.')
        if self.credits is None and self.usd is None:
            raise InvalidValueError('Budget() needs credits=..., usd=..., or both.')

    def limit(self, unit: str) -> float | None:
        """The cap in ``unit`` (None: no cap)."""
        return self.usd if unit == 'usd' else self.credits

    def __str__(self) -> str:
        return ' and '.join(money(v, u) for u in UNITS if (v := self.limit(u)) is not None)


@dataclass(frozen=True)
class Price:
    """What one request may cost: ``low`` to ``high`` in the provider's unit (or USD).

    ``high`` is the worst case a budget reserves before the request leaves; a dry run
    reports the range.
    """

    low: float
    high: float
    unit: Unit = 'credits'  # 'credits' (Reve) or 'usd'
    source: str = ''  # where the figure comes from (price table and its date, or usage)


@dataclass(frozen=True)
class Answer:
    """What a paid service answered, as the journal keeps it.

    Attributes:
        data: the answer's bytes as received (an image file, a JSON body).
        request_id: the provider's id for the request, when it gives one.
        model_version: the resolved model (version) that answered.
        credits: what the provider says it charged, in its own unit, or None.
        cost_usd: the money charged, from usage fields or the price table, or None.
        meta: anything else worth keeping beside the cell (usage, seed, ...).
    """

    data: bytes
    request_id: str | None = None
    model_version: str | None = None
    credits: float | None = None
    cost_usd: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


class PaidCall(Protocol):
    """One request ready to send, declared by its family (images, text...)."""

    @property
    def endpoint(self) -> str:
        """``'<provider>/<operation>'``, for the ledger."""
        ...

    def price(self) -> Price:
        """The cost range of the request (sends nothing)."""
        ...

    def fingerprint_fields(self) -> dict[str, Any]:
        """Every field that makes two requests the same (hashes for bytes)."""
        ...

    async def send(self, config: Config) -> Answer:
        """One attempt; raises ``ServiceError`` (saying ``maybe_charged`` when unsure)."""
        ...

    def check_answer(self, data: bytes, call_id: int | None) -> None:
        """Refuse an answer the cell cannot take (``ServiceError``; the bytes stay journalled)."""
        ...

    def to_cell(self, answer: Answer) -> CellValue:
        """The cell value and its ``cellmeta``."""
        ...


@dataclass(frozen=True)
class Params:
    """The parameters of a paid function, declared once: its signature and column types.

    A positional parameter is required unless ``defaults`` names it; a keyword-only one
    defaults to ``defaults.get(name)`` (None) and takes None, unless ``required`` names it.

    Examples:
        >>> p = Params({'prompt': ts.String}, {'model': ts.String}, {'model': 'm'})
        >>> p.signature()
        <Signature (prompt, *, model='m')>
    """

    positional: Mapping[str, ts.ColumnType]
    keyword: Mapping[str, ts.ColumnType] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: frozenset[str] = frozenset()

    @property
    def types(self) -> dict[str, ts.ColumnType]:
        """The column type of every parameter (an optional keyword's takes None)."""
        keyword = {
            k: t if k in self.required else t.copy(nullable=True) for k, t in self.keyword.items()
        }
        return {**self.positional, **keyword}

    def signature(self) -> inspect.Signature:
        """The Python signature: ``(positional..., *, keyword...)``."""
        P = inspect.Parameter
        where = P.POSITIONAL_OR_KEYWORD
        params = [P(k, where, default=self.defaults.get(k, P.empty)) for k in self.positional]
        for name in self.keyword:
            required = name in self.required and name not in self.defaults
            default = P.empty if required else self.defaults.get(name)
            params.append(P(name, P.KEYWORD_ONLY, default=default))
        return inspect.Signature(params)


Prepare = Callable[[tuple[Any, ...], dict[str, Any], Config], Awaitable[PaidCall | None]]


class PaidFunction(Function):
    """A function that calls a paid service; the engine calls it through the paid-call layer.

    Args:
        prepare: checks inputs and builds the request (sends nothing).
        pool_for: the resource pool's limits, from the open catalog's settings.
        params: the parameters the call takes.
        **kwargs: as for ``Function`` (name, path, return_type, check_call).
    """

    def __init__(
        self,
        prepare: Prepare,
        *,
        pool_for: Callable[[Config], PoolSettings],
        params: Params,
        **kwargs: Any,
    ) -> None:
        self.prepare = prepare
        self.pool_for = pool_for

        async def run_directly(*args: Any, **kw: Any) -> Any:
            # Only when called outside the engine: the process's settings, no ledger.
            config = Config.load()
            kw.pop('cache', None)
            call = await prepare(args, kw, config)
            if call is None:
                return None
            answer = await call.send(config)
            call.check_answer(answer.data, None)
            return call.to_cell(answer)

        run_directly.__signature__ = params.signature()  # type: ignore[attr-defined]
        super().__init__(run_directly, param_types=params.types, **kwargs)

    @property
    def pool(self) -> PoolSettings:
        """Limits of the provider's pool, from the current settings."""
        return self.pool_for(Config.load())
