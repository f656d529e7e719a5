"""The one decision of what SQL computes and what Python computes: queries and computed columns.

``sql_for(node, resolve, use)`` is the rule both follow: the database computes a node only
where it gives Python's answer for every row (``exprs/to_sql.py`` translates; the rules
here say which translation a use may take):
- ``'value'`` (a computed column's cells): stored columns of exact types (String, Int,
  Float, Bool), arithmetic that cannot raise in Python (no ``/``, ``//``, ``%``: Python
  makes an error cell where SQL gives NULL), comparisons, boolean logic, null tests,
  ``isin`` and functions with an exact SQL twin (``functions/string/sql.py``);
- ``'order'`` (a sort key): the same over any comparable column, computed ones included
  (they are read as stored: None while pending or in error);
- ``'where'`` (a filter conjunct): also the operations that raise in Python, where their
  SQL NULL can only make the row not match, as the Python error does (under comparisons,
  arithmetic, ``~``, ``&``, ``isin`` and twins, never under ``|`` or a null test).

``plan_table(schema)`` decides, per computed column:
- ``sql``: the SQL computing the whole column (``sql_for(..., 'value')``), written by one
  ``UPDATE`` per batch, no row ever reaching Python;
- otherwise ``value``: the expression compiled once into a closure (plain synchronous
  functions called inline), after ``precompute``: the calls that run on their own (async,
  pooled, paid or batched functions), innermost first;
- ``is_async``: whether the column (or one it reads) waits on such calls.
It also lists the physical columns to fetch, and ``plain``: columns of the form
``fn(stored columns or literals)`` that are computed straight from fetched tuples.

``plan_query(...)`` splits a query the same way (``QueryPlan``): the ``where`` conjuncts and
sort keys the database computes, the columns to read, and closures over the fetched tuples
for the rest; ``exec/queries.py`` drives it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from sqlalchemy.sql.elements import ColumnElement

from reverie import types as ts
from reverie.errors import NotFoundError
from reverie.exec.caller import NullRule, function_of, inline_call, is_inline
from reverie.exec.codec import Decoder, decoder, image_decoder
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.exprs import nodes as n
from reverie.exprs.compile import Getter, compile_args, compile_expr
from reverie.exprs.to_sql import ColumnResolver, split_conjuncts, to_sql
from reverie.functions.paid import PaidFunction
from reverie.store.db import ROWID, ColumnSql

SqlUse = Literal['value', 'order', 'where']
ROWID_REF = n.ColumnRef(-1, -1, ROWID, ts.Int)
# Operators Python may raise on (zero division, overflow) where SQL gives NULL.
_RAISING_OPS = frozenset({'/', '//', '%', '**'})
# Literal values the database holds exactly as Python does.
_EXACT_LITERALS = (str, int, float, bool)


def sql_for(node: n.Node, resolve: ColumnResolver, use: SqlUse) -> ColumnElement[Any] | None:
    """SQL computing ``node`` exactly as Python would for ``use``, or None (see module doc)."""
    if not _exact(node, use, null_is_no_match=use == 'where'):
        return None
    return to_sql(node, resolve)


def _exact(node: n.Node, use: SqlUse, *, null_is_no_match: bool) -> bool:
    """Whether every node below ``node`` may be computed by SQL for ``use``.

    ``null_is_no_match``: a NULL here can only make the row not match (see module doc).
    """
    if isinstance(node, n.BinaryOp) and node.op in _RAISING_OPS and not null_is_no_match:
        return False
    if use == 'value' and not _stored_exact(node):
        return False
    strict = isinstance(node, n.BinaryOp | n.Not | n.IsIn | n.FunctionCall) or (
        isinstance(node, n.BoolOp) and node.op == 'and'
    )
    keep = null_is_no_match and strict
    return all(_exact(child, use, null_is_no_match=keep) for child in node.children())


def _stored_exact(node: n.Node) -> bool:
    """For a computed column: nodes whose SQL value is exactly the cell Python would write."""
    if isinstance(node, n.ColumnRef):
        return not node.is_computed and node.col_type.sql_exact
    if isinstance(node, n.Literal):
        return node.value is None or type(node.value) in _EXACT_LITERALS
    return isinstance(node, n.BinaryOp | n.BoolOp | n.Not | n.IsNull | n.IsIn | n.FunctionCall)


def sql_resolver(schema: TableSchema) -> Callable[[n.ColumnRef | n.CellProp], Any]:
    """Maps column and cell-property nodes to the SQL columns of the rows a query reads."""
    t = schema.reads

    def resolve(node: n.ColumnRef | n.CellProp) -> Any:
        if node is ROWID_REF:
            return t.c[ROWID]
        ref = node.column if isinstance(node, n.CellProp) else node
        try:
            col = schema.by_id(ref.column_id)
        except KeyError:
            raise NotFoundError(
                f'Column {ref.name!r} of table {schema.path!r} no longer exists (it was dropped); '
                'build the query again.'
            ) from None
        if isinstance(node, n.CellProp):
            return t.c[getattr(col.sql, node.prop)]
        return t.c[col.sql.value]

    return resolve


class InputColumn(NamedTuple):
    """A column whose stored value some computed column reads."""

    column: ColumnSchema
    ref: n.ColumnRef
    sql: ColumnSql
    props: tuple[tuple[n.CellProp, str], ...]  # cell properties read, with their SQL column


@dataclass(frozen=True)
class ColumnPlan:
    """How one computed column is computed."""

    column: ColumnSchema
    ref: n.ColumnRef
    deps: tuple[int, ...]  # ids of computed columns this one reads
    precompute: tuple[tuple[n.FunctionCall, Getter], ...]  # calls run on their own, with
    # their (args, kwargs) reader, innermost first
    value: Getter  # the column's value from a row's env (after ``precompute``)
    is_async: bool
    external: bool  # calls an external service (a resource pool or a paid function)
    fallible: tuple[n.ColumnRef, ...]  # inputs that can hold an input error (computed, images)
    sql: ColumnElement[Any] | None  # the value computed by the database, or None


@dataclass(frozen=True)
class PlainCall:
    """A column computed as ``fn(stored columns or literals)`` into a plain type."""

    plan: ColumnPlan
    py_fn: Callable[..., Any]
    args: tuple[tuple[str | None, Any], ...]  # (SQL column, or None and a literal)
    required: tuple[int, ...]  # positions where None means "no call, the result is None"
    plain: type


@dataclass(frozen=True)
class TablePlan:
    """Everything ``compute_pending`` needs to know about a table's computed columns."""

    columns: tuple[ColumnPlan, ...]
    inputs: tuple[InputColumn, ...]
    fetch: tuple[str, ...]  # physical columns to read for the Python columns
    plain: tuple[PlainCall, ...] | None  # every Python column is a plain call, else None
    has_images: bool

    @property
    def in_sql(self) -> tuple[ColumnPlan, ...]:
        return tuple(p for p in self.columns if p.sql is not None)

    @property
    def in_python(self) -> tuple[ColumnPlan, ...]:
        return tuple(p for p in self.columns if p.sql is None)


