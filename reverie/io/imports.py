"""Pixeltable's import functions: ``rv.io.import_csv``, ``import_json`` and friends.

Each creates a table from its data, as ``rv.create_table(path, source=...)`` does; extra
keyword arguments go to the reader (``pandas.read_csv``, ``json.loads``, ...).

Creating a table needs the open catalog, which this layer never looks up: ``reverie.api``
registers its ``create_table`` here with ``use_create_table``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reverie.errors import InvalidValueError
from reverie.io.deps import require_pandas, require_pyarrow
from reverie.io.sources import string_columns

CreateTable = Callable[..., Any]
_create_table: list[CreateTable] = []


def use_create_table(create_table: CreateTable) -> None:
    """Register ``rv.create_table``, which the import functions call."""
    _create_table[:] = [create_table]


def import_csv(
    tbl_name: str,
    filepath_or_buffer: str | Path | Any,
    schema_overrides: dict[str, Any] | None = None,
    primary_key: str | list[str] | None = None,
    **kwargs: Any,
) -> Any:
    """A table from a CSV file; ``kwargs`` go to ``pandas.read_csv``.

    Examples:
        >>> t = rv.io.import_csv('films', 'films.csv', schema_overrides={'code': rv.String})  # doctest: +SKIP
    """  # noqa: E501
    if kwargs or not isinstance(filepath_or_buffer, str | Path):
        pd = require_pandas('import_csv')
        dtype = dict.fromkeys(string_columns(schema_overrides or {}), 'string')
        kwargs.setdefault('dtype', dtype or None)
        return import_pandas(
            tbl_name,
            pd.read_csv(filepath_or_buffer, **kwargs),
            schema_overrides=schema_overrides,
            primary_key=primary_key,
        )
    return _create(tbl_name, filepath_or_buffer, schema_overrides, primary_key, '.csv')


def import_pandas(
    tbl_name: str,
    df: Any,
    *,
    schema_overrides: dict[str, Any] | None = None,
    primary_key: str | list[str] | None = None,
) -> Any:
    """A table from a pandas DataFrame."""
    return _create(tbl_name, df, schema_overrides, primary_key, None)


def import_parquet(
    table: str,
    *,
    parquet_path: str | Path,
    schema_overrides: dict[str, Any] | None = None,
    primary_key: str | list[str] | None = None,
    **kwargs: Any,
) -> Any:
    """A table from a Parquet file; ``kwargs`` go to ``pyarrow.parquet.read_table``."""
    if kwargs:
        pa = require_pyarrow('import_parquet')
        frame = pa.parquet.read_table(parquet_path, **kwargs).to_pandas()
        return import_pandas(
            table, frame, schema_overrides=schema_overrides, primary_key=primary_key
        )
    return _create(table, parquet_path, schema_overrides, primary_key, '.parquet')


def import_json(
    tbl_path: str,
    filepath_or_url: str | Path,
    *,
    schema_overrides: dict[str, Any] | None = None,
    primary_key: str | list[str] | None = None,
    **kwargs: Any,
) -> Any:
    """A table from a JSON file holding a list of objects; ``kwargs`` go to ``json.loads``."""
    if kwargs:
        path = Path(filepath_or_url).expanduser()
        rows = json.loads(path.read_text(encoding='utf-8'), **kwargs)
        return _create(tbl_path, rows, schema_overrides, primary_key, None)
    return _create(tbl_path, filepath_or_url, schema_overrides, primary_key, '.json')


def _create(
    path: str,
    source: Any,
    schema_overrides: dict[str, Any] | None,
    primary_key: str | list[str] | None,
    suffix: str | None,
) -> Any:
    if primary_key:
        raise InvalidValueError(
            f'primary_key={primary_key!r}: reverie tables have no primary key (see '
            'docs/divergences.md); leave it out, and use t.add_index(...) for fast lookups.'
        )
    if suffix is not None and Path(str(source)).suffix.lower() not in (suffix, f'{suffix}l'):
        raise InvalidValueError(f'Expected a {suffix} file, got {str(source)!r}.')
    if not _create_table:
        raise InvalidValueError('Import needs reverie.api; import reverie first.')
    return _create_table[0](path, source=source, schema_overrides=schema_overrides)
