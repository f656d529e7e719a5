"""Spend caps stored in the database, held by every process that uses it (``rv.set_budget``).

A cap is a row of ``rv_budgets``: a scope (one table, or every table), a unit (``credits``
or ``usd``), an amount and a period (``'day'``, UTC, or None: for ever). What counts against
it is the ledger itself: each attempt's row is written before the request leaves, booked at
its worst-case price (``maybe_charged``) and settled to what it cost when it ends. So the
reservation is the ledger row, and ``start_within_caps`` writes those rows only after
checking, in the same transaction, that the spend so far plus this attempt stays within every
cap that applies. The check and the insert are serialised across processes: SQLite's
``BEGIN IMMEDIATE`` takes the write lock first; PostgreSQL locks the cap rows
(``FOR UPDATE``). Overshoot across processes: 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie.store.ledger import Ledger
from reverie.store.ledger_tables import CallSite, budgets_table, calls_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reverie.store.db import Store

PERIODS = ('day',)
DAY = 86_400.0


@dataclass(frozen=True)
class Cap:
    """One stored cap: ``table_id`` None means every table."""

    table_id: int | None
    unit: str
    cap: float
    per: str | None

    def since(self, now: float) -> float:
        """Start of the period whose spend counts (0: for ever)."""
        return now - now % DAY if self.per == 'day' else 0.0


@dataclass(frozen=True)
class Refusal:
    """An attempt a cap refused: the cap, what was spent and held, the attempt's price."""

    cap: Cap
    spent: float
    price: float


def set_caps(store: Store, table_id: int | None, caps: dict[str, float], per: str | None) -> None:
    """Store ``caps`` (unit -> amount) for the scope, replacing its caps of those units.

    An empty ``caps`` removes every cap of the scope.
    """
    b = budgets_table.c
    scope = b.table_id.is_(None) if table_id is None else b.table_id == table_id
    with store.begin() as conn:
        units = list(caps) or ['credits', 'usd']
        conn.execute(sa.delete(budgets_table).where(scope, b.unit.in_(units)))
        now = time.time()
        for unit, amount in caps.items():
            conn.execute(
                sa.insert(budgets_table).values(
                    table_id=table_id, unit=unit, cap=amount, per=per, created_at=now
                )
            )


def caps(store: Store) -> list[Cap]:
    """Every stored cap."""
    b = budgets_table.c
    with store.read() as conn:
        rows = conn.execute(sa.select(b.table_id, b.unit, b.cap, b.per).order_by(b.id)).all()
    return [Cap(r.table_id, r.unit, float(r.cap), r.per) for r in rows]


def spent(store: Store, cap: Cap, now: float | None = None) -> float:
    """What counts against ``cap`` now (settled and held by calls in flight)."""
    with store.read() as conn:
        return _spent_in(conn, cap, time.time() if now is None else now)


def start_within_caps(
    ledger: Ledger, attempts: list[tuple[CallSite, dict[str, Any]]]
) -> list[int | Refusal]:
    """Write the ledger rows of ``attempts`` that every applicable cap allows, atomically.

    Each result is the attempt's ledger id, or the ``Refusal`` that kept it from leaving.
    """
    with ledger.store.begin() as conn:
        stored = _caps_in(conn, ledger.store.is_sqlite)
        results: list[int | Refusal | None] = []
        held: dict[Cap, float] = {}
        now = time.time()
        for site, fields in attempts:
            refusal = None
            for cap in stored:
                if cap.table_id is not None and cap.table_id != site.table_id:
                    continue
                price = float(fields.get(_COLUMN[cap.unit]) or 0)
                if cap not in held:
                    held[cap] = _spent_in(conn, cap, now)
                if price and held[cap] + price > cap.cap:
                    refusal = Refusal(cap, held[cap], price)
                    break
            if refusal is None:
                for cap in stored:
                    if cap in held and (cap.table_id is None or cap.table_id == site.table_id):
                        held[cap] += float(fields.get(_COLUMN[cap.unit]) or 0)
            results.append(refusal)
        allowed = [a for a, r in zip(attempts, results, strict=True) if r is None]
        ids = iter(Ledger.start_many_in(conn, allowed))
    return [next(ids) if r is None else r for r in results]


_COLUMN = {'credits': 'credits', 'usd': 'cost_usd'}


def _caps_in(conn: Connection, is_sqlite: bool) -> list[Cap]:
    b = budgets_table.c
    query = sa.select(b.table_id, b.unit, b.cap, b.per).order_by(b.id)
    if not is_sqlite:  # SQLite's write lock already serialises; PostgreSQL locks the caps
        query = query.with_for_update()
    return [Cap(r.table_id, r.unit, float(r.cap), r.per) for r in conn.execute(query).all()]


def _spent_in(conn: Connection, cap: Cap, now: float) -> float:
    c = calls_table.c
    column = c.cost_usd if cap.unit == 'usd' else c.credits
    query = sa.select(sa.func.coalesce(sa.func.sum(column), 0)).where(
        c.started_at >= cap.since(now)
    )
    if cap.table_id is not None:
        query = query.where(c.table_id == cap.table_id)
    return float(conn.execute(query).scalar_one())
