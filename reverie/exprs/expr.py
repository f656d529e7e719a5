"""``Expr``: the user-facing handle around a node, with Python operators.

``t.n + 1``, ``t.prompt == 'x'``, ``(t.a > 1) & ~t.b``, ``t.meta['k'][0]``,
``t.img.width``, ``t.img.resize((64, 64))``. Building an expression checks its types
at once and raises ``TypeMismatchError`` naming the operand and both types.
Methods of a column type (``resize``, ``upper``, ...) are registered by
``reverie.functions`` with ``register_method``, so this layer never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError, TypeMismatchError
from reverie.exprs import nodes as n
from reverie.exprs.render import render

MethodBuilder = Callable[..., 'Expr']
_METHODS: dict[tuple[str, str], MethodBuilder] = {}


def register_method(type_name: str, method: str, builder: MethodBuilder) -> None:
    """Make ``expr.<method>(...)`` available on expressions of a column type."""
    _METHODS[(type_name, method)] = builder


def registered_methods(type_name: str) -> list[str]:
    """Names of the methods registered for a column type."""
    return sorted(m for t, m in _METHODS if t == type_name)


# The operators' builders, which check the operand types (before Expr: its operator methods
# are made from them).
def _compare(op: str, left: Any, right: Any) -> Expr:
    lnode, rnode = as_node(left), as_node(right)
    if op in ('==', '!=') and (_is_none(rnode) or _is_none(lnode)):
        operand = lnode if _is_none(rnode) else rnode
        return Expr(n.IsNull(operand, op == '!=', ts.Bool))
    lt, rt = lnode.col_type, rnode.col_type
    if lt is not None and rt is not None and not _comparable(lt, rt):
        raise TypeMismatchError(
            f'Cannot compare {Expr(lnode)!r} ({lt}) {op} {Expr(rnode)!r} ({rt}): '
            'both sides need the same type (Int and Float mix).'
        )
    if op not in ('==', '!=') and lt is not None and not (lt.scalar or lt.dynamic):
        raise TypeMismatchError(f'{Expr(lnode)!r} of type {lt} cannot be ordered with {op}.')
    return Expr(n.BinaryOp(op, lnode, rnode, ts.Bool))


def _comparable(a: ts.ColumnType, b: ts.ColumnType) -> bool:
    if a.numeric and b.numeric:
        return True
    if a.dynamic or b.dynamic:
        return True
    return type(a) is type(b)


def _is_none(node: n.Node) -> bool:
    return isinstance(node, n.Literal) and node.value is None


def _arith(op: str, left: Any, right: Any) -> Expr:
    lnode, rnode = as_node(left), as_node(right)
    lt, rt = lnode.col_type, rnode.col_type
    if op == '+' and _python_type(lt) is str and _python_type(rt) is str:
        return Expr(n.BinaryOp(op, lnode, rnode, ts.String))
    if op == '*' and {_python_type(lt), _python_type(rt)} == {str, int}:
        return Expr(n.BinaryOp(op, lnode, rnode, ts.String))  # 'ab' * 3, as in Python
    json_side = _is(lt, 'dynamic') or _is(rt, 'dynamic')
    if not json_side and not (_is(lt, 'numeric') and _is(rt, 'numeric')):
        hint = ' (join strings with +, both sides String; use .astype(rv.String))'
        raise TypeMismatchError(
            f'Cannot apply {op} to {Expr(lnode)!r} ({lt}) and {Expr(rnode)!r} ({rt}); '
            f'arithmetic needs Int or Float on both sides{hint if op == "+" else ""}.'
        )
    if json_side:
        result: ts.ColumnType = ts.Json
    elif op == '/' or _python_type(lt) is float or _python_type(rt) is float:
        result = ts.Float
    elif op == '**' and not _non_negative_int_literal(rnode):
        result = ts.Float  # 2 ** -1 is 0.5: Int only for a literal exponent >= 0
    else:
        result = ts.Int
    return Expr(n.BinaryOp(op, lnode, rnode, result))


def _non_negative_int_literal(node: n.Node) -> bool:
    return isinstance(node, n.Literal) and _python_type(node.lit_type) is int and node.value >= 0


def _math(fn: str, operand: Expr, digits: Any) -> Expr:
    t = operand.col_type
    if t is not None and not (t.numeric or t.dynamic):
        raise TypeMismatchError(f'{fn}() needs an Int or Float; {operand!r} has type {t}.')
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int)):
        raise InvalidValueError(f'round() takes an int number of digits, got {digits!r}.')
    if t is None or t.dynamic:
        result: ts.ColumnType = ts.Json
    elif fn == 'round' and digits is None:
        result = ts.Int  # round(2.5) is the int 2, as in Python
    else:
        result = t.copy(nullable=False)  # as Int for round(x): may_be_none says None
    return Expr(n.MathCall(fn, operand.node, digits, result))


def _require_bool(e: Expr, op: str) -> None:
    t = e.col_type
    if t is not None and not (t.python_type is bool or t.dynamic):
        raise TypeMismatchError(f'{op} needs Bool operands; {e!r} has type {t}.')


def _bool_op(op: str, left: Any, right: Any) -> Expr:
    lexpr, rexpr = as_expr(left), as_expr(right)
    sym = '&' if op == 'and' else '|'
    _require_bool(lexpr, sym)
    _require_bool(rexpr, sym)
    operands: list[n.Node] = []
    for e in (lexpr, rexpr):
        if isinstance(e.node, n.BoolOp) and e.node.op == op:
            operands.extend(e.node.operands)
        else:
            operands.append(e.node)
    return Expr(n.BoolOp(op, tuple(operands), ts.Bool))


def _is(t: ts.ColumnType | None, trait: str) -> bool:
    """Whether ``t`` (None for an untyped None literal) has a trait such as ``numeric``."""
    return t is not None and bool(getattr(t, trait))


def _python_type(t: ts.ColumnType | None) -> type | None:
    return None if t is None else t.python_type


# Operator builders by kind: each takes (op, left, right) and checks the operand types.
OperatorBuild = Callable[[str, Any, Any], 'Expr']


def _operator(build: OperatorBuild, op: str) -> Callable[[Expr, object], Expr]:
    """``Expr.__lt__`` and the like: ``build(op, self, other)``."""

    def method(self: Expr, other: object) -> Expr:
        return build(op, self, other)

    return method


def _operators(
    build: OperatorBuild, op: str
) -> tuple[Callable[[Expr, object], Expr], Callable[[Expr, object], Expr]]:
    """``Expr.__add__`` and ``__radd__`` and the like: ``build(op, self, other)`` and its mirror."""

    def reflected(self: Expr, other: object) -> Expr:
        return build(op, other, self)

    return _operator(build, op), reflected


class Expr:
    """An expression over table columns; build with operators, evaluate by querying."""

    __slots__ = ('node',)

    def __init__(self, node: n.Node) -> None:
        self.node = node

    def __repr__(self) -> str:
        return render(self.node)

    @property
    def col_type(self) -> ts.ColumnType | None:
        """Type of the expression's values."""
        return self.node.col_type

    def __bool__(self) -> bool:
        raise TypeMismatchError(
            f'Expression {self!r} has no truth value: use &, |, ~ instead of and, or, not, '
            'and a.isin([...]) instead of "in".'
        )

    def __hash__(self) -> int:
        return hash(self.node)

    def __iter__(self) -> Iterator[Any]:
        # Without this, Python iterates through __getitem__ with 0, 1, 2, ... forever.
        raise TypeMismatchError(
            f'Expression {self!r} cannot be iterated: it stands for a value in every row. '
            'Query it and iterate the result, e.g. t.select(...).collect(), or index it: e[0].'
        )

    def __contains__(self, item: object) -> bool:
        raise TypeMismatchError(
            f'"in" does not work on expression {self!r}; use a.isin([...]) for "a in [...]".'
        )

    # comparisons -------------------------------------------------------------
    __eq__ = _operator(_compare, '==')  # type: ignore[assignment]
    __ne__ = _operator(_compare, '!=')  # type: ignore[assignment]
    __lt__ = _operator(_compare, '<')
    __le__ = _operator(_compare, '<=')
    __gt__ = _operator(_compare, '>')
    __ge__ = _operator(_compare, '>=')

    # arithmetic --------------------------------------------------------------
    __add__, __radd__ = _operators(_arith, '+')
    __sub__, __rsub__ = _operators(_arith, '-')
    __mul__, __rmul__ = _operators(_arith, '*')
    __truediv__, __rtruediv__ = _operators(_arith, '/')
    __floordiv__, __rfloordiv__ = _operators(_arith, '//')
    __mod__, __rmod__ = _operators(_arith, '%')
    __pow__, __rpow__ = _operators(_arith, '**')

    def __neg__(self) -> Expr:
        return _arith('*', self, -1)

    def __abs__(self) -> Expr:
        return _math('abs', self, None)

    def __round__(self, ndigits: int | None = None) -> Expr:
        return _math('round', self, ndigits)

    # boolean -----------------------------------------------------------------
    __and__, __rand__ = _operators(_bool_op, 'and')
    __or__, __ror__ = _operators(_bool_op, 'or')

    def __invert__(self) -> Expr:
        _require_bool(self, '~')
        return Expr(n.Not(self.node, ts.Bool))

    # other -------------------------------------------------------------------
    def isin(self, values: Iterable[Any] | Expr) -> Expr:
        """True where the value is one of ``values`` (a list, tuple, set, dict's keys, Json list).

        Each value must be comparable with this expression's type: ``t.name.isin([1, 2])``
        is a TypeMismatchError, not an always-false condition.
        """
        own = self.col_type
        if own is not None and not (own.scalar or own.dynamic):  # images, arrays
            raise TypeMismatchError(f'isin() cannot compare {self!r} of type {own}.')
        if isinstance(values, Expr):
            if not _is(values.col_type, 'dynamic'):
                raise TypeMismatchError(
                    f'isin() takes a list of values or a Json expression holding a list; '
                    f'{values!r} has type {values.col_type}.'
                )
            return Expr(n.IsIn(self.node, (values.node,), ts.Bool))
        if isinstance(values, set | frozenset):
            items: list[Any] = sorted(values, key=repr)  # a stable order, so a stable node
        elif isinstance(values, list | tuple | dict):
            items = list(values)  # a dict: its keys, as ``x in d`` (and Pixeltable)
        else:
            raise TypeMismatchError(
                f'isin() takes a list, tuple, set or dict of values, got {values!r}; for one value '
                'use ==.'
            )
        nodes = tuple(as_node(v) for v in items)
        for node in nodes:
            got = node.col_type
            if own is not None and got is not None and not _comparable(own, got):
                raise TypeMismatchError(
                    f'isin(): {Expr(node)!r} ({got}) can never equal {self!r} ({own}); pass '
                    f'values of type {own}.'
                )
        return Expr(n.IsIn(self.node, nodes, ts.Bool))

    def is_null(self) -> Expr:
        """True where the value is None (same as ``expr == None``)."""
        return Expr(n.IsNull(self.node, False, ts.Bool))

    def astype(self, target: Any) -> Expr:
        """Convert to another column type, e.g. ``t.n.astype(rv.String)``.

        A bare (required) target makes a None value an error of that cell; ``rv.T | None`` keeps it.
        """
        target_type = ts.to_column_type(target)
        src = self.col_type
        allowed = (ts.StringType, ts.IntType, ts.FloatType, ts.BoolType, ts.JsonType)
        if not isinstance(target_type, allowed) or (
            src is not None and not isinstance(src, allowed)
        ):
            raise TypeMismatchError(
                f'Cannot convert {self!r} of type {src} to {target_type}; astype converts '
                'between String, Int, Float, Bool and Json.'
            )
        return Expr(n.Cast(self.node, target_type))

    def __getitem__(self, key: str | int | slice) -> Expr:
        """``e['key']``, ``e[0]``, ``e[1:3]``, or ``e['*']`` (every element of a list)."""
        if not _is(self.col_type, 'subscriptable'):
            raise TypeMismatchError(
                f'{self!r} has type {self.col_type}; only Json and Array values can be indexed '
                'with [...].'
            )
        step: str | int | n.JsonSlice
        if isinstance(key, slice):
            parts = (key.start, key.stop, key.step)
            if any(
                p is not None and (isinstance(p, bool) or not isinstance(p, int)) for p in parts
            ):
                raise InvalidValueError(f'A JSON slice takes int bounds, got {key!r}.')
            if key.step == 0:
                raise InvalidValueError('A JSON slice step cannot be zero.')
            step = n.JsonSlice(key.start, key.stop, key.step)
        elif isinstance(key, bool) or not isinstance(key, str | int):
            raise InvalidValueError(
                f"A JSON path step must be a str, int, slice or '*', got {key!r}."
            )
        else:
            step = key
        if isinstance(self.node, n.JsonPath):
            return Expr(n.JsonPath(self.node.operand, (*self.node.path, step), ts.Json))
        return Expr(n.JsonPath(self.node, (step,), ts.Json))

    def __getattr__(self, name: str) -> Any:
        if name.startswith('_'):
            raise AttributeError(name)
        col_type = self.col_type
        if name in ('errortype', 'errormsg') and _is_stored_media(self.node):
            return Expr(n.Literal(None, ts.String))  # bad media is refused on insert: no error
        if name in n.CELL_PROPS:
            if not (isinstance(self.node, n.ColumnRef) and self.node.is_computed):
                raise TypeMismatchError(
                    f'.{name} is available on computed columns only, not on {self!r}.'
                )
            prop_type: ts.ColumnType = ts.Json if name == 'cellmeta' else ts.String
            return Expr(n.CellProp(self.node, name, prop_type))
        if _is(col_type, 'is_media') and name in n.IMAGE_PROPS:
            image_prop_type: ts.ColumnType = (
                ts.Int if name in ('width', 'height') else ts.Json if name == 'size' else ts.String
            )
            return Expr(n.ImageProp(self.node, name, image_prop_type))
        type_name = col_type.name if col_type is not None else 'Any'
        builder = _METHODS.get((type_name, name))
        if builder is not None:
            return lambda *args, **kwargs: builder(self, *args, **kwargs)
        if type_name == 'Json':
            return self[name]  # Pixeltable's t.meta.f5: the key 'f5', as t.meta['f5']
        known = [*(n.IMAGE_PROPS if type_name == 'Image' else ()), *registered_methods(type_name)]
        hint = f' Available: {", ".join(known)}.' if known else ''
        raise AttributeError(f'{self!r} of type {col_type} has no attribute {name!r}.{hint}')


