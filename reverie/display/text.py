"""Text tables for terminals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reverie.display.values import cell_text

MAX_ROWS = 50


def text_table(
    names: Sequence[str],
    columns: Sequence[Sequence[Any]],
    n_rows: int,
    pending: Sequence[Sequence[bool] | None] | None = None,
) -> str:
    """An aligned text table; long results show the first rows and a count.

    ``pending`` says, per column, which cells are pending; they read ``<pending>``.
    """
    shown = min(n_rows, MAX_ROWS)
    flags = list(pending) if pending is not None else [None] * len(columns)
    cells = [
        [
            cell_text(col[i], pending=bool(marks is not None and marks[i]))
            for col, marks in zip(columns, flags, strict=True)
        ]
        for i in range(shown)
    ]
    widths = [max([len(name)] + [len(row[j]) for row in cells]) for j, name in enumerate(names)]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def fmt(values: Sequence[str]) -> str:
        return '| ' + ' | '.join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + ' |'

    out = [line, fmt(list(names)), line, *(fmt(r) for r in cells), line]
    if n_rows > shown:
        out.append(f'{n_rows} rows in all; showing the first {shown}.')
    return '\n'.join(out)
