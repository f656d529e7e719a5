"""Column types inferred from data: pandas dtypes, Arrow types or plain Python values.

Inference never guesses an image: a column of paths or bytes is a String or an error
until ``schema_overrides={'col': rv.Image}`` says so (a Parquet file written by
``export_parquet`` carries its exact types, images included).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.errors import InvalidValueError

# The key under which export_parquet stores reverie's column types in the file's metadata.
PARQUET_TYPES_KEY = b'reverie.column_types'


def infer_from_values(name: str, values: Iterable[Any]) -> ts.ColumnType | None:
    """The type fitting every non-null value, or None when all are null.

    bool, int, float (int and float mix to Float), str, datetime, date, dict/list (Json)
    and PIL images; any other mix is Json when every value is JSON, else an error.
    """
    kinds: set[type] = set()
    for v in values:
        if v is None:
            continue
        kinds.add(_kind(v))
    if not kinds:
        return None
    if len(kinds) == 1:
        return _BY_KIND[kinds.pop()]
    if kinds == {int, float}:
        return ts.Float
    if kinds <= {bool, int, float, str, dict}:
        return ts.Json
    names = ', '.join(sorted(k.__name__ for k in kinds))
    raise InvalidValueError(
        f'Column {name!r} mixes values of kinds {names}; pass its type in '
        f'schema_overrides={{{name!r}: rv.String}} (or another type).'
    )


def _kind(v: Any) -> type:
    if isinstance(v, bool):
        return bool
    if isinstance(v, int):
        return int
    if isinstance(v, float):
        return float
    if isinstance(v, str):
        return str
    if isinstance(v, datetime.datetime):
        return datetime.datetime
    if isinstance(v, datetime.date):
        return datetime.date
    if isinstance(v, dict | list | tuple):
        return dict
    if isinstance(v, PIL.Image.Image):
        return PIL.Image.Image
    return type(v)


_BY_KIND: dict[type, ts.ColumnType] = {
    bool: ts.Bool,
    int: ts.Int,
    float: ts.Float,
    str: ts.String,
    datetime.datetime: ts.Timestamp,
    datetime.date: ts.Date,
    dict: ts.Json,
    PIL.Image.Image: ts.Image,
}


def refine_text(values: list[Any]) -> ts.ColumnType:
    """The type of a column of CSV text: Date or Timestamp when every value is ISO 8601."""
    texts = [v for v in values if v is not None]
    if not texts or not all(isinstance(v, str) for v in texts):
        return ts.String
    if all(_parses(datetime.date.fromisoformat, v) and len(v) == 10 for v in texts):
        return ts.Date
    if all(len(v) > 10 and _parses(datetime.datetime.fromisoformat, v) for v in texts):
        return ts.Timestamp
    return ts.String


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def infer_from_frame(df: Any, rows: list[dict[str, Any]]) -> dict[str, ts.ColumnType | None]:
    """Column types of a pandas DataFrame from its dtypes (object columns: from ``rows``)."""
    out: dict[str, ts.ColumnType | None] = {}
    for col in df.columns:
        kind = df[col].dtype.kind
        dtype_name = str(df[col].dtype)
        if kind == 'b' or dtype_name == 'boolean':
            out[col] = ts.Bool
        elif kind in 'iu' or dtype_name.startswith(('Int', 'UInt')):
            out[col] = ts.Int
        elif kind == 'f' or dtype_name.startswith('Float'):
            out[col] = ts.Float
        elif kind == 'M':
            out[col] = ts.Timestamp
        else:  # object, string, category: look at the values
            out[col] = infer_from_values(str(col), (r[col] for r in rows))
    return out


def infer_from_arrow(schema: Any) -> dict[str, ts.ColumnType | None]:
    """Column types of an Arrow schema; reverie's own types when the file carries them."""
    import pyarrow as pa

    stored = json.loads((schema.metadata or {}).get(PARQUET_TYPES_KEY, b'{}'))
    out: dict[str, ts.ColumnType | None] = {}
    for field in schema:
        if field.name in stored:
            out[field.name] = ts.ColumnType.from_json(stored[field.name])
            continue
        t = field.type
        if pa.types.is_boolean(t):
            out[field.name] = ts.Bool
        elif pa.types.is_integer(t):
            out[field.name] = ts.Int
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            out[field.name] = ts.Float
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            out[field.name] = ts.String
        elif pa.types.is_timestamp(t):
            out[field.name] = ts.Timestamp
        elif pa.types.is_date(t):
            out[field.name] = ts.Date
        elif pa.types.is_list(t) or pa.types.is_struct(t) or pa.types.is_map(t):
            out[field.name] = ts.Json
        elif pa.types.is_null(t):
            out[field.name] = None
        else:
            raise InvalidValueError(
                f'Column {field.name!r} has Arrow type {t}, which has no reverie type; pass '
                f'schema_overrides={{{field.name!r}: rv.Image}} for image bytes, or another type.'
            )
    return out
