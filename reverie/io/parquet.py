"""``export_parquet``: a table or query as a Parquet file, its images beside it or inside.

The file carries reverie's column types in its metadata, so
``rv.create_table(path, source='out.parquet')`` gets Image, Json and Required columns back
exactly. Json and Array values are stored as JSON text (Parquet needs one type per column).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.io.deps import require_pyarrow
from reverie.io.results import (
    Collectable,
    collect,
    content_name,
    image_columns,
    image_file,
    raw_columns,
)
from reverie.io.schema import PARQUET_TYPES_KEY


def export_parquet(
    source: Collectable,
    path: str | os.PathLike[str],
    *,
    images: Literal['files', 'bytes'] = 'files',
) -> Path:
    """Write the rows of a table or query to a Parquet file.

    Args:
        source: a Table or a query, e.g. ``t.select(t.prompt, t.scene)``.
        path: the file to write (its folder is created).
        images: ``'files'`` copies each image into the folder ``<name>_images/`` beside the
            file and stores its relative path; ``'bytes'`` stores the image file bytes.

    Returns:
        The path written.

    Examples:
        >>> rv.io.export_parquet(t.select(t.prompt, t.scene), 'out/s.parquet')  # doctest: +SKIP
    """
    if images not in ('files', 'bytes'):
        raise InvalidValueError(f"images must be 'files' or 'bytes', got {images!r}.")
    pa = require_pyarrow('export_parquet()')
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    rs = collect(source)
    columns = raw_columns(rs)
    image_cols = set(image_columns(rs, columns))
    folder_name = f'{out.stem}_images'
    if image_cols and images == 'files':
        shutil.rmtree(out.parent / folder_name, ignore_errors=True)
        (out.parent / folder_name).mkdir()
    arrays, fields, types = [], [], {}
    for name, col_type in rs.schema.items():
        values = columns[name]
        if name in image_cols:
            col_type = col_type or ts.Image
            if images == 'bytes':
                values = [None if v is None else image_file(v)[0] for v in values]
                arrow_type = pa.binary()
            else:
                values = [
                    None if v is None else _copy_image(v, out.parent, folder_name) for v in values
                ]
                arrow_type = pa.string()
        elif isinstance(col_type, ts.JsonType | ts.ArrayType):
            values = [None if v is None else json.dumps(v) for v in values]
            arrow_type = pa.string()
        else:
            make = _ARROW_TYPES.get(type(col_type)) if col_type is not None else None
            arrow_type = make(pa) if make is not None else None
            values = [_utc(v) for v in values]
        if col_type is not None:
            types[name] = col_type.to_json()
        try:
            array = pa.array(values, type=arrow_type)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise InvalidValueError(
                f'Column {name!r} cannot be written to Parquet ({e}); select it with '
                f'.astype(rv.String) or leave it out.'
            ) from None
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    schema = pa.schema(fields, metadata={PARQUET_TYPES_KEY: json.dumps(types).encode()})
    pa.parquet.write_table(pa.Table.from_arrays(arrays, schema=schema), out)
    copied = f' and their images to {folder_name}/' if image_cols and images == 'files' else ''
    print(f'Wrote {len(rs)} row{"" if len(rs) == 1 else "s"} to {str(out)!r}{copied}.')
    return out


_ARROW_TYPES: dict[type[ts.ColumnType], Any] = {
    ts.StringType: lambda pa: pa.string(),
    ts.IntType: lambda pa: pa.int64(),
    ts.FloatType: lambda pa: pa.float64(),
    ts.BoolType: lambda pa: pa.bool_(),
    ts.TimestampType: lambda pa: pa.timestamp('us', tz='UTC'),
    ts.DateType: lambda pa: pa.date32(),
}


def _utc(v: Any) -> Any:
    if isinstance(v, datetime.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=datetime.UTC)
    return v


def _copy_image(value: Any, root: Path, folder_name: str) -> str:
    data, ext = image_file(value)
    name = content_name(data, ext)
    target = root / folder_name / name
    if not target.exists():
        target.write_bytes(data)
    return f'{folder_name}/{name}'
