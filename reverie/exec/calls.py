"""Calling functions for cells: argument readers, batching, results with metadata.

``CallReader`` reads a call's arguments for one row (built once per call node);
``Batcher`` gathers calls of a batched function from concurrently running rows.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from reverie.exprs import nodes as n
from reverie.exprs.evaluate import evaluate
from reverie.functions.udf import CellValue, Function


class Batcher:
    """Collects calls of a batched function from concurrent rows and runs them together."""

    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self._items: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._scheduled = False

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
        try:
            outputs = call_batched(self.fn, [(a, k) for a, k, _ in items])
        except Exception as e:
            for *_, future in items:
                if not future.done():
                    future.set_exception(e)
            return
        for (*_, future), out in zip(items, outputs, strict=True):
            if not future.done():
                future.set_result(out)


def function_of(call: n.FunctionCall) -> Function:
    fn = call.fn
    assert isinstance(fn, Function)
    return fn


def value_reader(node: n.Node | None) -> Callable[[dict[n.Node, Any]], Any]:
    """A fast function reading ``node``'s value for one row."""
    if node is None:
        return lambda env: None
    if isinstance(node, n.ColumnRef | n.CellProp | n.FunctionCall):
        return operator.itemgetter(node)
    if isinstance(node, n.Literal):
        value = node.value
        return lambda env: value
    return functools.partial(_evaluate_in, node)


def _evaluate_in(node: n.Node, env: dict[n.Node, Any]) -> Any:
    return evaluate(node, env)


class CallReader:
    """Reads a call's arguments for a row; built once per call node and kept."""

    # Weak keys: a reader lives as long as its call node (schemas are reloaded over time).
    _cache: ClassVar[weakref.WeakKeyDictionary[n.FunctionCall, CallReader]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, call: n.FunctionCall) -> None:
        fn = function_of(call)
        self._args = [value_reader(a) for a in call.args]
        self._kwargs = [(k, value_reader(v)) for k, v in call.kwargs]
        positional = [p for p in fn.params if p.kind == 'positional']
        self.required = [
            i
            for i, p in enumerate(positional[: len(call.args)])
            if p.col_type is not None and not p.col_type.nullable
        ]
        self._required_kw = {
            p.name
            for p in fn.params
            if p.kind == 'keyword' and p.col_type is not None and not p.col_type.nullable
        }

    @classmethod
    def of(cls, call: n.FunctionCall) -> CallReader:
        reader = cls._cache.get(call)
        if reader is None:
            reader = cls._cache[call] = cls(call)
        return reader

    def __call__(self, env: dict[n.Node, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        args = tuple([read(env) for read in self._args])
        kwargs = {k: read(env) for k, read in self._kwargs} if self._kwargs else {}
        return args, kwargs

    def skips(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """A None for a parameter that does not accept None: the result is None, no call."""
        for i in self.required:
            if args[i] is None:
                return True
        return any(kwargs.get(k, 0) is None for k in self._required_kw)


def call_batched(fn: Function, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
    n_args = len(calls[0][0])
    columns = [[args[i] for args, _ in calls] for i in range(n_args)]
    kw_names = list(calls[0][1])
    kw_columns = {k: [kwargs[k] for _, kwargs in calls] for k in kw_names}
    outputs = list(fn.py_fn(*columns, **kw_columns))
    if len(outputs) != len(calls):
        raise TypeError(
            f'batched function {fn.name!r} returned {len(outputs)} results for {len(calls)} rows'
        )
    return outputs


def unwrap(value: Any) -> tuple[Any, dict[str, Any] | None]:
    if isinstance(value, CellValue):
        return value.value, value.meta
    return value, None
