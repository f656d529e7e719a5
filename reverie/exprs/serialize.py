"""Expression nodes to and from JSON, as stored in the catalog.

Columns are stored by id, so renaming a column does not break expressions that use it.
Functions are stored as whatever their ``to_json`` says and found again by the loader
that ``reverie.functions`` registers with ``set_function_loader`` (this layer never
imports it).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError, NotFoundError
from reverie.exprs import nodes as n

FunctionLoader = Callable[[dict[str, Any]], n.FunctionLike]
ColumnLookup = Callable[[int], n.ColumnRef]

_loader: FunctionLoader | None = None


def set_function_loader(loader: FunctionLoader) -> None:
    """Install the function that turns stored function JSON back into a function."""
    global _loader
    _loader = loader


# Nodes stored as their fields in order, by kind: a sub-node (or a tuple of them) as its JSON,
# the type field as 'type' (not stored where the kind has one fixed type), the rest as is.
_BY_FIELDS: dict[str, type[n.Node]] = {
    'list': n.ListNode,
    'dict': n.DictNode,
    'math': n.MathCall,
    'binary': n.BinaryOp,
    'bool': n.BoolOp,
    'not': n.Not,
    'isnull': n.IsNull,
    'isin': n.IsIn,
    'cast': n.Cast,
    'imageprop': n.ImageProp,
    'cellprop': n.CellProp,
}
_FIXED_TYPES = {
    'list': ts.Json,
    'dict': ts.Json,
    'bool': ts.Bool,
    'not': ts.Bool,
    'isnull': ts.Bool,
    'isin': ts.Bool,
}
_TYPE_FIELDS = ('result_type', 'target', 'list_type', 'dict_type')


def to_json(node: n.Node) -> dict[str, Any]:
    """JSON-serialisable form of ``node``."""
    for kind, cls in _BY_FIELDS.items():
        if isinstance(node, cls):
            return {'kind': kind, **_fields_json(node, kind)}
    match node:
        case n.ColumnRef():
            return {'kind': 'col', 'column_id': node.column_id}
        case n.Literal():
            return {
                'kind': 'lit',
                'value': _value_json(node.value),
                'type': _type_json(node.lit_type),
            }
        case n.JsonPath():
            return {
                'kind': 'jsonpath',
                'operand': to_json(node.operand),
                'path': [_step_json(p) for p in node.path],
            }
        case n.FunctionCall():
            return {
                'kind': 'call',
                'fn': node.fn.to_json(),
                'args': [to_json(a) for a in node.args],
                'kwargs': [[k, to_json(v)] for k, v in node.kwargs],
                'type': _type_json(node.result_type),
            }
    unstorable = getattr(node, 'unstorable', None)  # a node defined outside nodes.py says why
    if isinstance(unstorable, str):
        raise InvalidValueError(unstorable)
    raise TypeError(f'cannot serialise {type(node).__name__}')


def _fields_json(node: n.Node, kind: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if f.name in _TYPE_FIELDS:
            if kind not in _FIXED_TYPES:
                d['type'] = _type_json(value)
        elif isinstance(value, n.Node):
            d[f.name] = to_json(value)
        elif isinstance(value, tuple):
            d[f.name] = [to_json(v) if isinstance(v, n.Node) else v for v in value]
        else:
            d[f.name] = value
    return d


def from_json(d: dict[str, Any], columns: ColumnLookup) -> n.Node:
    """Inverse of ``to_json``; ``columns`` finds a column by id."""
    kind = d['kind']

    def sub(x: dict[str, Any]) -> n.Node:
        return from_json(x, columns)

    if kind in _BY_FIELDS:
        return _from_fields(kind, d, sub)
    if kind == 'col':
        return columns(int(d['column_id']))
    if kind == 'lit':
        lit_type = _type_from(d['type'])
        return n.Literal(_value_from(d['value'], lit_type), lit_type)
    if kind == 'jsonpath':
        return n.JsonPath(sub(d['operand']), tuple(_step_from(p) for p in d['path']), ts.Json)
    if kind == 'call':
        if _loader is None:
            raise NotFoundError('No function loader is installed; import reverie first.')
        return n.FunctionCall(
            _loader(d['fn']),
            tuple(sub(a) for a in d['args']),
            tuple((k, sub(v)) for k, v in d['kwargs']),
            _required_type(d['type']),
        )
    raise ValueError(f'unknown expression kind {kind!r}')


def _from_fields(kind: str, d: dict[str, Any], sub: Callable[[dict[str, Any]], n.Node]) -> n.Node:
    """Inverse of ``_fields_json``: a JSON object is a sub-node, a list a tuple."""
    cls = _BY_FIELDS[kind]
    args: list[Any] = []
    for f in dataclasses.fields(cls):
        if f.name in _TYPE_FIELDS:
            args.append(_FIXED_TYPES.get(kind) or _required_type(d['type']))
            continue
        value = d[f.name]
        if isinstance(value, dict):
            value = sub(value)
        elif isinstance(value, list):
            value = tuple(sub(v) if isinstance(v, dict) else v for v in value)
        args.append(value)
    return cls(*args)


def _step_json(step: str | int | n.JsonSlice) -> Any:
    if isinstance(step, n.JsonSlice):
        return {'slice': [step.start, step.stop, step.step]}
    return step


def _step_from(step: Any) -> str | int | n.JsonSlice:
    if isinstance(step, dict):
        return n.JsonSlice(*step['slice'])
    return step  # type: ignore[no-any-return]


def _value_json(value: Any) -> Any:
    """Dates and timestamps as ISO text (the catalog stores JSON); the type says which."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _value_from(value: Any, lit_type: ts.ColumnType | None) -> Any:
    return value if lit_type is None else lit_type.value_from_json(value)


def _type_json(t: ts.ColumnType | None) -> dict[str, Any] | None:
    return None if t is None else t.to_json()


def _type_from(d: dict[str, Any] | None) -> ts.ColumnType | None:
    return None if d is None else ts.ColumnType.from_json(d)


def _required_type(d: dict[str, Any] | None) -> ts.ColumnType:
    t = _type_from(d)
    if t is None:
        raise ValueError('stored expression lacks its type')
    return t
