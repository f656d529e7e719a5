"""``t.img.similarity(item)``: the similarity pseudo-function of an embedding index.

The node only says what was asked (which column, which item, which index); the catalog's
index layer (``catalog/indexes.py``) answers it before the query runs, replacing each node
with the values the index found. ``replace_nodes`` is the rewrite it uses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from reverie import types as ts
from reverie.exprs import nodes as n


@dataclass(frozen=True, eq=False)  # compared by identity: the item may be an image
class Similarity(n.Node):
    """How close each row's ``column`` is to ``item`` (a string or an image) by an index."""

    column: n.ColumnRef
    item: Any
    kind: str = 'string'  # what the item is: 'string' or 'image'
    idx: str | None = None

    @property
    def col_type(self) -> ts.ColumnType:
        return ts.Float

    def children(self) -> tuple[n.Node, ...]:
        return (self.column,)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        item = self.item if isinstance(self.item, str) else type(self.item).__name__
        return f'{self.column.name}.similarity({item!r})'


def similarity_nodes(node: n.Node) -> list[Similarity]:
    """Every similarity node in an expression."""
    return [x for x in node.walk() if isinstance(x, Similarity)]


def replace_nodes(node: n.Node, mapping: dict[n.Node, n.Node]) -> n.Node:
    """The same expression with each node found in ``mapping`` (by identity) replaced."""
    if isinstance(node, Similarity):
        return mapping.get(node, node)
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        replaced = _replace_in(value, mapping)
        if replaced is not value:
            changes[f.name] = replaced
    return dataclasses.replace(node, **changes) if changes else node


def _replace_in(value: Any, mapping: dict[n.Node, n.Node]) -> Any:
    if isinstance(value, n.Node):
        return replace_nodes(value, mapping)
    if isinstance(value, tuple):
        items = tuple(_replace_in(v, mapping) for v in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value
