"""Columns that many catalog tables declare alike: a row id and a creation time."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def id_column() -> sa.Column[Any]:
    """``id``: the row's key, handed out by the database (1, 2, ...)."""
    return sa.Column('id', sa.Integer, primary_key=True, autoincrement=True)


def created_at_column() -> sa.Column[Any]:
    """``created_at``: when the row was written (``time.time()``)."""
    return sa.Column('created_at', sa.Float, nullable=False)
