"""Data in and out: ``rv.io.export_parquet``, ``rv.io.export_images``.

Import goes through ``t.insert(source)`` and ``rv.create_table(path, source=...)``, which
read DataFrames, lists of dicts and CSV / Parquet / JSON(L) files (``sources.py``).
Parquet and DataFrames need ``pip install 'reverie[pandas]'``.
"""

from __future__ import annotations

from reverie.io.imagefolder import export_images
from reverie.io.parquet import export_parquet

__all__ = ['export_images', 'export_parquet']
