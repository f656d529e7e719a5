"""Which cells of a query result are pending: the display's hook into a query.

A pending computed cell and a null one both read as ``None``; the renderers tell them
apart from the cell's state column, which a query selects beside each computed column
it returns as is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reverie import types as ts
from reverie.exprs import nodes as n
from reverie.store.db import PENDING


def state_nodes(items: Sequence[tuple[str, n.Node]]) -> list[n.CellProp | None]:
    """Per result column: the state of the computed column it returns, else None."""
    return [
        n.CellProp(node, 'state', ts.Int)
        if isinstance(node, n.ColumnRef) and node.is_computed
        else None
        for _, node in items
    ]


def row_flags(states: Sequence[n.Node | None], value_of: Callable[[n.Node], Any]) -> list[bool]:
    """One row: whether each result cell is pending (``value_of`` reads a selected node)."""
    return [s is not None and value_of(s) == PENDING for s in states]


def by_column(
    states: Sequence[n.Node | None], rows: Sequence[Sequence[bool]]
) -> list[list[bool] | None]:
    """Row-wise flags turned column-wise, None for columns that cannot be pending."""
    return [None if s is None else [row[j] for row in rows] for j, s in enumerate(states)]


def column_flags(
    states: Sequence[n.Node | None], leaves: Sequence[n.Node], raw: Sequence[Sequence[Any]]
) -> list[list[bool] | None]:
    """Column-wise flags straight from the SQL rows (``leaves`` names their fields)."""
    out: list[list[bool] | None] = []
    for s in states:
        if s is None:
            out.append(None)
            continue
        i = leaves.index(s)
        out.append([r[i] == PENDING for r in raw])
    return out
