"""The one function caller: every call in a query or a computed column goes through here.

- One null rule (``NullRule``): a None for a parameter that does not accept None means the
  function is not called and the result is None; parameters typed ``X | None`` (or untyped)
  receive the None. The same in ``select``, ``where`` and computed columns.
- Plain synchronous functions are compiled inline into the expression's closure
  (``Caller.inline``); batched functions gather rows (``call_batch``, ``Batcher``); async and
  pooled functions run through their resource pool (``acall``), with the pool's limits,
  retries and backoff; paid functions go through the paid-call layer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import Awaitable
from typing import Any, ClassVar

from reverie.exec.context import ExecContext
from reverie.exec.paid import PaidRun
from reverie.exec.pools import Pool
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter
from reverie.functions.paid import PaidFunction
from reverie.functions.udf import CellValue, Function, PoolSettings
from reverie.store.ledger_tables import CallSite

Args = tuple[tuple[Any, ...], dict[str, Any]]


def function_of(call: n.FunctionCall) -> Function:
    """The ``Function`` a call node calls."""
    fn = call.fn
    assert isinstance(fn, Function)
    return fn


def unwrap(value: Any) -> tuple[Any, dict[str, Any] | None]:
    """A result and its cell metadata (from a ``CellValue``), or None."""
    if isinstance(value, CellValue):
        return value.value, value.meta
    return value, None


def is_inline(call: n.FunctionCall) -> bool:
    """Whether a call runs inline while a row is evaluated (plain synchronous functions)."""
    fn = function_of(call)
    return not (fn.is_async or fn.pool is not None or fn.batch_size is not None)


class NullRule:
    """Which arguments of a call must not be None; built once per call node."""

    _cache: ClassVar[weakref.WeakKeyDictionary[n.FunctionCall, NullRule]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, call: n.FunctionCall) -> None:
        fn = function_of(call)
        positional = [p for p in fn.params if p.kind == 'positional']
        self.required = tuple(
            i
            for i, p in enumerate(positional[: len(call.args)])
            if p.col_type is not None and not p.col_type.nullable
        )
        self.required_kw = frozenset(
            p.name
            for p in fn.params
            if p.kind == 'keyword' and p.col_type is not None and not p.col_type.nullable
        )

    @classmethod
    def of(cls, call: n.FunctionCall) -> NullRule:
        rule = cls._cache.get(call)
        if rule is None:
            rule = cls._cache[call] = cls(call)
        return rule

    def skips(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """True when a None reaches a parameter that does not accept None: no call."""
        for i in self.required:
            if args[i] is None:
                return True
        return any(kwargs.get(k, 0) is None for k in self.required_kw)


def inline_call(call: n.FunctionCall, read_args: Getter) -> Getter | None:
    """A closure calling a plain synchronous function for a row, or None for other kinds.

    Used as ``compile_expr(..., calls=inline_call)``: the call happens as the row's value is
    computed (one null rule, see ``NullRule``), and an exception becomes that row's error.
    """
    if not is_inline(call):
        return None
    py_fn = function_of(call).py_fn
    rule = NullRule.of(call)
    if not rule.required and not rule.required_kw:

        def run(env: Any) -> Any:
            args, kwargs = read_args(env)
            result = py_fn(*args, **kwargs)
            return result.value if isinstance(result, CellValue) else result

        return run

    def run_checked(env: Any) -> Any:
        args, kwargs = read_args(env)
        if rule.skips(args, kwargs):
            return None
        result = py_fn(*args, **kwargs)
        return result.value if isinstance(result, CellValue) else result

    return run_checked


class Caller:
    """Calls functions for rows, with the open catalog's pools and settings."""

    def __init__(self, ctx: ExecContext, paid: PaidRun | None = None) -> None:
        self.ctx = ctx
        # The paid-call layer of this run (ledger, journal, cache, budget): every paid call
        # goes through one, the run's own or one for these calls alone.
        self.paid = paid or PaidRun(ctx.settings(), ctx.ledger, ctx.media, ctx.pools)
        self._batchers: dict[int, Batcher] = {}

    def call_batch(self, call: n.FunctionCall, items: list[Args]) -> list[Any]:
        """Results of a batched synchronous function for several rows (None where skipped)."""
        rule = NullRule.of(call)
        fn = function_of(call)
        live = [i for i, (a, k) in enumerate(items) if not rule.skips(a, k)]
        out: list[Any] = [None] * len(items)
        size = fn.batch_size or len(live) or 1
        for start in range(0, len(live), size):
            chunk = live[start : start + size]
            results = call_batched(fn, [items[i] for i in chunk])
            for i, result in zip(chunk, results, strict=True):
                out[i] = result
        return out

    async def acall(
        self,
        call: n.FunctionCall,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        site: CallSite | None = None,
    ) -> Any:
        """Call a function for one row: through its pool, batcher or the paid-call layer.

        ``site`` names the cell (table, column, row) a paid call is made for, for the ledger.
        """
        if NullRule.of(call).skips(args, kwargs):
            return None
        fn = function_of(call)
        if fn.batch_size is not None:
            batcher = self._batchers.get(id(fn))
            if batcher is None:
                batcher = self._batchers[id(fn)] = Batcher(fn)
            return await batcher.submit(args, kwargs)
        if isinstance(fn, PaidFunction):
            return await self.paid.call(fn, args, kwargs, site or CallSite(None))
        settings = self.pool_settings(call)
        if settings is None:
            if fn.is_async:
                return await fn.py_fn(*args, **kwargs)
            return fn.py_fn(*args, **kwargs)
        pool = self.pool(settings)
        if fn.is_async:
            return await pool.run(lambda: fn.py_fn(*args, **kwargs))
        return await pool.run(lambda: asyncio.to_thread(fn.py_fn, *args, **kwargs))

    def pool_settings(self, call: n.FunctionCall) -> PoolSettings | None:
        """The limits of the pool a call goes through (from the open catalog's settings)."""
        fn = function_of(call)
        if isinstance(fn, PaidFunction):
            return dataclasses.replace(fn.pool_for(self.ctx.settings()), paid=True)
        return fn.pool

    def pool(self, settings: PoolSettings) -> Pool:
        """The shared pool of these settings (``PoolSettings.paid``: it starts small)."""
        return self.ctx.pools.get(
            settings.name,
            max_concurrency=settings.max_concurrency,
            requests_per_minute=settings.requests_per_minute,
            max_retries=settings.max_retries,
            slow_start=settings.paid,
        )


