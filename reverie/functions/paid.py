"""Functions whose calls cost money, declared so the engine can call them safely.

A ``PaidFunction`` splits a call in three steps so that everything about money lives in one
layer of the engine (``exec/``), never in a function:

1. ``prepare(args, kwargs, config)``: check the inputs and build the provider request
   (``PaidCall``), or return None when there is nothing to call (a null input); sends nothing.
2. the engine: fingerprint, cache, budget, ledger row, pool, ``provider.send``, journal.
3. ``finish(call, answer)``: turn the provider's answer into the cell value (+ ``cellmeta``).

Outside the engine (or before the paid-call layer handles it), ``py_fn`` runs the three steps
directly with the process's settings, so the function still works on its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reverie.config import Config
from reverie.functions.udf import CellValue, Function, PoolSettings

if TYPE_CHECKING:  # the images package builds on this module; only names for annotations
    from reverie.functions.images.provider import ImageAnswer, ImageProvider, ImageRequest

Prepare = Callable[[tuple[Any, ...], dict[str, Any], Config], Awaitable['PaidCall | None']]
Finish = Callable[['PaidCall', 'ImageAnswer'], CellValue]


@dataclass(frozen=True)
class PaidCall:
    """One request ready to send: which provider, what to send."""

    provider: ImageProvider
    request: ImageRequest


class PaidFunction(Function):
    """A function that calls a paid service; the engine calls it through the paid-call layer.

    Args:
        prepare: checks inputs and builds the request (sends nothing).
        finish: turns an answer into the cell value.
        pool_for: the resource pool's limits, from the open catalog's settings.
        **kwargs: as for ``Function`` (name, path, return_type, param_types, check_call).
    """

    def __init__(
        self,
        prepare: Prepare,
        finish: Finish,
        *,
        pool_for: Callable[[Config], PoolSettings],
        signature: Callable[..., Any],
        **kwargs: Any,
    ) -> None:
        self.prepare = prepare
        self.finish = finish
        self.pool_for = pool_for

        async def run_directly(*args: Any, **kw: Any) -> Any:
            # Only when called outside the engine: the process's settings, no ledger.
            config = Config.load()
            call = await prepare(args, kw, config)
            if call is None:
                return None
            answer = await call.provider.send(call.request, config)
            return finish(call, answer)

        run_directly.__signature__ = inspect.signature(signature)  # type: ignore[attr-defined]
        run_directly.__annotations__ = dict(getattr(signature, '__annotations__', {}))
        super().__init__(run_directly, **kwargs)

    @property
    def pool(self) -> PoolSettings:
        """Limits of the provider's pool, from the current settings."""
        return self.pool_for(Config.load())
