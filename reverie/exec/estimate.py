"""Dry runs: what computing some cells would cost, without sending or writing anything.

``estimate_cells`` walks the rows an operation would compute, column by column as the
engine does, and asks the paid-call layer about each paid call (``estimate_call``):
answered before for this cell (journal), answered before anywhere (cache), or a call that
would be made (priced from the provider's price table). A would-be answer is stood in for by
a small blank image, so the columns that read it (a remix of an edit) are counted too.
Free functions run as usual (they cost nothing and may decide whether a call is needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import PIL.Image
import sqlalchemy as sa

from reverie import types as ts
from reverie.exec.caller import NullRule, acall_batched, call_batched, function_of, unwrap
from reverie.exec.paid import PaidRun
from reverie.exec.planner import plan_table
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter
from reverie.functions.paid import PaidFunction, money
from reverie.store.db import ERROR, PENDING, ROWID, VALUE
from reverie.store.ledger_tables import CallSite, calls_table

DEFAULT_LATENCY = 20.0  # seconds per call when nothing was observed (Reve: 15-30 s)


@dataclass(frozen=True)
class Estimate:
    """What an operation would cost; nothing was sent or changed.

    Attributes:
        paid_calls: calls that would be sent.
        cached: calls an earlier answer (cache or journal) would serve at no cost.
        credits_low: least credits (Reve's unit), from the price tables.
        credits_high: most credits (what a credits budget must allow).
        seconds: rough time, from the pool limits and the latency observed in the ledger.
        usd_low: least USD (OpenAI, Gemini, BFL), from the price tables.
        usd_high: most USD (what a USD budget must allow).
    """

    paid_calls: int
    cached: int
    credits_low: float
    credits_high: float
    seconds: float
    usd_low: float = 0.0
    usd_high: float = 0.0

    def __str__(self) -> str:
        cost = [money(self.usd_low, 'usd', self.usd_high)] if self.usd_high else []
        if self.credits_high or not cost:
            cost.insert(0, money(self.credits_low, 'credits', self.credits_high))
        return (
            f'Would make {self.paid_calls} paid call{"" if self.paid_calls == 1 else "s"} '
            f'({self.cached} cached), {" and ".join(cost)}, about {self.seconds:.0f} s; '
            'nothing was changed.'
        )

    def __repr__(self) -> str:
        # The sentence was printed already: a REPL echoes the numbers, not the sentence again.
        return f'Estimate({", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))})'


async def estimate_cells(
    paid: PaidRun,
    schema: TableSchema,
    rows: Sequence[dict[str, Any]],
    targets: set[int] | None,
    *,
    concurrency: int = 8,
) -> Estimate:
    """Estimate computing ``targets`` (column ids; None: the pending cells) of ``rows``.

    Args:
        paid: the paid-call layer of this (dry) run.
        schema: the table, possibly with a column not added yet.
        rows: the rows as stored (SQL column names to values); missing states are pending.
        targets: the columns to compute in every row, or None for each row's pending cells.
        concurrency: calls at once (the pool's limit), for the time estimate.
    """
    plans = plan_table(schema).columns
    for row in rows:
        env: dict[n.Node, Any] = {}
        try:
            for col in schema.columns:
                env[col.ref(schema.id)] = _stored_value(paid, col, row, targets)
            for plan in plans:
                col = plan.column
                if col.expr is None or not _to_compute(col, row, targets):
                    continue
                site = CallSite(schema.id, col.id, row.get(ROWID))
                for call, read_args in plan.precompute:
                    env[call] = await _call(paid, call, read_args, env, site)
                with contextlib.suppress(Exception):
                    env[plan.ref] = unwrap(plan.value(env))[0]
        finally:
            for value in env.values():
                if isinstance(value, PIL.Image.Image):
                    value.close()
    stats = paid.stats
    latency = await _observed_latency(paid)
    seconds = math.ceil(stats.waiting / max(1, concurrency)) * latency
    return Estimate(
        stats.waiting,
        stats.cache_hits + stats.recovered,
        stats.low,
        stats.high,
        seconds,
        stats.low_usd,
        stats.high_usd,
    )


def _to_compute(col: ColumnSchema, row: dict[str, Any], targets: set[int] | None) -> bool:
    if targets is not None:
        return col.id in targets
    return bool(row.get(col.sql.state, PENDING) == PENDING)


def _stored_value(
    paid: PaidRun, col: ColumnSchema, row: dict[str, Any], targets: set[int] | None
) -> Any:
    if col.is_computed and (
        _to_compute(col, row, targets) or row.get(col.sql.state) in (PENDING, ERROR, None)
    ):
        return None
    raw = row.get(col.sql.value)
    if raw is None:
        return None
    if isinstance(col.col_type, ts.ImageType):
        try:
            return paid.media.open(raw)
        except Exception:
            return None
    if row.get(col.sql.state, VALUE) != VALUE:
        return None
    return col.col_type.from_db(raw) if not isinstance(raw, str | int) else raw


async def _call(
    paid: PaidRun,
    call: n.FunctionCall,
    read_args: Getter,
    env: dict[n.Node, Any],
    site: CallSite,
) -> Any:
    fn = function_of(call)
    try:
        args, kwargs = read_args(env)
    except Exception:
        return None
    if NullRule.of(call).skips(args, kwargs):
        return None
    if isinstance(fn, PaidFunction):
        try:
            await estimate_call(paid, fn, args, kwargs, site)
        except Exception:
            return None  # the cell would be an error, with no call
        return _stand_in(call.col_type)
    try:
        if fn.batch_size is not None:  # a batch of one row, as the engine would call it
            if fn.is_async:
                return (await acall_batched(fn, [(args, kwargs)]))[0]
            return call_batched(fn, [(args, kwargs)])[0]
        result = fn.py_fn(*args, **kwargs)
        if fn.is_async:
            result = await result
    except Exception:
        return None
    return result


async def estimate_call(
    paid: PaidRun, fn: PaidFunction, args: tuple[Any, ...], kwargs: dict[str, Any], site: CallSite
) -> bool:
    """Count one call of a dry run (journal, cache or paid); True when it would be made."""
    prepared, cache_allowed = await paid.prepare(fn, args, kwargs)
    if prepared is None:
        return False
    journalled, cached = await asyncio.to_thread(
        paid.ledger.find_answers, paid.fingerprint_of(fn, prepared), site
    )
    stats = paid.stats
    if journalled is not None:
        stats.recovered += 1
        return False
    if cache_allowed and cached is not None:
        stats.cache_hits += 1
        return False
    price = prepared.price()
    stats.waiting += 1
    if price.unit == 'usd':
        stats.low_usd += price.low
        stats.high_usd += price.high
    else:
        stats.low += price.low
        stats.high += price.high
    return True


def _stand_in(col_type: ts.ColumnType | None) -> Any:
    """A value in place of an answer not received (only its type matters downstream)."""
    if isinstance(col_type, ts.ImageType):
        return PIL.Image.new('RGB', (64, 64), (128, 128, 128))
    return None


async def _observed_latency(paid: PaidRun) -> float:
    c = calls_table.c
    query = sa.select(sa.func.avg(c.finished_at - c.started_at)).where(
        c.outcome == 'answered', c.cache_hit == sa.false(), c.finished_at.is_not(None)
    )

    def read() -> float | None:
        with paid.ledger.store.read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else float(value)

    observed = await asyncio.to_thread(read)
    return observed if observed is not None else DEFAULT_LATENCY