def plan_table(schema: TableSchema) -> TablePlan:
    """The plan for every computed column of ``schema``."""
    computed_ids = {c.id for c in schema.computed()}
    canonical = _canonical_refs(schema)
    plans: list[ColumnPlan] = []
    async_ids: set[int] = set()
    for col in schema.computed():
        plans.append(_plan_column(schema, col, canonical, computed_ids, async_ids))
    python = [p for p in plans if p.sql is None]
    inputs = _inputs(schema, python, canonical)
    plain = [_plain_call(p) for p in python]
    fetch = sorted(
        {i.sql.value for i in inputs}
        | {key for i in inputs for _, key in i.props}
        | {
            name
            for i in inputs
            if i.column.is_computed
            for name in (i.sql.state, i.sql.errortype, i.sql.errormsg)
        }
    )
    has_images = any(
        c.col_type.is_media for c in [*(i.column for i in inputs), *(p.column for p in python)]
    )
    return TablePlan(
        tuple(plans),
        tuple(inputs),
        tuple(fetch),
        None if None in plain else tuple(c for c in plain if c is not None),
        has_images,
    )


def _plan_column(
    schema: TableSchema,
    col: ColumnSchema,
    canonical: dict[int, n.ColumnRef],
    computed_ids: set[int],
    async_ids: set[int],
) -> ColumnPlan:
    expr = col.expr
    ref = canonical[col.id]
    if expr is None:  # its function could not be loaded: every cell is an error
        return ColumnPlan(col, ref, (), (), _none, False, False, (), None)
    calls = n.function_calls(expr)
    deps = tuple(sorted({r.column_id for r in n.column_refs(expr)} & computed_ids))
    key = functools.partial(_canonical_key, canonical=canonical)
    precompute = tuple(
        (c, compile_args(c, key=key, calls=inline_call)) for c in calls if not is_inline(c)
    )
    is_async = any(_is_async_call(c) for c in calls) or any(d in async_ids for d in deps)
    if is_async:
        async_ids.add(col.id)
    inputs = tuple(canonical[r.column_id] for r in n.column_refs(expr))
    fallible = tuple(r for r in inputs if r.is_computed or r.col_type.is_media)
    value = compile_expr(expr, key=key, calls=inline_call)
    sql = None if col.load_error else sql_computable(schema, col)
    external = any(is_external(c) for c in calls)
    return ColumnPlan(col, ref, deps, precompute, value, is_async, external, fallible, sql)


