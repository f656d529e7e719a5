"""HTML tables for notebooks, with small inline thumbnails for images."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from reverie.display.values import cell_html

MAX_ROWS = 100


def html_table(names: Sequence[str], columns: Sequence[Sequence[Any]], n_rows: int) -> str:
    """An HTML table; images become thumbnails of at most 128 px."""
    shown = min(n_rows, MAX_ROWS)
    head = ''.join(f'<th>{html.escape(name)}</th>' for name in names)
    body = ''.join(
        '<tr>' + ''.join(f'<td>{cell_html(col[i])}</td>' for col in columns) + '</tr>'
        for i in range(shown)
    )
    note = f'<p>{n_rows} rows in all; showing the first {shown}.</p>' if n_rows > shown else ''
    return (
        '<table class="reverie-result" border="1">'
        f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'
    )
