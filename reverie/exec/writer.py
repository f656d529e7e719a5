"""Results of a computation on their way to the database: recorded, buffered, committed.

Free functions' results are written in batches, as are the cells of paid answers already in
the journal (within ``FLUSH_SECONDS``, by a timer when nothing else comes); any other answer
of a service is committed as soon as it arrives, concurrent ones sharing one commit.
A storage failure stops the run with ``RunStoppedError`` and leaves the cells pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

from reverie.errors import RunStoppedError, ServiceError
from reverie.exec.cells import CellResult, write_results
from reverie.exec.codec import encode_result
from reverie.exec.inputs import InputError
from reverie.exec.ledger_writes import STORAGE_ERRORS, storage_stop
from reverie.exec.runstate import RunState
from reverie.exec.schema import ColumnSchema
from reverie.exec.worker import release_claims
from reverie.store.db import ERROR, VALUE

FLUSH_CELLS = 64
FLUSH_SECONDS = 0.25


class CellWriter:
    """The results of one run: counted as they come, written in batches or at once."""

    def __init__(self, run: RunState) -> None:
        self.run = run
        self.buffer: list[CellResult] = []
        self.done_rows: list[int] = []
        self.batch_lock = threading.Lock()  # held by a synchronous batch writing its own
        self._last_flush = time.monotonic()
        self._flush_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None  # a flush of what waits, due later
        self._timed: set[asyncio.Task[None]] = set()  # flushes a timer started, still writing

    def value_result(
        self, rid: int, col: ColumnSchema, value: Any, meta: dict[str, Any] | None
    ) -> CellResult:
        """A computed value, converted for the database (an image is stored first)."""
        try:
            stored = encode_result(col.col_type, col.name, value, self.run.ctx.media)
        except OSError as e:  # paid-call layer: a full/read-only media folder stops the run
            raise storage_stop(e, f'storing a value of column {col.name!r}') from None
        return CellResult(rid, col, VALUE, stored, meta=meta)

    def error_result(
        self, rid: int, col: ColumnSchema, err: BaseException | InputError
    ) -> CellResult:
        """An error cell: the exception's type and message (with the request id if any)."""
        if isinstance(err, InputError):
            return CellResult(rid, col, ERROR, None, err.errortype, err.errormsg)
        msg = str(err) or type(err).__name__
        if isinstance(err, ServiceError) and err.request_id and err.request_id not in msg:
            msg = f'{msg} (request id {err.request_id})'
        return CellResult(rid, col, ERROR, None, type(err).__name__, msg)

    def record(self, result: CellResult) -> None:
        """Count a result and keep it for the next write."""
        self.buffer.append(result)
        stats = self.run.stats
        stats.cells += 1
        is_error = result.state == ERROR
        if is_error:
            stats.errors += 1
            stats.cols_with_errors.add(result.column.name)
            if stats.first_error is None:
                stats.first_error = result
        self.run.progress.update(1, errors=int(is_error))

    def take(self) -> list[CellResult]:
        """The results recorded so far (a synchronous batch writes them itself)."""
        results, self.buffer = self.buffer, []
        return results

    def _flush_due(self) -> bool:
        return (
            len(self.buffer) >= FLUSH_CELLS
            or len(self.done_rows) >= FLUSH_CELLS
            or time.monotonic() - self._last_flush > FLUSH_SECONDS
        )

    async def maybe_flush(self, *, force: bool = False, mine: CellResult | None = None) -> None:
        """Write buffered results when enough have gathered, or at once with ``force``.

        ``force`` is for answers of a service (maybe paid for). Concurrent flushes queue on
        one lock, and each takes whatever has arrived by then, so answers are committed as
        soon as they come (group commit) without a transaction per cell: a forced flush
        whose cell (``mine``) an earlier one wrote has nothing to do.
        """
        if not (self.buffer or self.done_rows):
            return
        if not (force or self._flush_due()):
            self._flush_later()
            return
        async with self._flush_lock:
            if not (self.buffer or self.done_rows):
                return
            if force and mine is not None and not any(r is mine for r in self.buffer):
                return  # written by the flush before
            if not force and not self._flush_due():
                return
            results, self.buffer = self.buffer, []
            rows, self.done_rows = self.done_rows, []
            self._last_flush = time.monotonic()
            self._cancel_timer()  # this write takes what it was set for
            try:
                await asyncio.shield(asyncio.to_thread(self._write, results, rows))
            except RunStoppedError as e:  # paid-call layer: keep them for the final flush
                self.buffer[:0], self.done_rows[:0] = results, rows
                self.run.stop(e)
            except Exception:  # kept for the final flush, which raises it again
                self.buffer[:0], self.done_rows[:0] = results, rows
                raise

    def _flush_later(self) -> None:
        """Write what waits in the buffer within ``FLUSH_SECONDS``, even if nothing follows."""
        if self._timer is None:  # (also while a timed flush writes: what came since waits)
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._timer_due)

    def _timer_due(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._timed_flush())
        self._timed.add(task)
        task.add_done_callback(self._timed.discard)

    async def _timed_flush(self) -> None:
        with contextlib.suppress(Exception):  # its results wait for the final flush
            await self.maybe_flush(force=True)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def settle(self) -> None:
        """End the timed flushes: cancel the next, wait for any writing (before the end)."""
        self._cancel_timer()
        if self._timed:  # else no suspension here
            await asyncio.wait(set(self._timed))

    def _write(self, results: list[CellResult], rows: list[int]) -> None:
        """Write results; a storage failure becomes ``RunStoppedError`` (cells stay pending)."""
        run, paid = self.run, self.run.paid
        call_ids = paid.take_delivered([(r.rowid, r.column.id) for r in results]) if paid else []
        try:
            write_results(run.ctx.store, run.schema, results, rows, call_ids)
        except STORAGE_ERRORS as e:
            if paid is not None:
                paid.delivered.update(
                    {(r.rowid, r.column.id): i for r, i in zip(results, call_ids, strict=False)}
                )
            raise storage_stop(e, f'writing cells of table {run.schema.path!r}') from None

    def flush_and_release(self) -> None:
        """Write what is buffered and give up every claim (runs at the end, even on Ctrl-C)."""
        with self.batch_lock:  # a synchronous batch still running writes its own results
            results, self.buffer = self.buffer, []
            rows, self.done_rows = self.done_rows, []
            try:
                if results or rows:
                    self._write(results, rows)
                release_claims(self.run.ctx.store, self.run.schema)
            except RunStoppedError as e:
                self.run.stop(e)
            except STORAGE_ERRORS as e:
                self.run.stop(storage_stop(e, 'releasing row claims'))
