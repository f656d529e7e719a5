"""Functions for computed columns: ``@udf``, image and string methods, and Reve."""

from __future__ import annotations

from reverie.functions import image, registry, string
from reverie.functions.udf import Batch, CellValue, Function, udf

__all__ = ['Batch', 'CellValue', 'Function', 'image', 'registry', 'string', 'udf']
