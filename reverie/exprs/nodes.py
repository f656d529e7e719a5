"""Expression nodes: frozen, hashable, comparable; no run state.

Each node carries its result type (``col_type``), worked out once when the node is built
(see ``exprs/expr.py``). Evaluation (``evaluate.py``), SQL translation (``to_sql.py``)
and JSON (``serialize.py``) dispatch on the node class in their own modules.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from typing import Literal as TypingLiteral

from reverie.types import ColumnType


class Param(Protocol):
    """One parameter of a function, as a function call node needs it."""

    name: str
    col_type: ColumnType | None
    kind: TypingLiteral['positional', 'keyword', 'varargs']
    has_default: bool


class FunctionLike(Protocol):
    """What a function-call node needs of a function (defined in ``reverie.functions``)."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def return_type(self) -> ColumnType: ...
    @property
    def is_async(self) -> bool: ...
    @property
    def batch_size(self) -> int | None: ...
    @property
    def resource_pool(self) -> str | None: ...
    @property
    def sql_twin(self) -> Callable[..., Any] | None:
        """SQL computing the call exactly like the function (see ``to_sql.SqlTwin``)."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in the catalog to find this function again."""
        ...


@dataclass(frozen=True)
class Node:
    """Base of every expression node."""

    @property
    def col_type(self) -> ColumnType | None:
        raise NotImplementedError

    def children(self) -> tuple[Node, ...]:
        """Direct sub-expressions."""
        return ()

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, children first (post-order)."""
        for child in self.children():
            yield from child.walk()
        yield self


class _Typed:
    """Mixin: the node's type is its ``result_type`` field.

    Each node declares the field itself, so its constructor keeps its own argument order.
    """

    result_type: ColumnType

    @property
    def col_type(self) -> ColumnType:
        return self.result_type


class _Unary:
    """Mixin: the node's one sub-expression is its ``operand`` field."""

    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class ColumnRef(Node):
    """A column of a table."""

    table_id: int
    column_id: int
    name: str
    ref_type: ColumnType
    is_computed: bool = False

    @property
    def col_type(self) -> ColumnType:
        return self.ref_type


@dataclass(frozen=True)
class Literal(Node):
    """A constant: None, a number, a string, a list or dict of those."""

    value: Any
    lit_type: ColumnType | None

    def __hash__(self) -> int:
        return hash((Literal, json.dumps(self.value, sort_keys=True, default=repr)))

    @property
    def col_type(self) -> ColumnType | None:
        return self.lit_type


@dataclass(frozen=True)
class ListNode(Node):
    """A list of expressions, e.g. the images of a remix."""

    items: tuple[Node, ...]
    list_type: ColumnType

    @property
    def col_type(self) -> ColumnType:
        return self.list_type

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True)
class DictNode(Node):
    """A dict whose values are expressions: ``{'w': t.img.width, 'tags': [t.a, 'x']}``."""

    keys: tuple[str, ...]
    values: tuple[Node, ...]
    dict_type: ColumnType

    @property
    def col_type(self) -> ColumnType:
        return self.dict_type

    def children(self) -> tuple[Node, ...]:
        return self.values


ARITHMETIC = ('+', '-', '*', '/', '//', '%', '**')
# Integers past this bit length are past Int's 64 bits: refuse before computing them (a
# power such as 10 ** 10 ** 9 would otherwise take minutes and gigabytes).
_MAX_POWER_BITS = 4096


def _power(a: Any, b: Any) -> Any:
    if (
        isinstance(a, int)
        and isinstance(b, int)
        and b > 0
        and abs(a) > 1
        and (abs(a).bit_length() - 1) * b > _MAX_POWER_BITS
    ):
        raise OverflowError(f'{a} ** {b} is too large')
    return operator.pow(a, b)


COMPARISON = ('==', '!=', '<', '<=', '>', '>=')

# The Python operator of each binary op. SQLAlchemy column expressions overload the same
# operators, so SQL translation uses this table too.
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    '+': operator.add,
    '-': operator.sub,
    '*': operator.mul,
    '/': operator.truediv,
    '//': operator.floordiv,
    '%': operator.mod,
    '**': _power,
    '==': operator.eq,
    '!=': operator.ne,
    '<': operator.lt,
    '<=': operator.le,
    '>': operator.gt,
    '>=': operator.ge,
}


@dataclass(frozen=True)
class BinaryOp(_Typed, Node):
    """Arithmetic (``+ - * / // % **``) or a comparison.

    ``+`` also joins strings and ``str * int`` repeats one, as in Python.
    """

    op: str
    left: Node
    right: Node
    result_type: ColumnType

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class BoolOp(_Typed, Node):
    """``a & b`` (op 'and') or ``a | b`` (op 'or')."""

    op: str
    operands: tuple[Node, ...]
    result_type: ColumnType

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True)
class Not(_Unary, _Typed, Node):
    """``~a``."""

    operand: Node
    result_type: ColumnType


@dataclass(frozen=True)
class IsNull(_Unary, _Typed, Node):
    """``a == None`` (or ``a != None`` when ``negate``)."""

    operand: Node
    negate: bool
    result_type: ColumnType


@dataclass(frozen=True)
class IsIn(_Typed, Node):
    """``a.isin([...])``."""

    operand: Node
    values: tuple[Node, ...]
    result_type: ColumnType

    def children(self) -> tuple[Node, ...]:
        return (self.operand, *self.values)


@dataclass(frozen=True)
class Cast(_Unary, Node):
    """``a.astype(rv.String)``."""

    operand: Node
    target: ColumnType

    @property
    def col_type(self) -> ColumnType:
        return self.target


