"""Columns that call services: rows claimed a few at a time, one coroutine per row.

A cell starts as soon as the cells it reads are done, and its calls go through their
resource pool; each answer of a service is kept as soon as it arrives (a paid one in the
journal, its cell with the next batch; any other committed at once). Rows are
claimed ahead of the pools (twice what they can run at once), never more, so workers
sharing a backfill each get their part.
"""

from __future__ import annotations

import asyncio
from typing import Any

import PIL.Image

from reverie.errors import RunStoppedError
from reverie.exec.batches import SyncBatches
from reverie.exec.caller import unwrap
from reverie.exec.cells import fetch_rows
from reverie.exec.group_commit import is_pending_marker
from reverie.exec.inputs import Env, Inputs, close_images, input_error, set_cell
from reverie.exec.ledger_writes import STORAGE_ERRORS, storage_stop
from reverie.exec.planner import ColumnPlan
from reverie.exec.runstate import RunState
from reverie.exec.worker import Claimer
from reverie.exec.writer import CellWriter
from reverie.functions.udf import PoolSettings
from reverie.store.db import PENDING, ROWID, VALUE
from reverie.store.ledger_tables import CallSite
from reverie.store.media import source_bytes

ASYNC_ROWS_IN_FLIGHT = 256  # at most, per process; less when the pools are small
INLINE_STORE_BYTES = 256 * 1024  # an image file up to this size is stored without a thread hop


