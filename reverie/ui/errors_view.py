"""The Errors page: every error cell, grouped by column, error type and message.

Read with two small ``SELECT``s per computed column (a ``GROUP BY`` over the cell state,
type and message, then the first rows of each group); the API reads cells, not groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from reverie.store.db import ERROR, ROWID

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog
    from reverie.exec.schema import TableSchema

ROWS_SHOWN = 24  # row ids listed per group


@dataclass(frozen=True)
class ErrorGroup:
    """Error cells of one column that share a type and message."""

    column: str
    errortype: str
    errormsg: str
    count: int
    rows: list[int]  # the first ROWS_SHOWN row ids


def error_groups(catalog: Catalog, schema: TableSchema) -> list[ErrorGroup]:
    """Every group of error cells of ``schema``'s computed columns, largest first."""
    src = schema.reads
    rowid = src.c[ROWID]
    groups: list[ErrorGroup] = []
    with catalog.store.read() as conn:
        for col in (c for c in schema.columns if c.is_computed):
            state, et, em = (src.c[n] for n in (col.sql.state, col.sql.errortype, col.sql.errormsg))
            counted = conn.execute(
                sa.select(et, em, sa.func.count())
                .where(state == ERROR)
                .group_by(et, em)
                .order_by(sa.func.count().desc())
            ).all()
            for errortype, errormsg, count in counted:
                same = sa.and_(
                    state == ERROR,
                    et.is_(None) if errortype is None else et == errortype,
                    em.is_(None) if errormsg is None else em == errormsg,
                )
                rows = conn.execute(
                    sa.select(rowid).where(same).order_by(rowid).limit(ROWS_SHOWN)
                ).scalars()
                groups.append(
                    ErrorGroup(
                        col.name,
                        errortype or '',
                        errormsg or '',
                        int(count),
                        [int(r) for r in rows],
                    )
                )
    return sorted(groups, key=lambda g: -g.count)