MATH_FUNCTIONS = ('abs', 'round')


@dataclass(frozen=True)
class MathCall(_Unary, _Typed, Node):
    """``abs(a)`` or ``round(a, digits)`` (Python's rounding: halves to even)."""

    fn: str
    operand: Node
    digits: int | None
    result_type: ColumnType


@dataclass(frozen=True)
class JsonSlice:
    """A slice step of a JSON path: ``t.meta['a'][1:3]``."""

    start: int | None
    stop: int | None
    step: int | None


# ``'*'`` as a JSON path step: every element of a list (later steps apply to each).
JSON_STAR = '*'


@dataclass(frozen=True)
class JsonPath(_Unary, _Typed, Node):
    """``t.meta['a'][0]``: keys, indexes, slices and ``'*'`` into a JSON value."""

    operand: Node
    path: tuple[str | int | JsonSlice, ...]
    result_type: ColumnType


IMAGE_PROPS = ('width', 'height', 'size', 'mode', 'fileurl', 'localpath')
FILE_PROPS = ('fileurl', 'localpath')  # need no pixels: a query reads no byte of the image


@dataclass(frozen=True)
class ImageProp(_Unary, _Typed, Node):
    """``t.img.width``, ``.height``, ``.size`` ([w, h]), ``.mode``, ``.fileurl``, ``.localpath``."""

    operand: Node
    prop: str
    result_type: ColumnType


CELL_PROPS = ('errortype', 'errormsg', 'cellmeta')


@dataclass(frozen=True)
class CellProp(_Typed, Node):
    """Per-cell facts of a computed column: ``errortype``, ``errormsg``, ``cellmeta``."""

    column: ColumnRef
    prop: str
    result_type: ColumnType


@dataclass(frozen=True)
class FunctionCall(_Typed, Node):
    """A call of a UDF or builtin with argument expressions."""

    fn: FunctionLike
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]
    result_type: ColumnType

    def children(self) -> tuple[Node, ...]:
        return (*self.args, *(v for _, v in self.kwargs))


AGGREGATES = ('count', 'sum', 'min', 'max', 'mean')


@dataclass(frozen=True)
class Aggregate(_Unary, _Typed, Node):
    """``count(x)``, ``sum(x)``, ``min(x)``, ``max(x)``, ``mean(x)`` over a group of rows."""

    kind: str
    operand: Node
    result_type: ColumnType


def column_refs(node: Node) -> set[ColumnRef]:
    """Every column an expression reads (also through ``errortype`` and friends)."""
    refs: set[ColumnRef] = set()
    for n in node.walk():
        if isinstance(n, ColumnRef):
            refs.add(n)
        elif isinstance(n, CellProp):
            refs.add(n.column)
    return refs


def replace_refs(node: Node, mapping: dict[ColumnRef, ColumnRef]) -> Node:
    """The same expression reading other columns: each ref in ``mapping`` is replaced."""
    return substitute(node, ColumnRef, mapping)


def substitute(node: Node, kind: type[Node], mapping: Mapping[Any, Node]) -> Node:
    """The same expression with each ``kind`` node found in ``mapping`` replaced.

    The parts of a ``kind`` node are left as they are; the rest is rebuilt only where
    something changed.
    """
    if isinstance(node, kind):
        return mapping.get(node, node)
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        new = _substitute_in(value, kind, mapping)
        if new is not value:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node


def _substitute_in(value: Any, kind: type[Node], mapping: Mapping[Any, Node]) -> Any:
    if isinstance(value, Node):
        return substitute(value, kind, mapping)
    if isinstance(value, tuple):
        items = tuple(_substitute_in(v, kind, mapping) for v in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def function_calls(node: Node) -> list[FunctionCall]:
    """Every function call in an expression, innermost first."""
    return [n for n in node.walk() if isinstance(n, FunctionCall)]


def _cache_hash(cls: type[Node]) -> None:
    """Nodes are immutable: compute each one's (recursive) hash once."""
    computed = cls.__hash__

    def __hash__(self: Node) -> int:
        cached: int | None = self.__dict__.get('_hash')
        if cached is None:
            cached = computed(self)
            self.__dict__['_hash'] = cached
        return cached

    cls.__hash__ = __hash__  # type: ignore[method-assign,assignment]


for _cls in Node.__subclasses__():
    _cache_hash(_cls)


def may_be_none(node: Node) -> bool:
    """Whether ``node`` can give None on some row: the nullability of a computed column.

    As in Pixeltable 0.7: a column or literal says itself; arithmetic, comparisons, math and
    image properties are None only where an input can be; ``astype`` to a required type
    never gives None (a None becomes an error) and a function call is None-free when its
    declared return type is required and no argument can be None. Anything else may be.
    """
    if isinstance(node, ColumnRef):
        return node.ref_type.nullable
    if isinstance(node, Literal):
        return node.value is None
    if isinstance(node, IsNull):
        return False
    if isinstance(node, Cast):
        return node.target.nullable and may_be_none(node.operand)
    if isinstance(node, FunctionCall):
        if node.fn.return_type.nullable:
            return True
    elif not isinstance(node, BinaryOp | BoolOp | Not | MathCall | ImageProp):
        return True
    return any(may_be_none(child) for child in node.children())


def result_type(node: Node) -> ColumnType | None:
    """``node``'s type with the nullability ``may_be_none`` gives (what its values can be)."""
    t = node.col_type
    return None if t is None else t.copy(nullable=may_be_none(node))