def _is_stored_media(node: n.Node) -> bool:
    """A media column that is not computed (its cells never hold errors)."""
    return isinstance(node, n.ColumnRef) and not node.is_computed and _is(node.col_type, 'is_media')


class NamedExpr(Expr):
    """An expression that ``select()`` names ``result_name``: a ``stored=False`` column."""

    __slots__ = ('result_name',)

    def __init__(self, node: n.Node, result_name: str) -> None:
        super().__init__(node)
        self.result_name = result_name


def as_node(value: Any) -> n.Node:
    """Turn an Expr or a Python literal (or a list mixing both) into a node."""
    if isinstance(value, Expr):
        return value.node
    if isinstance(value, list | tuple):
        _refuse_literal_images(value)
    if isinstance(value, list | tuple) and _holds_expr(value):
        # Element types are checked by the function that receives the list.
        return n.ListNode(tuple(as_node(v) for v in value), ts.Json)
    if isinstance(value, dict) and _holds_expr(value):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise InvalidValueError(f'Dict keys in an expression must be str, got {bad[0]!r}.')
        return n.DictNode(tuple(value), tuple(as_node(v) for v in value.values()), ts.Json)
    lit_type = ts.infer_type(value)
    if value is not None and lit_type is None:
        raise InvalidValueError(
            f'{ts.short_repr(value)} of type {type(value).__name__} cannot be used in an '
            'expression; use '
            'a str, int, float, bool, date, datetime, list or dict.'
        )
    if isinstance(lit_type, ts.TimestampType):
        # Timestamps are kept in UTC and come back aware; a naive literal means UTC too, and
        # comparing it as it is would fail in Python (naive vs aware).
        value = lit_type.validate(value)
    if isinstance(lit_type, ts.IntType | ts.StringType | ts.JsonType):
        try:
            lit_type.validate(value)
        except (TypeError, ValueError) as e:
            raise InvalidValueError(
                f'{ts.short_repr(value)} cannot be used in an expression: {lit_type} needs {e}.'
            ) from None
    return n.Literal(value, lit_type)


