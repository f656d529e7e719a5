"""Single flight across processes: the claims of ``rv_flights``.

A call about to be sent claims its fingerprint (an insert under the primary key, so of two
claimants one wins); identical calls in other processes wait for its answer, and the claim
is released in the transaction that journals the answer (or after the call failed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from reverie.store.ledger_tables import MAYBE_CHARGED, CallSite, calls_table, flights_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reverie.store.db import Store

CLAIM_GRACE = 10.0  # seconds a claim holds before its request is in flight (``claim``)


@dataclass(frozen=True)
class Look:
    """A call about to be sent: look for its answers; ``claim``: (owner, stale_before)."""

    fingerprint: str
    site: CallSite
    claim: tuple[str, float] | None = None


class Flights:
    """Claims of fingerprints in flight, each its own short transaction (or the caller's)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim(
        self,
        fingerprint: str,
        owner: str,
        *,
        stale_before: float,
        gone: Callable[[str], bool],
        grace: float = CLAIM_GRACE,
    ) -> str | None:
        """Claim ``fingerprint`` for ``owner``'s call: None when claimed, else who holds it.

        A claim holds while its process lives and either it is younger than ``grace``
        seconds (the call waits in its pool) or its request is in flight (a ledger row of
        that owner, sent since ``stale_before`` and not ended); otherwise it is taken over,
        so a run that stopped without releasing (database locked) holds nobody for long.
        While another holds it, this is reads only (waiters poll it); a claim is an insert
        under the primary key, or a compare-and-swap of the stale holder, so of two
        claimants exactly one wins.
        """
        with self.store.begin() as conn:
            return self.claim_in(conn, fingerprint, owner, stale_before, gone, grace)

    def claim_in(
        self,
        conn: Connection,
        fingerprint: str,
        owner: str,
        stale_before: float,
        gone: Callable[[str], bool],
        grace: float,
    ) -> str | None:
        """``claim`` inside a write transaction the caller holds."""
        f, c = flights_table.c, calls_table.c
        while True:
            row = conn.execute(
                sa.select(f.owner, f.claimed_at).where(f.fingerprint == fingerprint)
            ).one_or_none()
            if row is not None and row.owner != owner and not gone(row.owner):
                young = row.claimed_at >= time.time() - grace
                sent = (
                    young
                    or conn.execute(
                        sa.select(c.id)
                        .where(
                            c.fingerprint == fingerprint,
                            c.owner == row.owner,
                            c.outcome == MAYBE_CHARGED,
                            c.finished_at.is_(None),
                            c.started_at >= max(stale_before, row.claimed_at),
                        )
                        .limit(1)
                    ).first()
                )
                if sent:
                    return str(row.owner)
            now = time.time()
            # Whether the row was written is read from RETURNING: psycopg's rowcount of an
            # INSERT is -1 here (see store/versions.py), which would claim for both.
            if row is None:  # of two claimants, the primary key lets one insert
                insert = (sqlite_insert if self.store.is_sqlite else pg_insert)(flights_table)
                write: Any = insert.values(
                    fingerprint=fingerprint, owner=owner, claimed_at=now
                ).on_conflict_do_nothing()
            else:  # compare-and-swap of the stale holder
                write = (
                    sa.update(flights_table)
                    .where(f.fingerprint == fingerprint, f.owner == row.owner)
                    .values(owner=owner, claimed_at=now)
                )
            if conn.execute(write.returning(f.fingerprint)).first() is not None:
                return None

    def release(self, fingerprint: str, owner: str) -> None:
        """End ``owner``'s claim of ``fingerprint`` (its answer is journalled, or it failed)."""
        with self.store.begin() as conn:
            self.release_in(conn, fingerprint, owner)

    @staticmethod
    def release_in(conn: Connection, fingerprint: str, owner: str) -> None:
        """``release`` inside a transaction the caller holds."""
        Flights.release_many_in(conn, [(fingerprint, owner)])

    @staticmethod
    def release_many_in(conn: Connection, claims: list[tuple[str, str]]) -> None:
        """``release`` of several (fingerprint, owner) claims, one statement per owner."""
        f = flights_table.c
        by_owner: dict[str, list[str]] = {}
        for fingerprint, owner in claims:
            by_owner.setdefault(owner, []).append(fingerprint)
        for owner, fps in by_owner.items():
            conn.execute(sa.delete(flights_table).where(f.owner == owner, f.fingerprint.in_(fps)))

    def claim_many_in(
        self, conn: Connection, looks: list[Look], gone: Callable[[str], bool], grace: float
    ) -> list[str | None]:
        """``claim`` of several calls (``look.claim`` set) in a write transaction: holders."""
        if not looks:
            return []
        f = flights_table.c
        fps = [k.fingerprint for k in looks]
        held = set(conn.execute(sa.select(f.fingerprint).where(f.fingerprint.in_(fps))).scalars())
        free = [k for k in looks if k.fingerprint not in held]
        if self.store.is_sqlite and len(set(fps)) == len(fps):  # the write lock is held: no race
            now = time.time()
            rows = [
                {'fingerprint': k.fingerprint, 'owner': k.claim[0], 'claimed_at': now}
                for k in free
                if k.claim is not None
            ]
            if rows:
                conn.execute(sa.insert(flights_table), rows)
            held_now = held
        else:
            held_now = set(fps)  # each goes through ``_claim_in``
        holders: dict[int, str | None] = {}
        # In fingerprint order: two processes claiming in one transaction each never
        # wait for each other's rows in a cycle (a deadlock on PostgreSQL).
        for i in sorted(range(len(looks)), key=lambda i: looks[i].fingerprint):
            k = looks[i]
            assert k.claim is not None
            owner, stale_before = k.claim
            holders[i] = (
                self.claim_in(conn, k.fingerprint, owner, stale_before, gone, grace)
                if k.fingerprint in held_now
                else None
            )
        return [holders[i] for i in range(len(looks))]
