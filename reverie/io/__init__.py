"""Data in and out: ``rv.io.import_csv`` (and Pixeltable's other imports), ``export_*``.

``import_csv`` / ``import_pandas`` / ``import_parquet`` / ``import_json`` create a table.
Import also goes through ``t.insert(source)`` and ``rv.create_table(path, source=...)``,
which read DataFrames, lists of dicts and CSV / Parquet / JSON(L) files (``sources.py``).
Parquet and DataFrames need ``pip install 'reverie[pandas]'``.
"""

from __future__ import annotations

from reverie.io.imagefolder import export_images
from reverie.io.imports import import_csv, import_json, import_pandas, import_parquet
from reverie.io.parquet import export_parquet

__all__ = [
    'export_images',
    'export_parquet',
    'import_csv',
    'import_json',
    'import_pandas',
    'import_parquet',
]
