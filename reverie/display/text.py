"""Text tables for terminals: as wide as the terminal, paths and URLs never cut."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from typing import Any

from reverie.display.values import full_text

MAX_ROWS = 50
FALLBACK_WIDTH = 120  # columns when the output is not a terminal and COLUMNS is unset
MIN_CUT = 12  # a cut column keeps at least this many characters (or its name's)
_WHOLE = re.compile(r'\A(?:[a-z][a-z0-9+.-]*://|/|~/|\.{1,2}/)\S*\Z')


def text_table(
    names: Sequence[str],
    columns: Sequence[Sequence[Any]],
    n_rows: int,
    pending: Sequence[Sequence[bool] | None] | None = None,
    *,
    width: int | None = None,
) -> str:
    """An aligned text table; long results show the first rows and a count.

    ``pending`` says, per column, which cells are pending; they read ``<pending>``. The table
    fits ``width`` (default: the terminal's) by cutting long texts at the end, widest column
    first; a path or URL is never cut (it would no longer point anywhere).
    """
    shown = min(n_rows, MAX_ROWS)
    flags = list(pending) if pending is not None else [None] * len(columns)
    cells = [
        [
            full_text(col[i], pending=bool(marks is not None and marks[i]))
            for col, marks in zip(columns, flags, strict=True)
        ]
        for i in range(shown)
    ]
    widths = fit_widths(names, cells, width or terminal_width())
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def fmt(values: Sequence[str]) -> str:
        return (
            '| '
            + ' | '.join(_cut(v, w).ljust(w) for v, w in zip(values, widths, strict=True))
            + ' |'
        )

    out = [line, fmt(list(names)), line, *(fmt(r) for r in cells), line]
    if n_rows > shown:
        out.append(f'{n_rows} rows in all; showing the first {shown}.')
    return '\n'.join(out)


def terminal_width() -> int:
    """The terminal's width in columns (``COLUMNS`` first; 120 when not a terminal)."""
    return shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns


def fit_widths(names: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Column widths whose table fits ``width``: the widest cuttable column gives way first."""
    natural = [max([len(name)] + [len(r[j]) for r in rows]) for j, name in enumerate(names)]
    floor = [
        w if any(_WHOLE.match(r[j]) for r in rows) else min(w, max(len(names[j]), MIN_CUT))
        for j, w in enumerate(natural)
    ]
    widths = list(natural)
    frame = 3 * len(widths) + 1  # '| ' + ' | ' between + ' |'
    while sum(widths) + frame > width:
        room = [j for j, w in enumerate(widths) if w > floor[j]]
        if not room:
            break  # paths and names are kept whole; the terminal wraps the rest
        j = max(room, key=lambda k: widths[k])
        over = sum(widths) + frame - width
        runner_up = max((widths[k] for k in room if k != j), default=0)
        # Down to the next widest (then both shrink in turn), the floor, or just enough.
        widths[j] = max(floor[j], widths[j] - over, min(runner_up, widths[j] - 1))
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 3)] + '...'
