"""HTML tables for notebooks, with small inline thumbnails for images.

Text is never cut in the HTML: long cells are clipped by the stylesheet (one line, an
ellipsis) and show their whole text on hover. Pending computed cells read ``pending``,
distinct from a null ``None``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from reverie.display.values import cell_html

MAX_ROWS = 100

# Scoped by class, so a notebook's own styles are left alone.
STYLE = (
    '<style>'
    '.rv-wrap{max-width:100%;overflow-x:auto}'
    '.rv-table{border-collapse:collapse;font-size:13px;text-align:left}'
    '.rv-table th,.rv-table td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;'
    'text-align:left}'
    '.rv-table th{background:#f6f8fa;font-weight:600;white-space:nowrap}'
    '.rv-table td.rv-text{max-width:32em;overflow:hidden;text-overflow:ellipsis;'
    'white-space:nowrap}'
    '.rv-table td.rv-null{color:#8c959f}'
    '.rv-table td.rv-pending{color:#9a6700;font-style:italic}'
    '.rv-table td.rv-img img{display:block}'
    '.rv-caption{font-weight:600;margin:4px 0}'
    '.rv-note{color:#57606a;font-size:12px;margin:4px 0}'
    '</style>'
)


def html_table(
    names: Sequence[str],
    columns: Sequence[Sequence[Any]],
    n_rows: int,
    pending: Sequence[Sequence[bool] | None] | None = None,
) -> str:
    """An HTML table; images become thumbnails of at most 128 px.

    Args:
        names: column headings.
        columns: values, column by column.
        n_rows: number of rows (the table shows the first ``MAX_ROWS``).
        pending: per column, which cells are pending (None when a column has none).
    """
    shown = min(n_rows, MAX_ROWS)
    flags = list(pending) if pending is not None else [None] * len(columns)
    head = ''.join(f'<th>{html.escape(name)}</th>' for name in names)
    body = ''.join(
        '<tr>'
        + ''.join(
            cell_html(col[i], pending=bool(marks is not None and marks[i]))
            for col, marks in zip(columns, flags, strict=True)
        )
        + '</tr>'
        for i in range(shown)
    )
    note = (
        f'<p class="rv-note">{n_rows} rows in all; showing the first {shown}.</p>'
        if n_rows > shown
        else ''
    )
    return (
        f'{STYLE}<div class="rv-wrap"><table class="rv-table reverie-result">'
        f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{note}'
    )


def schema_html(caption: str, names: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table's schema (``describe()``): a caption, then one row per column."""
    head = ''.join(f'<th>{html.escape(name)}</th>' for name in names)
    body = ''.join(
        '<tr>' + ''.join(cell_html(v) if v else '<td></td>' for v in row) + '</tr>' for row in rows
    )
    return (
        f'{STYLE}<div class="rv-wrap"><p class="rv-caption">{html.escape(caption)}</p>'
        f'<table class="rv-table reverie-schema"><thead><tr>{head}</tr></thead>'
        f'<tbody>{body}</tbody></table></div>'
    )