def _none(env: Any) -> None:
    return None


def _canonical_key(leaf: n.Node, canonical: dict[int, n.ColumnRef]) -> n.Node:
    if isinstance(leaf, n.ColumnRef):
        return canonical.get(leaf.column_id, leaf)
    return leaf


def sql_computable(schema: TableSchema, col: ColumnSchema) -> ColumnElement[Any] | None:
    """The SQL computing ``col`` exactly as Python would, or None."""
    if col.expr is None or not col.col_type.sql_exact:
        return None
    table = schema.sa_table

    def resolve(node: n.ColumnRef | n.CellProp) -> Any:
        if isinstance(node, n.CellProp):
            return None
        return table.c[schema.by_id(node.column_id).sql.value]

    return sql_for(col.expr, resolve, 'value')


def is_external(call: n.FunctionCall) -> bool:
    """Whether a call reaches an external service (a paid function, or one with a pool).

    A paid function's pool settings come from the open catalog when it runs; looking at
    them here would read another home's settings.
    """
    return isinstance(call.fn, PaidFunction) or call.fn.resource_pool is not None


def _is_async_call(call: n.FunctionCall) -> bool:
    return call.fn.is_async or call.fn.resource_pool is not None


def _canonical_refs(schema: TableSchema) -> dict[int, n.ColumnRef]:
    """One ColumnRef object per column: the one the expressions hold.

    Row values are keyed by these, so a lookup finds the very same key object instead of
    comparing equal nodes field by field.
    """
    refs: dict[int, n.ColumnRef] = {}
    for col in schema.computed():
        if col.expr is not None:
            for ref in n.column_refs(col.expr):
                refs.setdefault(ref.column_id, ref)
    for col in schema.columns:
        refs.setdefault(col.id, col.ref(schema.id))
    return refs


def _inputs(
    schema: TableSchema, plans: list[ColumnPlan], canonical: dict[int, n.ColumnRef]
) -> list[InputColumn]:
    ids: set[int] = set()
    props: set[n.CellProp] = set()
    for p in plans:
        ids.add(p.column.id)
        if p.column.expr is not None:
            ids |= {r.column_id for r in n.column_refs(p.column.expr)}
            props |= {x for x in p.column.expr.walk() if isinstance(x, n.CellProp)}
    inputs = []
    for c in schema.columns:
        if c.id not in ids:
            continue
        used = tuple(
            (prop, getattr(c.sql, prop.prop)) for prop in props if prop.column.column_id == c.id
        )
        inputs.append(InputColumn(c, canonical[c.id], c.sql, used))
    return inputs


def _plain_call(plan: ColumnPlan) -> PlainCall | None:
    expr, col = plan.column.expr, plan.column
    plain = col.col_type.python_type
    if not isinstance(expr, n.FunctionCall) or expr.kwargs or plain is None or col.load_error:
        return None
    if not is_inline(expr):
        return None
    args: list[tuple[str | None, Any]] = []
    for arg in expr.args:
        if isinstance(arg, n.Literal):
            args.append((None, arg.value))
        elif (
            isinstance(arg, n.ColumnRef)
            and not arg.is_computed
            and arg.col_type.python_type is not None
        ):
            args.append((ColumnSql(arg.column_id, computed=False).value, None))
        else:
            return None
    fn = function_of(expr)
    return PlainCall(plan, fn.py_fn, tuple(args), NullRule.of(expr).required, plain)


# -- queries -------------------------------------------------------------------------------


CallSlot = tuple[n.FunctionCall, int, Getter]  # a call run on its own, its slot, its args


