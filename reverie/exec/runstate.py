"""What the parts of one computation share: the table, its plan, the callers and the counts.

``compute_pending`` (``evaluator.py``) makes one ``RunState`` and hands it to its parts:
``writer.CellWriter`` (results to the database), ``batches.SyncBatches`` (columns computed
in locked batches, or by the database itself) and ``pipeline.RowPipeline`` (one
coroutine per row for async functions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reverie.errors import RunStoppedError
from reverie.exec.caller import Caller
from reverie.exec.cells import CellResult
from reverie.exec.context import ExecContext
from reverie.exec.paid import PaidOptions, PaidRun, PaidStats
from reverie.exec.planner import TablePlan
from reverie.exec.progress import Progress
from reverie.exec.schema import TableSchema

OnError = Literal['abort', 'ignore']


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


class RunState:
    """State of one ``compute_pending`` call.

    Attributes:
        paid: the paid-call layer of this run; every paid call goes through it.
        stop_error: why the run stopped early (budget, storage, service); cells stay pending.
    """

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

    @property
    def aborted(self) -> bool:
        """Whether no new cell should start (stopped, or the first error with 'abort')."""
        if self.stop_error is not None or (self.paid is not None and self.paid.stopping):
            return True  # paid-call layer: stopped (budget, storage, Ctrl-C)
        return self.on_error == 'abort' and self.stats.first_error is not None

    def stop(self, error: RunStoppedError) -> None:
        """Remember why the run stops (the first reason wins)."""
        self.stop_error = self.stop_error or error
