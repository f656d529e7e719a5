"""Compute pending cells of computed columns: incremental, pipelined, committed as it goes.

``compute_pending`` computes every pending cell of a table (or of the rows just inserted).

- Only synchronous functions: batches of rows are read, computed (batched functions get
  lists) and written in one transaction that locks them; batches are sized to ~0.1 s.
- Async functions (API calls): rows are claimed (owner + lease, see ``cells.py``) a few at a
  time, and each row runs as one coroutine: a cell starts as soon as the cells it reads are
  done, and calls go through their resource pool. Each paid answer is journalled as soon as
  it arrives (concurrent ones share a commit); its cell follows within ``FLUSH_SECONDS``.

A failing cell becomes an error cell and never stops the others, unless
``on_error='abort'``, which stops starting new calls, keeps everything finished, and reports
the first failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from reverie.exec.batches import SyncBatches
from reverie.exec.cells import rowid_condition
from reverie.exec.context import ExecContext
from reverie.exec.inputs import Inputs
from reverie.exec.paid import PaidOptions
from reverie.exec.pipeline import RowPipeline
from reverie.exec.planner import TablePlan, plan_table
from reverie.exec.progress import Progress, bar_kind
from reverie.exec.runstate import ComputeStats, OnError, RunState
from reverie.exec.schema import TableSchema
from reverie.exec.worker import Claimer, heartbeat
from reverie.exec.writer import CellWriter
from reverie.store.db import PENDING, ROWID, Store

__all__ = ['ComputeStats', 'ExecContext', 'OnError', 'RunState', 'compute_pending']


async def compute_pending(
    ctx: ExecContext,
    schema: TableSchema,
    *,
    rowids: Sequence[int] | None = None,
    on_error: OnError = 'ignore',
    desc: str = 'Computing cells',
    paid: PaidOptions | None = None,
    on_start: Callable[[RunState], None] | None = None,
) -> ComputeStats:
    """Compute every pending cell (of ``rowids``, or of the whole table).

    Raises ``RunStoppedError`` (after writing what finished) when a paid call could cross
    the budget, storage fails or the service refuses every call; the rest stay pending.
    """
    plan = plan_for(schema)
    run = RunState(ctx, schema, on_error, plan, paid)
    if on_start is not None:
        on_start(run)
    writer = CellWriter(run)
    inputs = Inputs(plan, ctx.media)
    sync = SyncBatches(run, writer, inputs)
    rows = RowPipeline(run, writer, inputs, sync)
    total = 0  # only a bar needs it: counting reads every row (0.2 s at 1M rows)
    if bar_kind(ctx.progress) != 'off':
        total = await asyncio.to_thread(_count_pending, ctx.store, schema, rowids)
    run.progress = Progress(total, desc, enabled=ctx.progress)
    beat = asyncio.ensure_future(heartbeat(ctx.store, schema))
    claimer = Claimer(ctx.store, schema, rowids, batch=rows.rows_ahead)
    try:
        if plan.in_sql:  # a hop to a thread for nothing costs a trip round the loop
            await asyncio.to_thread(sync.compute_in_sql, rowids)
        if any(p.is_async for p in plan.in_python):
            await rows.execute(claimer)
        elif plan.in_python:
            await sync.execute(claimer)
    except asyncio.CancelledError:
        run.stats.interrupted = True
        raise
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        run.progress.close()
        await writer.settle()  # its timed flush ends before the claims go
        await asyncio.shield(asyncio.to_thread(writer.flush_and_release))
        run.stats.busy_elsewhere = claimer.busy_elsewhere
    if run.stop_error is not None:  # paid-call layer: cells left pending, loudly
        raise run.stop_error
    return run.stats


def _count_pending(store: Store, schema: TableSchema, rowids: Sequence[int] | None) -> int:
    t = schema.sa_table
    terms = [
        sa.func.coalesce(sa.func.sum(sa.case((t.c[c.sql.state] == PENDING, 1), else_=0)), 0)
        for c in schema.computed()
    ]
    if not terms:
        return 0
    query = sa.select(*terms)
    if rowids is not None:
        if not rowids:
            return 0
        query = query.where(rowid_condition(t.c[ROWID], rowids))
    with store.read() as conn:
        row = conn.execute(query).one()
    return int(sum(row))


_plans: dict[tuple[int, int], tuple[TableSchema, TablePlan]] = {}


def plan_for(schema: TableSchema) -> TablePlan:
    """The plan of a table's computed columns, made once per schema version."""
    key = (schema.id, schema.version)
    cached = _plans.get(key)
    if cached is not None and cached[0] is schema:
        return cached[1]
    plan = plan_table(schema)
    if len(_plans) > 256:
        _plans.clear()
    _plans[key] = (schema, plan)
    return plan