class ColumnFilter(NamedTuple):
    """A ``where`` conjunct that is one plain synchronous call over fetched leaves and literals.

    ``exec/queries.py`` runs it over a partition's columns at once (no closure per row).
    """

    fn: Callable[..., Any]
    args: tuple[tuple[int | None, Any], ...]  # (slot, None) or (None, literal)
    required: tuple[int, ...]  # argument positions where None means no call: no match


@dataclass(frozen=True)
class QueryPlan:
    """A query split between SQL and closures compiled once over the fetched tuples.

    A fetched row is a list: the SQL ``columns`` in order (``leaves`` maps each column or
    cell-property node, ``ROWID_REF`` first, to its position), then one slot per call that
    runs on its own (``where_calls``, ``item_calls``), filled before the closures run.
    """

    sql_where: tuple[ColumnElement[Any], ...]
    py_where: tuple[n.Node, ...]
    sql_order: tuple[ColumnElement[Any], ...] | None  # None: sorted in Python by ``keys``
    columns: tuple[Any, ...]  # the SQL columns selected
    leaves: dict[object, int]
    slots: dict[object, int]  # leaves, then calls
    state_slots: tuple[int | None, ...]  # per item: the slot of its cell state, if computed
    decoders: tuple[tuple[int, Decoder], ...]
    where_calls: tuple[CallSlot, ...]
    item_calls: tuple[CallSlot, ...]
    where: tuple[Getter, ...]
    values: tuple[Getter, ...]
    keys: tuple[Getter, ...]
    # Every Python ``where`` conjunct as a ColumnFilter, or None (then row by row).
    column_filters: tuple[ColumnFilter, ...] | None = None
    opens_images: bool = False  # stored images are opened (closed again after the query)

    @property
    def limit_in_sql(self) -> bool:
        """Whether the database applies limit and offset (nothing filters or sorts after it)."""
        return not self.py_where and self.sql_order is not None

    @property
    def needs_rows(self) -> bool:
        """Whether fetched tuples must become lists (values to decode, call slots to fill)."""
        return bool(self.decoders) or len(self.slots) > len(self.leaves)


def split_where(
    predicate: n.Node | None, resolve: ColumnResolver
) -> tuple[list[ColumnElement[Any]], list[n.Node]]:
    """The ``where`` conjuncts the database computes, and those left for Python."""
    in_sql: list[ColumnElement[Any]] = []
    in_python: list[n.Node] = []
    for part in split_conjuncts(predicate) if predicate is not None else []:
        clause = sql_for(part, resolve, 'where')
        if clause is None:
            in_python.append(part)
        else:
            in_sql.append(clause)
    return in_sql, in_python


def plan_query(
    schema: TableSchema,
    items: Sequence[tuple[str, n.Node]],
    predicate: n.Node | None,
    order: Sequence[tuple[n.Node, bool]],
    open_image: Decoder,
    image_value: Decoder,
    stored_file: Decoder | None = None,
) -> QueryPlan:
    """The plan of a query.

    Stored images that Python reads are opened by ``open_image``; those only shown become
    ``image_value(reference)``; those read only for ``fileurl`` or ``localpath`` become
    ``stored_file(reference)`` (nothing is read or downloaded for them).
    """
    resolve = sql_resolver(schema)
    sql_where, py_where = split_where(predicate, resolve)
    order_sql = [sql_for(node, resolve, 'order') for node, _ in order]
    sql_order = (
        None if any(c is None for c in order_sql) else tuple(c for c in order_sql if c is not None)
    )
    nodes = [node for _, node in items]
    rest = nodes + ([] if sql_order is not None else [k for k, _ in order])
    in_python = rest + py_where
    leaves, state_slots = _query_leaves(items, in_python)
    columns = [resolve(leaf) for leaf in leaves]  # type: ignore[arg-type]
    # Images read by Python expressions are opened, those read for their file only become
    # stored files, those only shown stay references.
    opened, filed = image_reads([node for node in in_python if not isinstance(node, n.ColumnRef)])
    if stored_file is None:
        opened, filed = opened | filed, set()
    filed -= opened

    def image_of(leaf: n.ColumnRef) -> Decoder:
        if leaf in opened:
            return open_image
        return stored_file if stored_file is not None and leaf in filed else image_value

    decoders = [
        (i, dec)
        for leaf, i in leaves.items()
        if isinstance(leaf, n.ColumnRef)
        and (dec := decoder(leaf.col_type, image_of(leaf))) is not None
    ]
    # An image both shown and read by Python is fetched twice: shown as a reference.
    shown: dict[n.Node, int] = {}
    for node in nodes:
        if (node in opened or node in filed) and node not in shown:
            shown[node] = len(leaves) + len(shown)
            columns.append(resolve(node))
            decoders.append((shown[node], image_decoder(image_value)))
    leaves.update({('shown', node): i for node, i in shown.items()})
    # Calls that cannot run inline get a slot each, filled for all rows before evaluation.
    slots = dict(leaves)
    where_calls = _slot_calls(py_where, slots)
    item_calls = _slot_calls(rest, slots)
    compiled = functools.partial(compile_expr, key=slots.__getitem__, calls=inline_call)
    return QueryPlan(
        tuple(sql_where),
        tuple(py_where),
        sql_order,
        tuple(columns),
        leaves,
        slots,
        state_slots,
        tuple(decoders),
        where_calls,
        item_calls,
        where=tuple(compiled(p) for p in py_where),
        values=tuple(
            operator.itemgetter(shown[node]) if node in shown else compiled(node) for node in nodes
        ),
        keys=() if sql_order is not None else tuple(compiled(k) for k, _ in order),
        column_filters=_column_filters(py_where, slots),
        opens_images=bool(opened),
    )


