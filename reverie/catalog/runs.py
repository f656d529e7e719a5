"""Computing a table's pending cells for one user operation, and what it prints.

An operation (an insert, an update, ``recompute_columns``) computes cells of its table and
then of the views it updates. ``Operation`` carries its paid-call settings to every one of
those runs, so the budget given to the operation caps all of them together. ``compute``
runs the engine for one table, turns Ctrl-C into a gentle stop and a failure in abort mode
into the error that names the cell.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from reverie.catalog.catalog import Catalog
from reverie.catalog.status import UpdateStatus
from reverie.errors import ExecutionError, InvalidValueError
from reverie.exec.evaluator import ComputeStats, OnError, compute_pending
from reverie.exec.loop import run_sync
from reverie.exec.paid import PaidOptions
from reverie.exec.schema import TableSchema
from reverie.functions.paid import UNITS, Budget
from reverie.store.db import ROWID
from reverie.store.versions import add_counts, current_version


class Operation:
    """The paid-call settings of one user operation and what its runs spent so far, per unit.

    The default budget is read from the settings only when a run needs it, so a write
    that computes nothing costs no settings read.
    """

    def __init__(
        self, catalog: Catalog, budget: float | Budget | None, use_cache: bool = True
    ) -> None:
        self._catalog = catalog
        self._budget = budget
        self._default_read = budget is not None
        self.use_cache = use_cache
        self.spent = dict.fromkeys(UNITS, 0.0)

    @classmethod
    def of(
        cls, catalog: Catalog, budget: float | Budget | None, *, use_cache: bool = True
    ) -> Operation:
        """``budget`` checked; without one, the settings' ``budget_credits`` (when needed)."""
        if budget is not None and not isinstance(budget, Budget) and not budget >= 0:
            raise InvalidValueError(
                f"budget must be a number >= 0 (in the provider's own unit) or an "
                f'rv.Budget(credits=..., usd=...), got {budget!r}.'
            )
        return cls(catalog, budget, use_cache)

    @property
    def budget(self) -> float | Budget | None:
        """What the whole operation may spend (None: no cap)."""
        if not self._default_read:
            default = self._catalog.exec.settings().budget_credits
            self._budget = None if default is None else Budget(credits=default)
            self._default_read = True
        return self._budget

    def run_options(
        self, version: int | None = None, *, use_cache: bool | None = None
    ) -> PaidOptions:
        """Options of the next run: what is left of the budget, cells of ``version``."""
        budget = self.budget
        left: float | Budget | None = None
        if isinstance(budget, Budget):
            caps = {u: budget.limit(u) for u in UNITS}
            left = Budget(
                **{u: None if c is None else max(0.0, c - self.spent[u]) for u, c in caps.items()}
            )
        elif budget is not None:  # one unit only (the run refuses two): their sum is it
            left = max(0.0, budget - sum(self.spent.values()))
        cache = self.use_cache if use_cache is None else use_cache
        return PaidOptions(budget=left, use_cache=cache, table_version=version)


def check_on_error(on_error: str) -> None:
    """Refuse an ``on_error`` other than 'abort' or 'ignore'."""
    if on_error not in ('abort', 'ignore'):
        raise InvalidValueError(f"on_error must be 'abort' or 'ignore', got {on_error!r}.")


