"""``t.img.similarity(item)``: the similarity pseudo-function of an embedding index.

The node only says what was asked (which column, which item, which index); the catalog's
index layer (``catalog/embeddings.py``) answers it before the query runs, replacing each node
with the values the index found. ``replace_nodes`` is the rewrite it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, register_method


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

    @property
    def unstorable(self) -> str:
        """Why it cannot be stored (``serialize`` raises this): the index answers it per query."""
        return (
            f'{self.rendered()} is answered by an embedding index when a query runs; it '
            'cannot be computed into a column. Use it in select(), where() or order_by().'
        )

    def children(self) -> tuple[n.Node, ...]:
        return (self.column,)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def rendered(self) -> str:
        """Source text, as ``render`` shows it: ``img.similarity('a fox')``."""
        item = repr(self.item) if isinstance(self.item, str) else f'{self.kind}=<image>'
        idx = '' if self.idx is None else f', idx={self.idx!r}'
        return f'{self.column.name}.similarity({item}{idx})'

    def __repr__(self) -> str:
        return self.rendered()


def has_similarity(nodes: list[n.Node]) -> bool:
    """Whether any of ``nodes`` asks for a similarity (the query needs an index)."""
    return any(similarity_nodes(node) for node in nodes)


def similarity_nodes(node: n.Node) -> list[Similarity]:
    """Every similarity node in an expression."""
    return [x for x in node.walk() if isinstance(x, Similarity)]


def replace_nodes(node: n.Node, mapping: dict[n.Node, n.Node]) -> n.Node:
    """The same expression with each similarity node found in ``mapping`` replaced."""
    return n.substitute(node, Similarity, mapping)


def _similarity(
    expr: Expr,
    item: Any = None,
    *,
    string: str | None = None,
    image: Any = None,
    idx: str | None = None,
) -> Expr:
    """``t.col.similarity(item)`` (or ``string=`` / ``image=``), answered by an index."""
    given = [
        (k, v) for k, v in (('item', item), ('string', string), ('image', image)) if v is not None
    ]
    if len(given) != 1:
        raise InvalidValueError(
            "similarity() takes one item: a string or an image, e.g. t.img.similarity('a red "
            "fox') or t.img.similarity(image=pil_image)."
        )
    kind, value = given[0]
    if kind == 'item':
        kind = 'string' if isinstance(value, str) else 'image'
    if not isinstance(expr.node, n.ColumnRef):
        raise InvalidValueError(
            f'similarity() is asked of a column with an embedding index, not of {expr!r}.'
        )
    return Expr(Similarity(expr.node, value, kind, idx))


for _type_name in ('String', 'Image'):
    register_method(_type_name, 'similarity', _similarity)