def image_reads(nodes: Sequence[n.Node]) -> tuple[set[n.ColumnRef], set[n.ColumnRef]]:
    """The stored image columns ``nodes`` read: (opened for pixels, read for the file only).

    A column under ``.fileurl`` or ``.localpath`` needs no pixels; under anything else it
    is opened.
    """
    opened: set[n.ColumnRef] = set()
    filed: set[n.ColumnRef] = set()

    def visit(node: n.Node) -> None:
        if isinstance(node, n.ColumnRef):
            if node.col_type.is_media:
                opened.add(node)
            return
        if (
            isinstance(node, n.ImageProp)
            and node.prop in n.FILE_PROPS
            and isinstance(node.operand, n.ColumnRef)
        ):
            filed.add(node.operand)
            return
        for child in node.children():
            visit(child)

    for node in nodes:
        visit(node)
    return opened, filed


def _column_filters(
    py_where: Sequence[n.Node], slots: dict[object, int]
) -> tuple[ColumnFilter, ...] | None:
    filters = []
    for node in py_where:
        if not isinstance(node, n.FunctionCall) or node.kwargs or not is_inline(node):
            return None
        args: list[tuple[int | None, Any]] = []
        for arg in node.args:
            if isinstance(arg, n.Literal):
                args.append((None, arg.value))
            elif isinstance(arg, n.ColumnRef | n.CellProp) and arg in slots:
                args.append((slots[arg], None))
            else:
                return None
        filters.append(
            ColumnFilter(function_of(node).py_fn, tuple(args), NullRule.of(node).required)
        )
    return tuple(filters)


def _query_leaves(
    items: Sequence[tuple[str, n.Node]], in_python: list[n.Node]
) -> tuple[dict[object, int], tuple[int | None, ...]]:
    """Leaves read from the database, and per item the slot of its cell state.

    The row id comes first, then every leaf Python needs; a computed column returned as it is
    reads its state too, so that a pending cell shows as pending.
    """
    leaves: dict[object, int] = {ROWID_REF: 0}
    for node in in_python:
        for leaf in node.walk():
            if isinstance(leaf, n.ColumnRef | n.CellProp) and leaf not in leaves:
                leaves[leaf] = len(leaves)
    state_slots: list[int | None] = []
    for _, node in items:
        if isinstance(node, n.ColumnRef) and node.is_computed:
            state = n.CellProp(node, 'state', ts.Int)
            state_slots.append(leaves.setdefault(state, len(leaves)))
        else:
            state_slots.append(None)
    return leaves, tuple(state_slots)


def _slot_calls(nodes: Sequence[n.Node], slots: dict[object, int]) -> tuple[CallSlot, ...]:
    """A slot (added to ``slots``) for each call in ``nodes`` that cannot run inline."""
    calls = []
    for node in nodes:
        for call in n.function_calls(node):
            if is_inline(call) or call in slots:
                continue
            slots[call] = len(slots)
            read = compile_args(call, key=slots.__getitem__, calls=inline_call)
            calls.append((call, slots[call], read))
    return tuple(calls)
