"""Reve image generation: ``create``, ``edit``, ``remix`` for computed columns.

>>> from reverie.functions import reve
>>> sorted(f.name for f in (reve.create, reve.edit, reve.remix))
['create', 'edit', 'remix']
"""

from __future__ import annotations

from reverie.functions.reve.udfs import create, edit, remix

__all__ = ['create', 'edit', 'remix']