class Batcher:
    """Collects calls of a batched function from concurrent rows and runs them together."""

    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self._items: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._items.append((args, kwargs, future))
        if len(self._items) >= (self.fn.batch_size or 1):
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        items, self._items = self._items, []
        if not items:
            return
        calls = [(a, k) for a, k, _ in items]
        if self.fn.is_async:
            task = asyncio.ensure_future(self._settle(items, acall_batched(self.fn, calls)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            outputs = call_batched(self.fn, calls)
        except Exception as e:
            _fail(items, e)
            return
        _resolve(items, outputs)

    async def _settle(
        self,
        items: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]],
        outputs: Awaitable[list[Any]],
    ) -> None:
        try:
            results = await outputs
        except Exception as e:
            _fail(items, e)
            return
        _resolve(items, results)


def _fail(items: list[Any], error: Exception) -> None:
    for *_, future in items:
        if not future.done():
            future.set_exception(error)


def _resolve(items: list[Any], outputs: list[Any]) -> None:
    for (*_, future), out in zip(items, outputs, strict=True):
        if not future.done():
            future.set_result(out)


def _columns(calls: list[Args]) -> tuple[list[list[Any]], dict[str, list[Any]]]:
    n_args = len(calls[0][0])
    columns = [[args[i] for args, _ in calls] for i in range(n_args)]
    kw_columns = {k: [kwargs[k] for _, kwargs in calls] for k in calls[0][1]}
    return columns, kw_columns


def _checked(fn: Function, outputs: Any, n_calls: int) -> list[Any]:
    results = list(outputs)
    if len(results) != n_calls:
        raise TypeError(
            f'batched function {fn.name!r} returned {len(results)} results for {n_calls} rows'
        )
    return results


def call_batched(fn: Function, calls: list[Args]) -> list[Any]:
    """One call of a batched function over several rows' arguments."""
    columns, kw_columns = _columns(calls)
    return _checked(fn, fn.py_fn(*columns, **kw_columns), len(calls))


async def acall_batched(fn: Function, calls: list[Args]) -> list[Any]:
    """``call_batched`` for an async batched function."""
    columns, kw_columns = _columns(calls)
    return _checked(fn, await fn.py_fn(*columns, **kw_columns), len(calls))
