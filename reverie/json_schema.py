"""JSON schemas for ``rv.Json[...]``: from a schema dict or a TypedDict, checked by jsonschema.

``rv.Json[{'type': 'object', ...}]`` and ``rv.Json[MyTypedDict]`` (as in Pixeltable 0.7)
make a Json column whose values must match the schema; the check uses the ``jsonschema``
package (``pip install 'reverie[schema]'``), imported only when such a type is used.
"""

from __future__ import annotations

import typing
from typing import Any

from reverie.errors import InvalidValueError

_SCALARS: dict[Any, str] = {str: 'string', int: 'integer', float: 'number', bool: 'boolean'}


def to_schema(spec: Any) -> dict[str, Any]:
    """The JSON schema a ``Json[...]`` argument stands for (checked to be a valid schema)."""
    if typing.is_typeddict(spec):
        schema = _typed_dict(spec)
    elif isinstance(spec, dict):
        schema = spec
    else:
        raise InvalidValueError(
            f'Json[...] takes a JSON schema (a dict) or a TypedDict class, got {spec!r}.'
        )
    validator = _jsonschema().validators.validator_for(schema)
    try:
        validator.check_schema(schema)
    except _jsonschema().SchemaError as e:
        raise InvalidValueError(f'Json[...]: not a valid JSON schema: {e.message}') from None
    return schema


def check(value: Any, schema: dict[str, Any]) -> None:
    """Raise ValueError saying where ``value`` does not match ``schema``."""
    js = _jsonschema()
    error = js.exceptions.best_match(js.validators.validator_for(schema)(schema).iter_errors(value))
    if error is not None:
        where = '/'.join(str(p) for p in error.absolute_path)
        raise ValueError(
            f"a value matching the column's JSON schema ({error.message}"
            f'{f" at {where}" if where else ""})'
        )


def _typed_dict(td: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(td, include_extras=True)
    # Not only __required_keys__: with string annotations it misses NotRequired[...].
    required = [
        k
        for k, h in hints.items()
        if typing.get_origin(h) is typing.Required
        or (k in td.__required_keys__ and typing.get_origin(h) is not typing.NotRequired)
    ]
    return {
        'type': 'object',
        'properties': {k: _hint(h) for k, h in hints.items()},
        'required': sorted(required),
    }


def _hint(h: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(h), typing.get_args(h)
    if h is Any:
        return {}
    if h in _SCALARS:
        return {'type': _SCALARS[h]}
    if h is type(None):
        return {'type': 'null'}
    if typing.is_typeddict(h):
        return _typed_dict(h)
    if origin in (typing.Union, getattr(__import__('types'), 'UnionType', None)):
        return {'anyOf': [_hint(a) for a in args]}
    if origin is typing.NotRequired or origin is typing.Required:
        return _hint(args[0])
    if h is list or origin is list:
        return {'type': 'array', **({'items': _hint(args[0])} if args else {})}
    if h is dict or origin is dict:
        return {'type': 'object'}
    raise InvalidValueError(f'Json[TypedDict]: no JSON schema for the field type {h!r}.')


def _jsonschema() -> Any:
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the installation
        raise InvalidValueError(
            "Json[...] with a schema needs the jsonschema package: pip install 'reverie[schema]'."
        ) from None
    return jsonschema
