"""Grouping and aggregation in Python, for keys or aggregates the database cannot compute.

``t.group_by(f(t.x)).select(count(t.y))`` or ``sum(t.x.apply(...))``: the query driver
fetches the keys and the aggregates' operands row by row (functions called as in any
query), then this module groups the rows and aggregates them with SQL's meaning: nulls are
skipped, ``count`` counts the values that are not null, ``sum`` / ``min`` / ``max`` /
``mean`` of no values is None.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from reverie.errors import InvalidValueError
from reverie.exprs import nodes as n
from reverie.exprs.render import render


def leaves(keys: Sequence[n.Node], nodes: Sequence[n.Node]) -> list[n.Node]:
    """What to fetch per row: the keys, then each aggregate's operand (once each)."""
    found: list[n.Node] = list(dict.fromkeys(keys))
    for node in nodes:
        if isinstance(node, n.Aggregate) and node.operand not in found:
            found.append(node.operand)
    return found


def check_item(name: str, node: n.Node, keys: Sequence[n.Node]) -> None:
    """A result column here is a key, a constant, or one aggregate of a row value."""
    if node in keys or isinstance(node, n.Literal):
        return
    if isinstance(node, n.Aggregate) and not any(
        isinstance(x, n.Aggregate) for x in node.operand.walk()
    ):
        return
    raise InvalidValueError(
        f'Result column {name!r} ({render(node)!r}) cannot be computed: where a key or an '
        'aggregate runs in Python, each result column is a group_by key, a constant or one '
        'count/sum/min/max/mean of a row value.'
    )


def aggregate(
    keys: Sequence[n.Node],
    items: Sequence[n.Node],
    fetched: Sequence[n.Node],
    columns: Sequence[Sequence[Any]],
) -> list[list[Any]]:
    """One row per group (one group when there are no keys), ``items`` per row."""
    position = {node: i for i, node in enumerate(fetched)}
    groups: dict[str, list[int]] = {}
    key_values: dict[str, list[Any]] = {}
    rows = len(columns[0]) if columns else 0
    for r in range(rows):
        values = [columns[position[k]][r] for k in keys]
        marker = json.dumps(values, sort_keys=True, default=repr)
        groups.setdefault(marker, []).append(r)
        key_values.setdefault(marker, values)
    if not keys and not groups:
        groups[''] = []  # count(x) over no rows is 0, as in SQL
        key_values[''] = []
    markers = list(groups)
    # By the keys, as the database path orders groups (nulls last); keys of mixed types
    # keep the order the groups were met in.
    with contextlib.suppress(TypeError):
        markers.sort(key=lambda m: [(v is None, v) for v in key_values[m]])
    out: list[list[Any]] = []
    for marker in markers:
        members = groups[marker]
        row: list[Any] = []
        for node in items:
            if node in keys:
                row.append(key_values[marker][list(keys).index(node)])
            elif isinstance(node, n.Aggregate):
                col = columns[position[node.operand]]
                row.append(_aggregate(node.kind, [col[r] for r in members]))
            else:
                assert isinstance(node, n.Literal), node
                row.append(node.value)
        out.append(row)
    return out


def _aggregate(kind: str, values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if kind == 'count':
        return len(present)
    if not present:
        return None
    if kind == 'sum':
        return sum(present)
    if kind == 'min':
        return min(present)
    if kind == 'max':
        return max(present)
    if kind == 'mean':
        return sum(present) / len(present)
    raise InvalidValueError(f'Unknown aggregate {kind!r}.')
