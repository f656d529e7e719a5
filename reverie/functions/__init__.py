"""Functions for computed columns and queries.

``@udf``, image and string methods, aggregates for ``group_by``, and (in
``reverie.functions.reve``) Reve.
"""

from __future__ import annotations

from reverie.functions import apply, image, registry, string
from reverie.functions.aggregates import count, max, mean, min, sum
from reverie.functions.udf import Batch, CellValue, Function, udf

__all__ = [
    'Batch',
    'CellValue',
    'Function',
    'apply',
    'count',
    'image',
    'max',
    'mean',
    'min',
    'registry',
    'string',
    'sum',
    'udf',
]