class RowPipeline:
    """The async columns of one run (and the synchronous ones of the same rows)."""

    def __init__(
        self, run: RunState, writer: CellWriter, inputs: Inputs, sync: SyncBatches
    ) -> None:
        self.run = run
        self.writer = writer
        self.inputs = inputs
        self.sync = sync
        self.pools = self._pool_settings()  # one entry per call of the run
        self.rows_ahead = self._rows_ahead()

    def _rows_ahead(self) -> int:
        """Rows to claim and start ahead of the pools: twice what they can run at once.

        Claiming more than a process can soon work on would starve other workers sharing
        the backfill; claiming fewer would leave the pools idle.
        """
        caller = self.run.caller
        limits = [caller.pool(settings).ceiling for settings in self.pools]
        if not limits:
            return ASYNC_ROWS_IN_FLIGHT
        return max(16, min(ASYNC_ROWS_IN_FLIGHT, 2 * sum(limits)))

    def _pool_settings(self) -> list[PoolSettings]:
        """The pools the run's calls go through (one entry per call)."""
        caller = self.run.caller
        found = (caller.pool_settings(c) for p in self.run.plan.in_python for c, _ in p.precompute)
        return [settings for settings in found if settings is not None]

    async def execute(self, claimer: Claimer) -> None:
        """Claim rows batch after batch and run each as a coroutine until none are left."""
        run = self.run
        python = run.plan.in_python
        sync_plans = [p for p in python if not p.is_async]
        async_plans = [p for p in python if p.is_async]
        rows_in_flight = asyncio.Semaphore(self.rows_ahead)
        tasks: set[asyncio.Task[None]] = set()
        paid_pools = [s.name for s in self.pools if s.paid]
        if run.paid is not None and paid_pools:  # first steps run while rows are claimed
            run.paid.warm(paid_pools)
        try:
            while not run.aborted:
                try:
                    batch = await asyncio.to_thread(claimer.next_batch)
                    if not batch:
                        break
                    rows = await asyncio.to_thread(
                        fetch_rows, run.ctx.store, run.schema, batch, run.plan.fetch
                    )
                except STORAGE_ERRORS as e:  # paid-call layer: let the calls in flight end
                    run.stop(storage_stop(e, 'claiming rows'))
                    break
                envs = [self.inputs.env(row) for row in rows]
                self.sync.compute(sync_plans, rows, envs)
                for row, env in zip(rows, envs, strict=True):
                    await rows_in_flight.acquire()
                    if run.aborted:
                        rows_in_flight.release()
                        break
                    task = asyncio.ensure_future(self._run_row(async_plans, row, env))
                    tasks.add(task)

                    def finished(t: asyncio.Task[None]) -> None:
                        tasks.discard(t)
                        rows_in_flight.release()

                    task.add_done_callback(finished)
                if len(batch) < claimer.batch and tasks:
                    # Short: no row was left to claim. Claiming again (for rows another
                    # process gives up) waits until one of these rows is done: it would
                    # delay their calls leaving, and not the answers of the others.
                    await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
            if tasks:
                await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _run_row(self, plans: list[ColumnPlan], row: dict[str, Any], env: Env) -> None:
        rid = row[ROWID]
        pending = [p for p in plans if row[p.column.sql.state] == PENDING]
        done: dict[int, asyncio.Future[None]] = {
            p.column.id: asyncio.get_running_loop().create_future() for p in pending
        }

        async def cell(plan: ColumnPlan) -> None:
            ready = done[plan.column.id]
            try:
                for dep in plan.deps:
                    if dep in done:
                        await done[dep]
                await self._compute_cell(plan, rid, env, ready)
            finally:
                if not ready.done():
                    ready.set_result(None)

        try:
            await asyncio.gather(*(cell(p) for p in pending))
        finally:
            close_images(env)
        self.writer.done_rows.append(rid)
        await self.writer.maybe_flush()

    async def _compute_cell(
        self, plan: ColumnPlan, rid: int, env: Env, ready: asyncio.Future[None]
    ) -> None:
        """Compute one cell; ``ready`` is set once the cells that read it can start."""
        run, writer = self.run, self.writer
        if run.aborted:
            return
        err = input_error(plan, env)
        value: Any = None
        if err is not None:
            result = writer.error_result(rid, plan.column, err)
        else:
            try:
                meta: dict[str, Any] | None = None
                site = CallSite(run.schema.id, plan.column.id, rid)
                for call, read_args in plan.precompute:
                    if run.aborted:
                        return
                    args, kwargs = read_args(env)
                    result_of_call = await run.caller.acall(call, args, kwargs, site)
                    env[call], call_meta = unwrap(result_of_call)
                    meta = call_meta or meta
                value, own_meta = unwrap(plan.value(env))
                meta = own_meta or meta
                if isinstance(value, PIL.Image.Image) and not _small_file(value):
                    # encoding and writing take a while (a small file's bytes are only hashed)
                    result = await asyncio.to_thread(
                        writer.value_result, rid, plan.column, value, meta
                    )
                else:
                    result = writer.value_result(rid, plan.column, value, meta)
            except asyncio.CancelledError:
                raise
            except RunStoppedError as e:  # paid-call layer: the cell stays pending
                run.stop(e)
                return
            except Exception as e:
                if is_pending_marker(e):  # paid-call layer: dry run / stopping: stays pending
                    return
                result = writer.error_result(rid, plan.column, e)
        set_cell(env, plan, result, value)
        writer.record(result)
        # The cells that read this one start now, not after its commit: its answer is in
        # the journal already, and their calls are recorded before they leave.
        ready.set_result(None)
        # An answer of a service (maybe paid for) is committed now, not with the next batch,
        # so a crash loses at most the calls still in flight; free functions batch, as do
        # paid answers already in the journal (their cells are written within
        # FLUSH_SECONDS): a transaction per answer would hold the database (and the
        # interpreter) while the calls that read these cells wait to record theirs.
        kept = (
            result.state == VALUE
            and run.paid is not None
            and run.paid.journalled(rid, plan.column.id)
        )
        await writer.maybe_flush(force=plan.external and not kept, mine=result)


def _small_file(img: PIL.Image.Image) -> bool:
    """Whether storing ``img`` is cheap enough for the event loop: a small file's bytes."""
    data = source_bytes(img)
    return data is not None and len(data) <= INLINE_STORE_BYTES
