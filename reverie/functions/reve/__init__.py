"""Reve image generation: ``create``, ``edit``, ``remix`` for computed columns.

They are ``images.create / edit / remix`` with ``model='reve/<version>'`` under Reve's own
argument names; ``provider()`` is the Reve ``ImageProvider`` behind both.

>>> from reverie.functions import reve
>>> sorted(f.name for f in (reve.create, reve.edit, reve.remix)), reve.provider().name
(['create', 'edit', 'remix'], 'reve')
"""

from __future__ import annotations

from reverie.functions.reve.provider import provider
from reverie.functions.reve.udfs import create, edit, remix

__all__ = ['create', 'edit', 'provider', 'remix']
