"""``UpdateStatus``: what an insert, update or column change did."""

from __future__ import annotations

from dataclasses import dataclass, field

from reverie.exec.paid import PaidStats


@dataclass
class UpdateStatus:
    """Counts of one write, as Pixeltable reports them.

    Attributes:
        num_rows: rows inserted, updated or deleted.
        num_computed_values: computed cells filled in (values and errors).
        num_excs: cells that ended in error plus rows rejected with on_error='ignore'.
        updated_cols: columns written to.
        cols_with_excs: columns with at least one error cell.
        rejected_rows: rows refused as bad input (on_error='ignore').
        pending: cells left to compute (interrupted, or held by another process).
        paid: what the operation's paid calls did (calls, cache hits, credits), or None.
    """

    num_rows: int = 0
    num_computed_values: int = 0
    num_excs: int = 0
    updated_cols: list[str] = field(default_factory=list)
    cols_with_excs: list[str] = field(default_factory=list)
    rejected_rows: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list, repr=False)
    paid: PaidStats | None = field(default=None, repr=False)