_EXPR_SEARCH_DEPTH = 64  # deeper nesting is refused as JSON anyway (without recursing)


def _refuse_literal_images(items: list[Any] | tuple[Any, ...]) -> None:
    """An image in a list (``remix(images=[...])``) must come from a column, not be a value."""
    for i, item in enumerate(items):
        if isinstance(ts.infer_type(item), ts.ImageType):
            raise InvalidValueError(
                f'Item {i} of the list is an image value ({_image_text(item)}), not a column: '
                'images in a list must be image columns or expressions of the table, e.g. '
                '[t.edited, t.scene]. Store the image in a column first: '
                "t.add_column(ref=rv.Image | None), t.update({'ref': '<file path or URL>'}), then "
                'pass t.ref.'
            )


def _image_text(value: Any) -> str:
    size = getattr(value, 'size', None)
    if isinstance(size, tuple):
        return f'<Image {size[0]}x{size[1]} {getattr(value, "mode", "")}>'.replace(' >', '>')
    return type(value).__name__


def _holds_expr(value: Any) -> bool:
    """Whether a list, tuple or dict holds an Expr anywhere inside (looked for iteratively)."""
    todo = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, Expr):
            return True
        if depth >= _EXPR_SEARCH_DEPTH:
            continue
        if isinstance(item, list | tuple):
            todo.extend((v, depth + 1) for v in item)
        elif isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
    return False


def as_expr(value: Any) -> Expr:
    """``value`` as an Expr."""
    return value if isinstance(value, Expr) else Expr(as_node(value))
