"""Rows from a source: a pandas DataFrame, a list of dicts, or a CSV / Parquet / JSON(L) file.

``load_source`` reads the rows as plain Python values (no numpy or pandas scalars, NaN and
NaT as None) and infers a type per column; ``conform`` then fits the values to the
table's column types: JSON text in a CSV cell becomes JSON, and a relative image path in
a file is read relative to that file's folder (as Hugging Face ``imagefolder`` does).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.io.deps import require_pandas, require_pyarrow
from reverie.io.schema import (
    PARQUET_TYPES_KEY,
    infer_from_arrow,
    infer_from_frame,
    infer_from_values,
    refine_text,
)

RowSource = Any
"""Rows for an insert: a list of dicts, a pandas DataFrame, or a path (str or Path) to a
.csv, .parquet, .json or .jsonl file. ``Any`` because pandas is optional."""

FILE_FORMATS = {'.csv': 'csv', '.parquet': 'parquet', '.json': 'json', '.jsonl': 'jsonl'}


@dataclass
class Loaded:
    """Rows read from a source, with a type inferred per column (None: all null).

    Attributes:
        folder: the folder of the source file (relative image paths are read from it).
        text: the values came from text (CSV): JSON columns hold JSON text.
        frame: the values came from a DataFrame, where an int column with nulls is float.
        exact: columns whose types the file states (reverie's own Parquet): kept as they
            are; the others are inferred and take None.
    """

    rows: list[dict[str, Any]]
    types: dict[str, ts.ColumnType | None]
    folder: Path | None = None
    text: bool = False
    frame: bool = False
    exact: frozenset[str] = frozenset()


def is_source(value: object) -> bool:
    """Whether ``value`` is a DataFrame or a file path (not rows given directly)."""
    return isinstance(value, str | Path) or _is_frame(value)


def load_source(source: Any, text_columns: Collection[str] = ()) -> Loaded:
    """Read ``source``: a DataFrame, a path to a .csv/.parquet/.json/.jsonl file, or rows.

    ``text_columns``: CSV columns read as text as written (``'007'`` stays ``'007'``), for
    the columns ``schema_overrides`` makes String.
    """
    if _is_frame(source):
        return _from_frame(source)
    if isinstance(source, str | Path):
        return _from_file(Path(source).expanduser(), text_columns)
    if isinstance(source, Sequence) and all(isinstance(r, dict) for r in source):
        rows = [dict(r) for r in source]
        return Loaded(rows, _types_of_rows(rows))
    raise InvalidValueError(
        f'A source must be a pandas DataFrame, a list of dicts or the path of a '
        f'{", ".join(FILE_FORMATS)} file; got {type(source).__name__}.'
    )


def string_columns(overrides: Mapping[str, Any]) -> list[str]:
    """The columns ``schema_overrides`` makes String: a CSV reads them as text, as written."""
    return [c for c, t in overrides.items() if isinstance(ts.to_column_type(t), ts.StringType)]


def conform(loaded: Loaded, types: Mapping[str, ts.ColumnType]) -> list[dict[str, Any]]:
    """The rows with values fitted to ``types`` (JSON text parsed, image paths resolved)."""
    json_cols = [c for c, t in types.items() if isinstance(t, ts.JsonType | ts.ArrayType)]
    image_cols = [c for c, t in types.items() if isinstance(t, ts.ImageType)]
    int_cols = [c for c, t in types.items() if isinstance(t, ts.IntType)] if loaded.frame else []
    # CSV text in a column pandas could not type (one bad cell makes it all text).
    text_cols = {
        c: _TEXT_PARSERS[type(t)]
        for c, t in types.items()
        if loaded.text and type(t) in _TEXT_PARSERS and loaded.types.get(c) == ts.String
    }
    if (
        not (loaded.text and json_cols)
        and not (loaded.folder and image_cols)
        and not any(loaded.types.get(c) == ts.Float for c in int_cols)
        and not text_cols
    ):
        return loaded.rows
    out = []
    for i, row in enumerate(loaded.rows):
        row = dict(row)
        for c in int_cols:
            v = row.get(c)
            if isinstance(v, float) and v.is_integer():
                row[c] = int(v)  # pandas keeps an int column with nulls as float
        for c, parse in text_cols.items():
            v = row.get(c)
            if isinstance(v, str):
                row[c] = parse(v)
        for c in json_cols if loaded.text else ():
            if isinstance(row.get(c), str):
                row[c] = _parse_json(row[c], c, i)
        if loaded.folder is not None:
            for c in image_cols:
                row[c] = _beside(loaded.folder, row.get(c))
        out.append(row)
    return out


def _int_text(v: str) -> Any:
    try:
        return int(v.strip())
    except ValueError:
        return v  # left as text: the column's check names the row


def _float_text(v: str) -> Any:
    try:
        return float(v.strip())
    except ValueError:
        return v


def _bool_text(v: str) -> Any:
    return {'true': True, 'false': False}.get(v.strip().lower(), v)


_TEXT_PARSERS: dict[type[ts.ColumnType], Any] = {
    ts.IntType: _int_text,
    ts.FloatType: _float_text,
    ts.BoolType: _bool_text,
}


def _is_frame(value: object) -> bool:
    # pandas is imported only when a DataFrame can exist: its module is loaded then.
    cls = type(value)
    return cls.__name__ == 'DataFrame' and cls.__module__.startswith('pandas')


def _from_frame(df: Any) -> Loaded:
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise InvalidValueError(f'The DataFrame has repeated column names: {names}.')
    df = df.set_axis(names, axis=1)
    rows = [
        {k: _plain(v) for k, v in zip(names, values, strict=True)}
        for values in df.itertuples(index=False, name=None)
    ]
    return Loaded(rows, infer_from_frame(df, rows), frame=True)


def _from_file(path: Path, text_columns: Collection[str] = ()) -> Loaded:
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidValueError(
            f'Cannot tell the format of {str(path)!r} from its extension; use one of '
            f'{", ".join(FILE_FORMATS)} (or pass a DataFrame).'
        )
    if not path.is_file():
        raise InvalidValueError(f'File {str(path)!r} does not exist.')
    folder = path.resolve().parent
    if fmt == 'csv':
        pd = require_pandas('Reading a CSV file')
        try:
            df = pd.read_csv(
                path,
                dtype_backend='numpy_nullable',
                keep_default_na=True,
                dtype=dict.fromkeys(text_columns, 'string') or None,
            )
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidValueError(f'{str(path)!r} is not a readable CSV file ({e}).') from None
        loaded = _from_frame(df)
        loaded.text, loaded.folder = True, folder
        for name, col_type in loaded.types.items():
            if col_type == ts.String:
                loaded.types[name] = refine_text([r[name] for r in loaded.rows])
        return loaded
    if fmt == 'parquet':
        pa = require_pyarrow('Reading a Parquet file')
        try:
            table = pa.parquet.read_table(path)
        except (OSError, pa.ArrowException) as e:
            raise InvalidValueError(
                f'{str(path)!r} is not a readable Parquet file ({e}).'
            ) from None
        types = infer_from_arrow(table.schema)
        rows = table.to_pylist()
        # export_parquet writes Json and Array values as JSON text.
        for name in _json_text_columns(table.schema, types):
            for i, row in enumerate(rows):
                if isinstance(row[name], str):
                    row[name] = _parse_json(row[name], name, i)
        stated = json.loads((table.schema.metadata or {}).get(PARQUET_TYPES_KEY, b'{}'))
        return Loaded(rows, types, folder, exact=frozenset(stated))
    rows = _read_json(path, fmt)
    return Loaded(rows, _types_of_rows(rows), folder)


def _read_json(path: Path, fmt: str) -> list[dict[str, Any]]:
    text = path.read_text(encoding='utf-8')
    try:
        if fmt == 'jsonl':
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidValueError(f'{str(path)!r} is not valid JSON ({e}).') from None
    except RecursionError:
        raise InvalidValueError(
            f'{str(path)!r} nests JSON deeper than Python can read; JSON values may be '
            f'nested at most {ts.MAX_JSON_DEPTH} levels deep.'
        ) from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        shape = 'one object per line' if fmt == 'jsonl' else 'a list of objects'
        raise InvalidValueError(f'{str(path)!r} must hold {shape}, one per row.')
    return rows


def _json_text_columns(schema: Any, types: Mapping[str, ts.ColumnType | None]) -> list[str]:
    import pyarrow as pa

    return [
        f.name
        for f in schema
        if isinstance(types.get(f.name), ts.JsonType | ts.ArrayType)
        and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
    ]


def _types_of_rows(rows: list[dict[str, Any]]) -> dict[str, ts.ColumnType | None]:
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    return {n: infer_from_values(n, (r.get(n) for r in rows)) for n in names}


def _plain(v: Any) -> Any:
    """A pandas/numpy value as a plain Python value; missing values as None."""
    if v is None or isinstance(v, str | bool | int):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if type(v).__name__ in ('NaTType', 'NAType'):
        return None
    if hasattr(v, 'to_pydatetime'):  # pandas Timestamp
        try:
            return v.to_pydatetime()
        except ValueError:
            return None
    module = type(v).__module__
    if module == 'numpy' and hasattr(v, 'tolist'):
        v = v.tolist()
        return None if isinstance(v, float) and math.isnan(v) else v
    if module.startswith('pandas'):  # pd.NA, pd.NaT
        return None
    if isinstance(v, datetime.date):
        return v
    return v


def _parse_json(text: str, column: str, row: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidValueError(
            f'Column {column!r} (row {row}) expects JSON text, got {ts.short_repr(text)} ({e}).'
        ) from None
    except RecursionError:
        raise InvalidValueError(
            f'Column {column!r} (row {row}) expects JSON nested at most {ts.MAX_JSON_DEPTH} '
            'levels deep.'
        ) from None


def _beside(folder: Path, value: Any) -> Any:
    if not isinstance(value, str) or '://' in value:
        return value
    path = Path(value).expanduser()
    return value if path.is_absolute() else str(folder / path)
