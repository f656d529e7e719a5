"""Functions for computed columns and queries.

``@udf``, image and string methods, aggregates for ``group_by``; paid functions in their
own packages: ``images`` (``create / edit / remix`` over every image model, Reve included),
one package per provider (``reve``, ``openai``, ``gemini``, ``bfl``, ``local``), with text
models in ``openai.chat_completions`` and ``gemini.generate_content``.
"""

from __future__ import annotations

from reverie.functions import apply, image, net, registry, string
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
    'net',
    'registry',
    'string',
    'sum',
    'udf',
]
