"""``UpdateStatus``: what an insert, update or column change did."""

from __future__ import annotations

from dataclasses import dataclass, field

from reverie.exec.paid import PaidStats


@dataclass(repr=False)
class UpdateStatus:
    """Counts of one write, as Pixeltable reports them.

    Its ``repr`` is one short sentence (``1 row inserted, 3 values computed.``), so a
    notebook cell ending in ``t.insert(...)`` shows a line, not the whole record.

    Attributes:
        num_rows: rows inserted, updated or deleted.
        num_computed_values: computed cells filled in (values and errors).
        num_excs: cells that ended in error plus rows rejected with on_error='ignore'.
        updated_cols: columns written to.
        cols_with_excs: columns with at least one error cell.
        rejected_rows: rows refused as bad input (on_error='ignore').
        pending: cells left to compute (interrupted, or held by another process).
        verb: what happened to the rows: ``inserted``, ``updated`` or ``deleted``.
        paid: what the operation's paid calls did (calls, cache hits, credits), or None.
    """

    num_rows: int = 0
    num_computed_values: int = 0
    num_excs: int = 0
    updated_cols: list[str] = field(default_factory=list)
    cols_with_excs: list[str] = field(default_factory=list)
    rejected_rows: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)
    verb: str = ''
    paid: PaidStats | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        parts = []
        if self.verb:
            parts.append(f'{_count(self.num_rows, "row")} {self.verb}')
        elif self.updated_cols and not self.num_computed_values:
            parts.append(f'{_count(len(self.updated_cols), "column")} added')
        if self.rejected_rows:
            parts.append(f'{_count(self.rejected_rows, "row")} rejected')
        if self.num_computed_values or not parts:
            parts.append(f'{_count(self.num_computed_values, "value")} computed')
        cell_errors = self.num_excs - self.rejected_rows
        if cell_errors:
            cols = ', '.join(self.cols_with_excs)
            parts.append(f'{_count(cell_errors, "error")}' + (f' (in {cols})' if cols else ''))
        if self.pending:
            parts.append(f'{_count(self.pending, "cell")} still pending')
        return ', '.join(parts) + '.'

    __str__ = __repr__


def _count(n: int, noun: str) -> str:
    return f'{n} {noun}{"" if n == 1 else "s"}'
