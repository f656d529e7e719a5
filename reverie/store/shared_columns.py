"""What many catalog tables declare alike: a row id and a creation time."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def id_column() -> sa.Column[Any]:
    """``id``: the row's key, handed out by the database (1, 2, ...)."""
    return sa.Column('id', sa.Integer, primary_key=True, autoincrement=True)


def created_at_column() -> sa.Column[Any]:
    """``created_at``: when the row was written (``time.time()``)."""
    return sa.Column('created_at', sa.Float, nullable=False)


def catalog_table(
    name: str, metadata: sa.MetaData, *columns: Any, created: bool = True, **options: Any
) -> sa.Table:
    """A catalog table: an ``id`` key, ``columns``, then ``created_at`` (when ``created``).

    ``options`` go to ``sa.Table`` (e.g. ``sqlite_autoincrement=True``).
    """
    created_at = [created_at_column()] if created else []
    return sa.Table(name, metadata, id_column(), *columns, *created_at, **options)
