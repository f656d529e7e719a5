"""``rv.set_budget`` and ``rv.budgets``: spend caps stored in the database (``store/budgets``).

Every process and worker on the database reserves against them before a paid call leaves.
"""

from __future__ import annotations

import math

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.catalog import Catalog
from reverie.display.resultset import ResultSet
from reverie.errors import InvalidValueError
from reverie.store import budgets as stored
from reverie.store.db import tables_table


def set_budget(
    catalog: Catalog,
    table_id: int | None,
    *,
    credits: float | None,
    usd: float | None,
    per: str | None,
) -> None:
    """Store the caps given (``credits``, ``usd``) for a table or all tables (None).

    Neither given: the scope's caps are removed.
    """
    if per is not None and per not in stored.PERIODS:
        raise InvalidValueError(f"per must be 'day' or None, got {per!r}.")
    caps = {u: v for u, v in (('credits', credits), ('usd', usd)) if v is not None}
    for unit, value in caps.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise InvalidValueError(f'set_budget({unit}=...) must be a number >= 0, got {value!r}.')
        if math.isinf(value):
            raise InvalidValueError(
                f'set_budget({unit}=inf): to remove the cap, call set_budget() with no amount.'
            )
    stored.set_caps(catalog.store, table_id, caps, per)


def budgets(catalog: Catalog) -> ResultSet:
    """Each stored cap: scope (table or ``*``), unit, cap, period, spent so far, left."""
    with catalog.store.read() as conn:
        paths = dict(conn.execute(sa.select(tables_table.c.id, tables_table.c.path)).all())
    names = ['table', 'unit', 'cap', 'per', 'spent', 'left']
    columns: list[list[object]] = [[] for _ in names]
    for cap in stored.caps(catalog.store):
        spent = stored.spent(catalog.store, cap)
        scope = (
            '*' if cap.table_id is None else paths.get(cap.table_id, f'<dropped {cap.table_id}>')
        )
        row = [scope, cap.unit, cap.cap, cap.per, spent, max(0.0, cap.cap - spent)]
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    types = [ts.String, ts.String, ts.Float, ts.String, ts.Float, ts.Float]
    return ResultSet(names, types, columns)
