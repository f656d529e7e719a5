"""Compute pending cells of computed columns: incremental, pipelined, committed as it goes.

``compute_pending`` computes every pending cell of a table (or of the rows just inserted).

- Only synchronous functions: batches of rows are read, computed (batched functions get
  lists) and written in one transaction that locks them; batches are sized to ~0.1 s.
- Async functions (API calls): rows are claimed (owner + lease, see ``cells.py``) a few at a
  time, and each row runs as one coroutine: a cell starts as soon as the cells it reads are
  done, and calls go through their resource pool. Each paid result is committed as soon as
  it arrives (concurrent ones share a commit).

A failing cell becomes an error cell and never stops the others, unless
``on_error='abort'``, which stops starting new calls, keeps everything finished, and reports
the first failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import PIL.Image
import sqlalchemy as sa

from reverie.errors import RunStoppedError, ServiceError
from reverie.exec.caller import Caller, function_of, unwrap
from reverie.exec.cells import (
    LEASE_SECONDS,
    CellResult,
    Claimer,
    count_held_elsewhere,
    fetch_rows,
    pending_condition,
    release_claims,
    renew_claims,
    rowid_condition,
    unclaimed_condition,
    write_results,
    write_results_in,
)
from reverie.exec.codec import decoder, encode_result
from reverie.exec.context import ExecContext
from reverie.exec.paid import (
    STORAGE_ERRORS,
    PaidOptions,
    PaidRun,
    PaidStats,
    is_pending_marker,
    storage_stop,
)
from reverie.exec.planner import ColumnPlan, PlainCall, TablePlan, plan_table
from reverie.exec.progress import Progress
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter
from reverie.store.db import ERROR, PENDING, ROWID, VALUE, Store
from reverie.store.ledger import CallSite
from reverie.types import plain_value_ok

OnError = Literal['abort', 'ignore']
FLUSH_CELLS = 64
FLUSH_SECONDS = 0.25
ASYNC_ROWS_IN_FLIGHT = 256  # at most, per process; less when the pools are small
LOCKED_FIRST_BATCH = 16
LOCKED_MIN_BATCH = 8
LOCKED_MAX_BATCH = 4096
LOCKED_BATCH_SECONDS = 0.1
SQL_BATCH_ROWS = 250_000  # rows per UPDATE of a column the database computes

__all__ = ['ComputeStats', 'ExecContext', 'OnError', 'compute_pending']


@dataclass
class ComputeStats:
    """Counts of one computation."""

    cells: int = 0
    errors: int = 0
    cols_with_errors: set[str] = field(default_factory=set)
    busy_elsewhere: int = 0
    first_error: CellResult | None = None
    interrupted: bool = False
    paid: PaidStats | None = None  # paid-call layer


class _InputError:
    """Marks an input that cannot be used (a failed upstream cell, a missing file)."""

    def __init__(self, errortype: str, errormsg: str) -> None:
        self.errortype = errortype
        self.errormsg = errormsg


async def compute_pending(
    ctx: ExecContext,
    schema: TableSchema,
    *,
    rowids: Sequence[int] | None = None,
    on_error: OnError = 'ignore',
    desc: str = 'Computing cells',
    paid: PaidOptions | None = None,
    on_start: Callable[[_Run], None] | None = None,
) -> ComputeStats:
    """Compute every pending cell (of ``rowids``, or of the whole table).

    Raises ``RunStoppedError`` (after writing what finished) when a paid call could cross
    the budget, storage fails or the service refuses every call; the rest stay pending.
    """
    run = _Run(ctx, schema, on_error, plan_for(schema), paid)
    if on_start is not None:
        on_start(run)
    total = await asyncio.to_thread(_count_pending, ctx.store, schema, rowids)
    run.progress = Progress(total, desc, enabled=ctx.progress)
    heartbeat = asyncio.ensure_future(_heartbeat(ctx.store, schema))
    claimer = Claimer(ctx.store, schema, rowids, batch=run.rows_ahead)
    try:
        await asyncio.to_thread(run.compute_in_sql, rowids)
        if run.plan.in_python:
            await run.execute(claimer)
    except asyncio.CancelledError:
        run.stats.interrupted = True
        raise
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        run.progress.close()
        await asyncio.shield(asyncio.to_thread(run.flush_and_release))
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


async def _heartbeat(store: Store, schema: TableSchema) -> None:
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        with contextlib.suppress(*STORAGE_ERRORS):  # a locked database: renew next time
            await asyncio.to_thread(renew_claims, store, schema)


class _Run:
    """State of one ``compute_pending`` call."""

    def __init__(
        self,
        ctx: ExecContext,
        schema: TableSchema,
        on_error: OnError,
        plan: TablePlan,
        paid_options: PaidOptions | None = None,
    ) -> None:
        self.ctx = ctx
        self.schema = schema
        self.on_error = on_error
        self.plan = plan
        # paid-call layer: every PaidFunction call of this run goes through self.paid
        self.paid: PaidRun | None = None
        self.stop_error: RunStoppedError | None = None
        if ctx.ledger is not None:
            options = paid_options or PaidOptions()
            self.paid = PaidRun(
                ctx.settings(), ctx.ledger, ctx.media, ctx.pools, options, schema.id
            )
        self.caller = Caller(ctx, self.paid)
        self.stats = ComputeStats(paid=self.paid.stats if self.paid else None)
        self.progress = Progress(0, '', enabled=False)
        self._buffer: list[CellResult] = []
        self._done_rows: list[int] = []
        self._last_flush = time.monotonic()
        self._flush_lock = asyncio.Lock()
        self._batch_lock = threading.Lock()
        self._decoders = [decoder(i.column.col_type, self._open_image) for i in plan.inputs]
        self.rows_ahead = self._rows_ahead()

    @property
    def aborted(self) -> bool:
        if self.stop_error is not None or (self.paid is not None and self.paid.stopping):
            return True  # paid-call layer: stopped (budget, storage, Ctrl-C)
        return self.on_error == 'abort' and self.stats.first_error is not None

    def _rows_ahead(self) -> int:
        """Rows to claim and start ahead of the pools: twice what they can run at once.

        Claiming more than a process can soon work on would starve other workers sharing
        the backfill; claiming fewer would leave the pools idle.
        """
        limits: list[int] = []
        for plan in self.plan.in_python:
            for call, _ in plan.precompute:
                settings = self.caller.pool_settings(call)
                if settings is not None:
                    limits.append(self.caller.pool(settings).ceiling)
        if not limits:
            return ASYNC_ROWS_IN_FLIGHT
        return max(16, min(ASYNC_ROWS_IN_FLIGHT, 2 * sum(limits)))

    # -- columns the database computes -------------------------------------------------
    def compute_in_sql(self, rowids: Sequence[int] | None) -> None:
        """Write the columns the database computes: one UPDATE per range of rows."""
        in_sql = self.plan.in_sql
        if not in_sql or self.aborted:
            return
        store, t = self.ctx.store, self.schema.sa_table
        rid = t.c[ROWID]
        if rowids is not None:
            if not rowids:
                return
            lo, hi = min(rowids), max(rowids)
        else:
            with store.read() as conn:
                lo, hi = conn.execute(sa.select(sa.func.min(rid), sa.func.max(rid))).one()
            if lo is None:
                return
        for start in range(lo, hi + 1, SQL_BATCH_ROWS):
            end = min(hi, start + SQL_BATCH_ROWS - 1)
            with store.begin() as conn:
                for plan in in_sql:
                    sql = plan.column.sql
                    assert plan.sql is not None
                    done = conn.execute(
                        sa.update(t)
                        .where(rid.between(start, end), t.c[sql.state] == PENDING)
                        .values({sql.value: plan.sql, sql.state: VALUE})
                    ).rowcount
                    self.stats.cells += done
                    self.progress.update(done)

    # -- driving ---------------------------------------------------------------
    async def execute(self, claimer: Claimer) -> None:
        python = self.plan.in_python
        sync_plans = [p for p in python if not p.is_async]
        async_plans = [p for p in python if p.is_async]
        if not async_plans:
            await self._execute_locked_batches(claimer)
            return
        rows_in_flight = asyncio.Semaphore(self.rows_ahead)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not self.aborted:
                try:
                    batch = await asyncio.to_thread(claimer.next_batch)
                    rows = await asyncio.to_thread(
                        fetch_rows, self.ctx.store, self.schema, batch, self.plan.fetch
                    )
                except STORAGE_ERRORS as e:  # paid-call layer: let the calls in flight end
                    self.stop_error = self.stop_error or storage_stop(e, 'claiming rows')
                    break
                if not batch:
                    break
                envs = [self._env(row) for row in rows]
                self._compute_sync(sync_plans, rows, envs)
                if not async_plans:
                    self._done_rows.extend(r[ROWID] for r in rows)
                    await self._maybe_flush(force=True)
                    continue
                for row, env in zip(rows, envs, strict=True):
                    await rows_in_flight.acquire()
                    if self.aborted:
                        rows_in_flight.release()
                        break
                    task = asyncio.ensure_future(self._run_row(async_plans, row, env))
                    tasks.add(task)

                    def finished(t: asyncio.Task[None]) -> None:
                        tasks.discard(t)
                        rows_in_flight.release()

                    task.add_done_callback(finished)
            if tasks:
                await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _execute_locked_batches(self, claimer: Claimer) -> None:
        """Compute synchronous columns, each batch in one transaction that locks its rows.

        The lock is SQLite's write lock, or ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so no
        claims need writing. Batches are sized to take ~0.1 s: the lock is never held long,
        however slow the functions are.
        """
        rowids = claimer.rowids
        after, pos, size = 0, 0, LOCKED_FIRST_BATCH
        while not self.aborted:
            chunk = None
            if rowids is not None:
                chunk = list(rowids[pos : pos + size])
                pos += len(chunk)
                if not chunk:
                    break
            start = time.perf_counter()
            last, n_rows = await asyncio.to_thread(self._locked_batch, chunk, after, size)
            if rowids is None:
                if last is None:
                    break
                after = last
            per_row = (time.perf_counter() - start) / max(n_rows, 1)
            size = int(min(LOCKED_MAX_BATCH, max(LOCKED_MIN_BATCH, LOCKED_BATCH_SECONDS / per_row)))
        claimer.busy_elsewhere = await asyncio.to_thread(
            count_held_elsewhere, self.ctx.store, self.schema, rowids
        )

    def _locked_batch(
        self, chunk: list[int] | None, after: int, size: int
    ) -> tuple[int | None, int]:
        """Compute one batch of rows; returns (last rowid, rows) or (None, 0) when done."""
        store, t = self.ctx.store, self.schema.sa_table
        names = [ROWID, *(c for c in self.plan.fetch if c != ROWID)]
        query = sa.select(*(t.c[c] for c in names)).where(
            pending_condition(self.schema), unclaimed_condition(self.schema)
        )
        if chunk is not None:
            query = query.where(t.c[ROWID].in_(chunk))
        else:
            query = query.where(t.c[ROWID] > after)
        query = query.order_by(t.c[ROWID]).limit(size)
        if not store.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        with self._batch_lock, store.begin() as conn:
            if self.plan.plain is not None:
                raw = conn.execute(query).all()
                if not raw:
                    return (None if chunk is None else after), 0
                values = self._compute_plain(self.plan.plain, raw, names)
                results, self._buffer = self._buffer, []
                done = [r[0] for r in raw] if chunk is not None else []
                write_results_in(conn, store, self.schema, results, done, values)
                return raw[-1][0], len(raw)
            rows = [dict(zip(names, r, strict=True)) for r in conn.execute(query)]
            if not rows:
                return (None if chunk is None else after), 0
            envs = [self._env(row) for row in rows]
            try:
                self._compute_sync(self.plan.in_python, rows, envs)
            finally:
                if self.plan.has_images:
                    for env in envs:
                        _close_images(env)
            results, self._buffer = self._buffer, []
            done = [r[ROWID] for r in rows] if chunk is not None else []
            write_results_in(conn, store, self.schema, results, done)
        return rows[-1][ROWID], len(rows)

    # -- inputs ----------------------------------------------------------------
    def _env(self, row: dict[str, Any]) -> dict[n.Node, Any]:
        env: dict[n.Node, Any] = {}
        for (col, ref, sql, props), decode in zip(self.plan.inputs, self._decoders, strict=True):
            raw = row[sql.value]
            for prop, key in props:
                env[prop] = row[key]
            if col.is_computed:
                state = row[sql.state]
                if state == ERROR:
                    env[ref] = _InputError(
                        'UpstreamError',
                        f'column {col.name!r} failed: {row[sql.errortype]}: {row[sql.errormsg]}',
                    )
                    continue
                if state != VALUE:
                    env[ref] = None
                    continue
            if decode is None or raw is None:
                env[ref] = raw
                continue
            try:
                env[ref] = decode(raw)
            except Exception as e:
                env[ref] = _InputError(
                    'MediaError', f'image of column {col.name!r} cannot be read ({e})'
                )
        return env

    def _open_image(self, ref: str) -> PIL.Image.Image:
        return self.ctx.media.open(ref)

    # -- synchronous columns, a chunk of rows at a time --------------------------
    def _compute_sync(
        self,
        plans: Sequence[ColumnPlan],
        rows: list[dict[str, Any]],
        envs: list[dict[n.Node, Any]],
    ) -> None:
        for plan in plans:
            state_key = plan.column.sql.state
            todo = [
                (row, env) for row, env in zip(rows, envs, strict=True) if row[state_key] == PENDING
            ]
            if not todo or self.aborted:
                continue
            failed: dict[int, BaseException | _InputError] = {}
            live = []
            for row, env in todo:
                err = self._input_error(plan, env)
                if err is not None:
                    failed[row[ROWID]] = err
                else:
                    live.append((row, env))
            for call, read_args in plan.precompute:  # batched functions: all rows at once
                self._batch_sync(
                    call, read_args, [(r, e) for r, e in live if r[ROWID] not in failed], failed
                )
            read_value = plan.value
            for row, env in todo:
                rid = row[ROWID]
                value: Any = None
                if rid in failed:
                    result = self._error_result(rid, plan.column, failed[rid])
                else:
                    try:
                        value, meta = unwrap(read_value(env))
                        result = self._value_result(rid, plan.column, value, meta)
                    except Exception as e:
                        result = self._error_result(rid, plan.column, e)
                _set_cell(env, plan, result, value)
                row[state_key] = result.state
                self._record(result)

    def _compute_plain(
        self, calls: Sequence[PlainCall], raw: Sequence[Any], names: list[str]
    ) -> dict[int, list[tuple[Any, int]]]:
        """The fast path of ``_compute_sync``, for columns that are plain calls.

        Anything unusual (a CellValue, a value needing conversion) takes the general checks.
        Returns the plain values, ``(value, rowid)`` per column id; everything else (errors,
        converted values) is recorded as usual.
        """
        index = {name: i for i, name in enumerate(names)}
        out: dict[int, list[tuple[Any, int]]] = {}
        for call in calls:
            col = call.plan.column
            state_i = index[col.sql.state]
            getters = [(index[c] if c is not None else None, lit) for c, lit in call.args]
            py_fn, plain, required = call.py_fn, call.plain, call.required
            values = out.setdefault(col.id, [])
            for r in raw:
                if r[state_i] != PENDING:
                    continue
                rid = r[0]
                args = [r[i] if i is not None else lit for i, lit in getters]
                if any(args[i] is None for i in required):
                    values.append((None, rid))
                    continue
                try:
                    value = py_fn(*args)
                    if value is None or (type(value) is plain and plain_value_ok(value)):
                        values.append((value, rid))
                        continue
                    value, meta = unwrap(value)
                    result = self._value_result(rid, col, value, meta)
                except Exception as e:
                    result = self._error_result(rid, col, e)
                self._record(result)
            self.stats.cells += len(values)
            self.progress.update(len(values))
            if self.aborted:
                break
        return out

    def _batch_sync(
        self,
        call: n.FunctionCall,
        read_args: Getter,
        live: list[tuple[dict[str, Any], dict[n.Node, Any]]],
        failed: dict[int, BaseException | _InputError],
    ) -> None:
        """Results of a batched function for rows of a synchronous batch, into their envs."""
        prepared = []
        for row, env in live:
            try:
                prepared.append((row, env, read_args(env)))
            except Exception as e:
                failed[row[ROWID]] = e
        fn_batch = function_of(call).batch_size or len(prepared) or 1
        for start in range(0, len(prepared), fn_batch):
            chunk = prepared[start : start + fn_batch]
            try:
                outputs = self.caller.call_batch(call, [args for _, _, args in chunk])
            except Exception as e:
                for row, *_ in chunk:
                    failed[row[ROWID]] = e
                continue
            for (_, env, _), out in zip(chunk, outputs, strict=True):
                env[call] = out

    # -- asynchronous columns, one coroutine per row -----------------------------
    async def _run_row(
        self, plans: list[ColumnPlan], row: dict[str, Any], env: dict[n.Node, Any]
    ) -> None:
        rid = row[ROWID]
        pending = [p for p in plans if row[p.column.sql.state] == PENDING]
        done: dict[int, asyncio.Future[None]] = {
            p.column.id: asyncio.get_running_loop().create_future() for p in pending
        }

        async def cell(plan: ColumnPlan) -> None:
            try:
                for dep in plan.deps:
                    if dep in done:
                        await done[dep]
                await self._compute_cell_async(plan, rid, env)
            finally:
                if not done[plan.column.id].done():
                    done[plan.column.id].set_result(None)

        try:
            await asyncio.gather(*(cell(p) for p in pending))
        finally:
            _close_images(env)
        self._done_rows.append(rid)
        await self._maybe_flush()

    async def _compute_cell_async(self, plan: ColumnPlan, rid: int, env: dict[n.Node, Any]) -> None:
        if self.aborted:
            return
        err = self._input_error(plan, env)
        value: Any = None
        if err is not None:
            result = self._error_result(rid, plan.column, err)
        else:
            try:
                meta: dict[str, Any] | None = None
                site = CallSite(self.schema.id, plan.column.id, rid)
                for call, read_args in plan.precompute:
                    if self.aborted:
                        return
                    args, kwargs = read_args(env)
                    result_of_call = await self.caller.acall(call, args, kwargs, site)
                    env[call], call_meta = unwrap(result_of_call)
                    meta = call_meta or meta
                value, own_meta = unwrap(plan.value(env))
                meta = own_meta or meta
                if isinstance(value, PIL.Image.Image):  # encoding and writing take a while
                    result = await asyncio.to_thread(
                        self._value_result, rid, plan.column, value, meta
                    )
                else:
                    result = self._value_result(rid, plan.column, value, meta)
            except asyncio.CancelledError:
                raise
            except RunStoppedError as e:  # paid-call layer: the cell stays pending
                self.stop_error = self.stop_error or e
                return
            except Exception as e:
                if is_pending_marker(e):  # paid-call layer: dry run / stopping: stays pending
                    return
                result = self._error_result(rid, plan.column, e)
        _set_cell(env, plan, result, value)
        self._record(result)
        # An answer of a service (maybe paid for) is committed now, not with the next batch,
        # so a crash loses at most the calls still in flight; free functions batch.
        await self._maybe_flush(force=plan.external, mine=result)

    # -- results ---------------------------------------------------------------
    def _input_error(self, plan: ColumnPlan, env: dict[n.Node, Any]) -> _InputError | None:
        if plan.column.load_error is not None:
            return _InputError('FunctionNotFound', plan.column.load_error)
        for ref in plan.fallible:
            value = env.get(ref)
            if isinstance(value, _InputError):
                return value
        return None

    def _value_result(
        self, rid: int, col: ColumnSchema, value: Any, meta: dict[str, Any] | None
    ) -> CellResult:
        try:
            stored = encode_result(col.col_type, col.name, value, self.ctx.media)
        except OSError as e:  # paid-call layer: a full/read-only media folder stops the run
            raise storage_stop(e, f'storing a value of column {col.name!r}') from None
        return CellResult(rid, col, VALUE, stored, meta=meta)

    def _error_result(
        self, rid: int, col: ColumnSchema, err: BaseException | _InputError
    ) -> CellResult:
        if isinstance(err, _InputError):
            return CellResult(rid, col, ERROR, None, err.errortype, err.errormsg)
        msg = str(err) or type(err).__name__
        if isinstance(err, ServiceError) and err.request_id and err.request_id not in msg:
            msg = f'{msg} (request id {err.request_id})'
        return CellResult(rid, col, ERROR, None, type(err).__name__, msg)

    def _record(self, result: CellResult) -> None:
        self._buffer.append(result)
        self.stats.cells += 1
        is_error = result.state == ERROR
        if is_error:
            self.stats.errors += 1
            self.stats.cols_with_errors.add(result.column.name)
            if self.stats.first_error is None:
                self.stats.first_error = result
        self.progress.update(1, errors=int(is_error))

    def _flush_due(self) -> bool:
        return (
            len(self._buffer) >= FLUSH_CELLS
            or len(self._done_rows) >= FLUSH_CELLS
            or time.monotonic() - self._last_flush > FLUSH_SECONDS
        )

    async def _maybe_flush(self, *, force: bool = False, mine: CellResult | None = None) -> None:
        """Write buffered results when enough have gathered, or at once with ``force``.

        ``force`` is for answers of a service (maybe paid for). Concurrent flushes queue on
        one lock, and each takes whatever has arrived by then, so answers are committed as
        soon as they come (group commit) without a transaction per cell: a forced flush
        whose cell (``mine``) an earlier one wrote has nothing to do.
        """
        if not (force or self._flush_due()) or not (self._buffer or self._done_rows):
            return
        async with self._flush_lock:
            if not (self._buffer or self._done_rows):
                return
            if force and mine is not None and not any(r is mine for r in self._buffer):
                return  # written by the flush before
            if not force and not self._flush_due():
                return
            results, self._buffer = self._buffer, []
            rows, self._done_rows = self._done_rows, []
            self._last_flush = time.monotonic()
            try:
                await asyncio.shield(asyncio.to_thread(self._write, results, rows))
            except RunStoppedError as e:  # paid-call layer: keep them for the final flush
                self._buffer[:0], self._done_rows[:0] = results, rows
                self.stop_error = self.stop_error or e

    def _write(self, results: list[CellResult], rows: list[int]) -> None:
        """Write results; a storage failure becomes ``RunStoppedError`` (cells stay pending)."""
        call_ids = (
            self.paid.take_delivered([(r.rowid, r.column.id) for r in results]) if self.paid else []
        )
        try:
            write_results(self.ctx.store, self.schema, results, rows, call_ids)
        except STORAGE_ERRORS as e:
            if self.paid is not None:
                self.paid.delivered.update(
                    {(r.rowid, r.column.id): i for r, i in zip(results, call_ids, strict=False)}
                )
            raise storage_stop(e, f'writing cells of table {self.schema.path!r}') from None

    def flush_and_release(self) -> None:
        """Write what is buffered and give up every claim (runs at the end, even on Ctrl-C)."""
        with self._batch_lock:  # a synchronous batch still running writes its own results
            results, self._buffer = self._buffer, []
            rows, self._done_rows = self._done_rows, []
            try:
                if results or rows:
                    self._write(results, rows)
                release_claims(self.ctx.store, self.schema)
            except RunStoppedError as e:
                self.stop_error = self.stop_error or e
            except STORAGE_ERRORS as e:
                self.stop_error = self.stop_error or storage_stop(e, 'releasing row claims')


def _set_cell(env: dict[n.Node, Any], plan: ColumnPlan, result: CellResult, value: Any) -> None:
    """Make a computed cell visible to the columns that read it."""
    if result.state == VALUE:
        env[plan.ref] = value
    else:
        env[plan.ref] = _InputError(
            'UpstreamError',
            f'column {plan.column.name!r} failed: {result.errortype}: {result.errormsg}',
        )


def _close_images(env: dict[n.Node, Any]) -> None:
    for value in env.values():
        if isinstance(value, PIL.Image.Image) and getattr(value, 'fp', None) is not None:
            with contextlib.suppress(Exception):
                value.close()


OnRow = Callable[[int], None]