def compute(
    catalog: Catalog,
    schema: TableSchema,
    op: Operation,
    *,
    on_error: OnError,
    desc: str,
    rowids: Sequence[int] | None = None,
    version: int | None = None,
    use_cache: bool | None = None,
    inserted: bool = False,
) -> ComputeStats:
    """Compute pending cells of ``schema`` (of ``rowids``, or all); counts go to ``version``.

    ``version`` defaults to the latest. ``use_cache``: whether earlier answers may serve its
    paid calls (default: the operation's choice). ``inserted``: ``rowids`` were just
    inserted (an abort keeps them).
    """
    runs: list[Any] = []
    coro = compute_pending(
        catalog.exec,
        schema,
        rowids=rowids,
        on_error=on_error,
        desc=desc,
        paid=op.run_options(version, use_cache=use_cache),
        on_start=runs.append,
    )
    try:
        stats = run_sync(coro, on_interrupt=lambda: _stop_gently(runs))
        _count_cells(catalog, schema.id, stats, version)
    except KeyboardInterrupt:
        print(
            f'Interrupted: finished cells are kept. Resume with '
            f'`reverie resume {schema.path}` or t.recompute_columns().'
        )
        raise
    finally:
        paid = runs[0].paid if runs else None
        if paid is not None:
            for unit in UNITS:
                op.spent[unit] += paid.stats.spent(unit)
    if stats.busy_elsewhere:
        print(f'{stats.busy_elsewhere} rows are being computed by another process right now.')
    if on_error == 'abort' and stats.first_error is not None:
        first = stats.first_error
        row = _row_number(catalog, schema, first.rowid, rowids)
        reason = (first.errormsg or '').rstrip('.')  # the message's own period ends it
        failed = (
            f'Computing column {first.column.name!r} of table {schema.path!r} failed for '
            f'{row}: {first.errortype}: {reason}.'
        )
        if inserted and rowids:
            # Unlike Pixeltable's abort, the rows stay: their paid cells are never rolled back.
            count = len(rowids)
            raise ExecutionError(
                f'{failed} The {count} inserted row{"" if count == 1 else "s"} '
                f'{"was" if count == 1 else "were"} kept, error cells included (paid work is '
                'never rolled back): do not run the insert again, or the rows go in twice. '
                'Fix the cause and finish them with t.recompute_columns(errors_only=True); '
                f'see t.select(t.{first.column.name}.errormsg).'
            )
        raise ExecutionError(
            f'{failed} Finished cells are kept; '
            f"see t.select(t.{first.column.name}.errormsg) and use on_error='ignore' to go on "
            'past errors, or fix the cause and run t.recompute_columns(errors_only=True).'
        )
    return stats


def _row_number(
    catalog: Catalog, schema: TableSchema, rowid: int, rowids: Sequence[int] | None
) -> str:
    """A row as insert errors name it: its 0-based position in the insert, else in the table."""
    if rowids is not None and rowid in rowids:
        return f'row {list(rowids).index(rowid)}'
    t = schema.sa_table
    with catalog.store.read() as conn:
        before = conn.execute(
            sa.select(sa.func.count()).select_from(t).where(t.c[ROWID] < rowid)
        ).scalar_one()
    return f'row {before}'


def _count_cells(catalog: Catalog, table_id: int, stats: ComputeStats, version: int | None) -> None:
    """Add a computation's cells and errors to the version it belongs to."""
    if not (stats.cells or stats.errors):
        return
    with catalog.store.begin() as conn:
        target = current_version(conn, table_id) if version is None else version
        add_counts(conn, table_id, target, computed=stats.cells, errors=stats.errors)


def _stop_gently(runs: list[Any]) -> bool:
    """First Ctrl-C (paid-call layer): send nothing new, wait for the calls in flight."""
    paid = runs[0].paid if runs else None
    if paid is None or paid.in_flight == 0:
        return False
    paid.stopping = True
    print(
        f'Stopping: no new paid calls; waiting for {paid.in_flight} in flight (their answers '
        'are saved). Press Ctrl-C again to stop at once.',
        flush=True,
    )
    return True


def merge(status: UpdateStatus, stats: ComputeStats) -> None:
    """Add a run's counts to an operation's status."""
    status.paid = stats.paid
    status.num_computed_values += stats.cells
    status.num_excs += stats.errors
    status.cols_with_excs = sorted(set(status.cols_with_excs) | stats.cols_with_errors)


def finish(
    status: UpdateStatus, stats: ComputeStats, verb: str, noun: str, start: float, show: bool
) -> UpdateStatus:
    """``status`` with the run's counts, printed as '<verb> N <noun>s ...' when ``show``."""
    merge(status, stats)
    if show:
        count, errors = status.num_computed_values, status.num_excs
        print(summary(verb, count, noun, errors, start, status))
    return status


def summary(
    verb: str, count: int, noun: str, errors: int, start: float, status: UpdateStatus | None = None
) -> str:
    """Pixeltable's wording: 'Inserted 3 rows with 0 errors in 0.02 s (150.00 rows/s)'.

    When the operation made paid calls: '...; 20 paid calls, 480 credits'.
    """
    elapsed = time.perf_counter() - start
    rate = f' ({count / max(elapsed, 1e-9):.2f} rows/s)' if count else ''  # no rate of nothing
    return (
        f'{verb} {count} {noun}{"" if count == 1 else "s"} with {errors} '
        f'error{"" if errors == 1 else "s"} in {elapsed:.2f} s{rate}{paid_suffix(status)}'
    )


def paid_suffix(status: UpdateStatus | None) -> str:
    """'; 20 paid calls, 480 credits' when the operation went through the paid-call layer."""
    paid = status.paid if status is not None else None
    if paid is None or not (paid.paid_calls or paid.cache_hits or paid.recovered):
        return ''
    return f'; {paid.summary()}'
