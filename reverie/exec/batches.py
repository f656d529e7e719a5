"""Columns computed without waiting on a service: by the database, or in locked batches.

A column the planner gave to SQL is one ``UPDATE`` per range of rows. Synchronous Python
columns are computed a batch of rows at a time inside one transaction that locks them
(SQLite's write lock, or ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so no claims need
writing; batches are sized to take ~0.1 s, so the lock is never held long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from reverie.exec.caller import function_of, unwrap
from reverie.exec.cells import pending_condition, write_results_in
from reverie.exec.inputs import Env, InputError, Inputs, close_images, input_error, set_cell
from reverie.exec.planner import ColumnPlan, PlainCall
from reverie.exec.runstate import RunState
from reverie.exec.worker import Claimer, count_held_elsewhere, unclaimed_condition
from reverie.exec.writer import CellWriter
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter
from reverie.store.db import PENDING, ROWID, VALUE, rowid_bounds
from reverie.types import plain_value_ok

LOCKED_FIRST_BATCH = 16
LOCKED_MIN_BATCH = 8
LOCKED_MAX_BATCH = 4096
LOCKED_BATCH_SECONDS = 0.1
SQL_BATCH_ROWS = 250_000  # rows per UPDATE of a column the database computes


class SyncBatches:
    """The synchronous columns of one run."""

    def __init__(self, run: RunState, writer: CellWriter, inputs: Inputs) -> None:
        self.run = run
        self.writer = writer
        self.inputs = inputs

    def compute_in_sql(self, rowids: Sequence[int] | None) -> None:
        """Write the columns the database computes: one UPDATE per range of rows."""
        run = self.run
        in_sql = run.plan.in_sql
        if not in_sql or run.aborted:
            return
        store, t = run.ctx.store, run.schema.sa_table
        rid = t.c[ROWID]
        bounds: tuple[int | None, int | None] = (None, None)
        if rowids is not None:
            if rowids:
                bounds = (min(rowids), max(rowids))
        else:
            with store.read() as conn:
                bounds = rowid_bounds(conn, t)
        lo, hi = bounds
        if lo is None or hi is None:
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
                    run.stats.cells += done
                    run.progress.update(done)

    async def execute(self, claimer: Claimer) -> None:
        """Compute every pending row, batch after batch, each in one locking transaction."""
        rowids = claimer.rowids
        after, pos, size = 0, 0, LOCKED_FIRST_BATCH
        while not self.run.aborted:
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
            count_held_elsewhere, self.run.ctx.store, self.run.schema, rowids
        )

    def _locked_batch(
        self, chunk: list[int] | None, after: int, size: int
    ) -> tuple[int | None, int]:
        """Compute one batch of rows; returns (last rowid, rows) or (None, 0) when done."""
        run = self.run
        store, t, plan = run.ctx.store, run.schema.sa_table, run.plan
        names = [ROWID, *(c for c in plan.fetch if c != ROWID)]
        query = sa.select(*(t.c[c] for c in names)).where(
            pending_condition(run.schema), unclaimed_condition(run.schema)
        )
        if chunk is not None:
            query = query.where(t.c[ROWID].in_(chunk))
        else:
            query = query.where(t.c[ROWID] > after)
        query = query.order_by(t.c[ROWID]).limit(size)
        if not store.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        with self.writer.batch_lock, store.begin() as conn:
            if plan.plain is not None:
                raw = conn.execute(query).all()
                if not raw:
                    return (None if chunk is None else after), 0
                values = self._compute_plain(plan.plain, raw, names)
                done = [r[0] for r in raw] if chunk is not None else []
                write_results_in(conn, store, run.schema, self.writer.take(), done, values)
                return raw[-1][0], len(raw)
            rows = [dict(zip(names, r, strict=True)) for r in conn.execute(query)]
            if not rows:
                return (None if chunk is None else after), 0
            envs = [self.inputs.env(row) for row in rows]
            try:
                self.compute(plan.in_python, rows, envs)
            finally:
                if plan.has_images:
                    for env in envs:
                        close_images(env)
            done = [r[ROWID] for r in rows] if chunk is not None else []
            write_results_in(conn, store, run.schema, self.writer.take(), done)
        return rows[-1][ROWID], len(rows)

    def compute(
        self, plans: Sequence[ColumnPlan], rows: list[dict[str, Any]], envs: list[Env]
    ) -> None:
        """Compute the pending cells of ``plans`` for a chunk of rows (results recorded)."""
        writer = self.writer
        for plan in plans:
            state_key = plan.column.sql.state
            todo = [
                (row, env) for row, env in zip(rows, envs, strict=True) if row[state_key] == PENDING
            ]
            if not todo or self.run.aborted:
                continue
            failed: dict[int, BaseException | InputError] = {}
            live = []
            for row, env in todo:
                err = input_error(plan, env)
                if err is not None:
                    failed[row[ROWID]] = err
                else:
                    live.append((row, env))
            for call, read_args in plan.precompute:  # batched functions: all rows at once
                ok = [(r, e) for r, e in live if r[ROWID] not in failed]
                self._batch(call, read_args, ok, failed)
            for row, env in todo:
                rid = row[ROWID]
                value: Any = None
                if rid in failed:
                    result = writer.error_result(rid, plan.column, failed[rid])
                else:
                    try:
                        value, meta = unwrap(plan.value(env))
                        result = writer.value_result(rid, plan.column, value, meta)
                    except Exception as e:
                        result = writer.error_result(rid, plan.column, e)
                set_cell(env, plan, result, value)
                row[state_key] = result.state
                writer.record(result)

    def _compute_plain(
        self, calls: Sequence[PlainCall], raw: Sequence[Any], names: list[str]
    ) -> dict[int, list[tuple[Any, int]]]:
        """The fast path of ``compute``, for columns that are plain calls.

        Anything unusual (a CellValue, a value needing conversion) takes the general checks.
        Returns the plain values, ``(value, rowid)`` per column id; everything else (errors,
        converted values) is recorded as usual.
        """
        writer, run = self.writer, self.run
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
                    result = writer.value_result(rid, col, value, meta)
                except Exception as e:
                    result = writer.error_result(rid, col, e)
                writer.record(result)
            run.stats.cells += len(values)
            run.progress.update(len(values))
            if run.aborted:
                break
        return out

    def _batch(
        self,
        call: n.FunctionCall,
        read_args: Getter,
        live: list[tuple[dict[str, Any], Env]],
        failed: dict[int, BaseException | InputError],
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
                outputs = self.run.caller.call_batch(call, [args for _, _, args in chunk])
            except Exception as e:
                for row, *_ in chunk:
                    failed[row[ROWID]] = e
                continue
            for (_, env, _), out in zip(chunk, outputs, strict=True):
                env[call] = out
