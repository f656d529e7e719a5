"""What the ledger says: spend per unit, its rows, paid calls, a provider's concurrency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie.store.ledger_tables import (
    ANSWERED,
    CALL_COLUMNS,
    FAILED,
    calls_table,
    journal_table,
)

if TYPE_CHECKING:
    from reverie.store.db import Store

SLACK = 0.05  # seconds of bookkeeping around a request (see ``Ledger.concurrency``)


class LedgerReport:
    """Reads of the ledger for people and for the pools (each its own read transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def spent(self, table_id: int | None = None) -> float:
        """Credits (Reve's unit, never USD) of every attempt, optionally of one table."""
        return self.spend(table_id)['credits']

    def spend(self, table_id: int | None = None) -> dict[str, float]:
        """``{'credits': ..., 'usd': ...}`` of every attempt (answered or maybe charged).

        Each unit has its own column (``credits``, ``cost_usd``); they are never added.
        """
        c = calls_table.c
        query = sa.select(
            sa.func.coalesce(sa.func.sum(c.credits), 0),
            sa.func.coalesce(sa.func.sum(c.cost_usd), 0),
        )
        if table_id is not None:
            query = query.where(c.table_id == table_id)
        with self.store.read() as conn:
            credits, usd = conn.execute(query).one()
        return {'credits': float(credits), 'usd': float(usd)}

    def rows(self, table_id: int | None = None) -> list[dict[str, Any]]:
        """Every ledger row (of one table), oldest first."""
        query = sa.select(*(calls_table.c[name] for name in CALL_COLUMNS))
        if table_id is not None:
            query = query.where(calls_table.c.table_id == table_id)
        with self.store.read() as conn:
            return [dict(r) for r in conn.execute(query.order_by(calls_table.c.id)).mappings()]

    def paid_calls(self, table_id: int) -> list[tuple[float, int | None]]:
        """Each charged (or maybe charged) request for the table: (started, table version).

        The table version is the one whose cells the call computed (None when not known).

        Cache hits and refused attempts (``failed``: nothing charged) are not paid calls.
        """
        c = calls_table.c
        with self.store.read() as conn:
            query = sa.select(c.started_at, c.table_version).where(
                c.table_id == table_id, c.cache_hit.is_(False), c.outcome != FAILED
            )
            return [(float(t), v) for t, v in conn.execute(query)]

    def concurrency(self, provider: str, last: int = 500) -> tuple[int, bool]:
        """What the last ``last`` attempts sent to ``provider`` showed about it.

        Every endpoint ``'<provider>/<operation>'`` counts, whichever function sent it. The
        most answered calls it had in flight at once (0 before any answer), and whether any
        attempt was refused with a 429. A call's ledger interval opens just before its
        request leaves and closes just after its answer is written: ``SLACK`` seconds are
        taken off its end so that one call's bookkeeping does not overlap the next.
        """
        c = calls_table.c
        query = (
            sa.select(c.started_at, c.finished_at, c.http_status, c.outcome)
            .where(c.endpoint.startswith(f'{provider}/', autoescape=True))
            .where(c.cache_hit.is_(False))
            .order_by(c.id.desc())
            .limit(last)
        )
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        refused = any(status == 429 for _, _, status, _ in rows)
        events: list[tuple[float, int]] = []
        for started, finished, status, outcome in rows:
            if outcome == ANSWERED and status != 429 and finished is not None:
                events += [(started, 1), (max(started, finished - SLACK), -1)]
        peak = now = 0
        for _, step in sorted(events):
            now += step
            peak = max(peak, now)
        return peak, refused

    def journal_refs(self) -> set[str]:
        """Media references the journal and the ledger's answers hold (``gc`` keeps them)."""
        j, c = journal_table.c, calls_table.c
        query = sa.union(
            sa.select(j.media_ref).where(j.media_ref.is_not(None)),
            sa.select(c.answer_ref).where(c.answer_ref.is_not(None)),
        )
        with self.store.read() as conn:
            return {str(r) for r in conn.execute(query).scalars()}
