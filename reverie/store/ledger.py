"""The ledger of paid calls and the answer journal (tables in ``store/ledger_tables.py``).

Written by the paid-call layer (``exec/paid.py``); claims of calls in flight are
``store/flights.py``, reports of spend and concurrency ``store/ledger_report.py``.

- ``rv_calls``: one row per attempt of a paid call, written *before* the request leaves
  (outcome ``maybe_charged``: sent, no answer yet) and completed when it ends (``answered``
  or ``failed``; it stays ``maybe_charged`` when the answer never came; ``bad_answer``: paid
  for, but its bytes did not decode, so neither the cache nor a resume serves them). A cache
  hit is a row too (``cache_hit``, 0 credits). Rows are never deleted: spend is read from
  here and never goes down, whatever happens to the cells.
- ``rv_journal``: the bytes of each answer, durable before they are interpreted: a file in
  the media store (``media_ref``) or, when the media store cannot take them, a blob here.
  An answered ledger row points at its journal entry; ``delivered`` says whether a cell
  took the answer, so a cell whose write failed is finished from the journal next time.
  The ledger row also keeps ``answer_ref`` (the media file of the answer, for the cache),
  so an entry whose bytes are a media file is pruned in the transaction that writes its
  cell: the journal holds only answers not yet in their cells, and blobs (answers the
  media store does not keep: text, or written while it was full).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie.store.flights import CLAIM_GRACE, Flights, Look
from reverie.store.ledger_report import LedgerReport
from reverie.store.ledger_tables import (
    ANSWERED,
    BAD_ANSWER,
    MAYBE_CHARGED,
    CallSite,
    Outcome,
    calls_table,
    insert_row,
    journal_table,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reverie.store.db import Store


@dataclass(frozen=True)
class Looked:
    """What ``Ledger.look_many`` found for one call (see ``find_answers`` and ``claim``)."""

    earlier: dict[str, Any] | None  # journalled for this site and never delivered
    hit: dict[str, Any] | None  # the latest answer to the fingerprint
    holder: str | None = None  # the process that has the request in flight
    claimed: bool = False  # the claim is this call's now: send it, then release


@dataclass(frozen=True)
class Journalled:
    """An answer to journal (``Ledger.answered``), and the claim to release with it."""

    call_id: int
    fields: dict[str, Any]  # ``answered``'s keyword arguments
    release: tuple[str, str] | None = None  # (fingerprint, owner)


@dataclass(frozen=True)
class JournalEntry:
    """A journalled answer: where its bytes are."""

    id: int
    sha256: str
    media_ref: str | None
    data: bytes | None


class Ledger:
    """Reads and writes of the ledger and the journal, each its own short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.flights = Flights(store)  # single flight: claims of calls in flight
        self.report = LedgerReport(store)  # spend, rows, concurrency

    def __repr__(self) -> str:
        return f'<Ledger {self.store!r}>'

    def start(
        self,
        site: CallSite,
        *,
        function: str,
        endpoint: str,
        fingerprint: str,
        attempt: int,
        credits: float,
    ) -> int:
        """Record an attempt about to be sent (``maybe_charged`` until it is completed)."""
        (call_id,) = self.start_many(
            [
                (
                    site,
                    {
                        'function': function,
                        'endpoint': endpoint,
                        'fingerprint': fingerprint,
                        'attempt': attempt,
                        'credits': credits,
                    },
                )
            ]
        )
        return call_id

    def start_many(self, attempts: list[tuple[CallSite, dict[str, Any]]]) -> list[int]:
        """``start`` for several attempts in one transaction; their ids, in order.

        ``attempts``: each call site with its ``function``, ``endpoint``, ``fingerprint``,
        ``attempt`` and ``credits``.
        """
        with self.store.begin() as conn:
            return self.start_many_in(conn, attempts)

    @staticmethod
    def start_many_in(
        conn: Connection, attempts: list[tuple[CallSite, dict[str, Any]]]
    ) -> list[int]:
        """``start_many`` inside a transaction the caller holds."""
        if not attempts:
            return []
        now = time.time()
        rows = [
            {
                'table_id': site.table_id,
                'column_id': site.column_id,
                'row_id': site.row_id,
                **fields,
                'started_at': now,
                'outcome': MAYBE_CHARGED,
                'cache_hit': False,
                'delivered': False,
            }
            for site, fields in attempts
        ]
        stmt = sa.insert(calls_table).returning(calls_table.c.id, sort_by_parameter_order=True)
        return [int(i) for i in conn.execute(stmt, rows).scalars().all()]

    def finish(self, call_id: int, outcome: Outcome, **fields: Any) -> None:
        """Complete an attempt: outcome, status, request id, version, credits, error."""
        with self.store.begin() as conn:
            self.finish_in(conn, call_id, outcome, **fields)

    @staticmethod
    def finish_in(conn: Connection, call_id: int, outcome: Outcome, **fields: Any) -> None:
        """``finish`` inside a transaction the caller holds."""
        values = {'outcome': outcome, 'finished_at': time.time(), **fields}
        conn.execute(sa.update(calls_table).where(calls_table.c.id == call_id).values(values))

    def answered(
        self,
        call_id: int,
        *,
        sha256: str,
        size: int,
        media_ref: str | None,
        data: bytes | None,
        **fields: Any,
    ) -> int:
        """Journal an answer's bytes and complete its attempt as ``answered``, atomically.

        Once only: an attempt already journalled (a note left beside the media by a process
        killed after it wrote this) keeps its entry, whose id is returned.
        """
        fields.update(sha256=sha256, size=size, media_ref=media_ref, data=data)
        (journal_id,) = self.answered_many([Journalled(call_id, fields)])
        return journal_id

    def answered_many(self, answers: list[Journalled]) -> list[int]:
        """``answered`` for several answers in one transaction, each releasing its claim.

        The claim goes in the transaction that journals the answer: the holder journals
        before it releases, so a waiter finds the answer once the claim is free. A fixed
        number of statements for the whole batch, not a few per answer.
        """
        with self.store.begin() as conn:
            return self._answered_in(conn, answers)

    def _answered_in(self, conn: Connection, answers: list[Journalled]) -> list[int]:
        c = calls_table.c
        claims = [a.release for a in answers if a.release is not None]
        if claims:
            self.flights.release_many_in(conn, claims)
        ids = sorted({a.call_id for a in answers})
        # Every attempt's row is locked (PostgreSQL), journalled or not, so a process taking
        # the same answer from its note waits here and then finds the entry.
        rows = conn.execute(sa.select(c.id, c.journal_id).where(c.id.in_(ids)).with_for_update())
        done = {int(call): int(journal) for call, journal in rows if journal is not None}
        fresh: dict[int, Journalled] = {}
        for answer in answers:  # once only: an answer already journalled keeps its entry
            if answer.call_id not in done:
                fresh.setdefault(answer.call_id, answer)
        if fresh:
            done.update(self._journal_in(conn, list(fresh.values())))
        return [done[a.call_id] for a in answers]

    def _journal_in(self, conn: Connection, answers: list[Journalled]) -> dict[int, int]:
        """Journal entries for ``answers`` (none journalled yet), their attempts completed."""
        c = calls_table.c
        now = time.time()
        entries, finished = [], []
        for answer in answers:
            fields = dict(answer.fields)
            entry = {k: fields.pop(k) for k in ('sha256', 'size', 'media_ref', 'data')}
            entries.append({**entry, 'created_at': now})
            finished.append({**fields, 'answer_ref': entry['media_ref']})
        if self.store.is_sqlite:  # SQLite would hand a pruned entry's id out again
            first = self.store.next_id(
                conn, journal_table, referenced=c.journal_id, count=len(entries)
            )
            for i, entry in enumerate(entries):
                entry['id'] = first + i
            conn.execute(sa.insert(journal_table), entries)
            journal_ids = [int(e['id']) for e in entries]
        else:
            stmt = sa.insert(journal_table).returning(
                journal_table.c.id, sort_by_parameter_order=True
            )
            journal_ids = [int(i) for i in conn.execute(stmt, entries).scalars().all()]
        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for answer, journal_id, fields in zip(answers, journal_ids, finished, strict=True):
            row = {**fields, 'outcome': ANSWERED, 'finished_at': now, 'journal_id': journal_id}
            by_keys.setdefault(tuple(sorted(row)), []).append({**row, 'call_id_': answer.call_id})
        update = sa.update(calls_table).where(c.id == sa.bindparam('call_id_'))
        for rows in by_keys.values():  # the SET clause: the keys of the rows
            conn.execute(update, rows)
        return {a.call_id: j for a, j in zip(answers, journal_ids, strict=True)}

    def cache_hit(self, site: CallSite, source: dict[str, Any]) -> int:
        """Record a call served from an earlier answer (``source``, a ledger row): 0 credits."""
        now = time.time()
        values = {
            'table_id': site.table_id,
            'column_id': site.column_id,
            'row_id': site.row_id,
            'function': source['function'],
            'endpoint': source['endpoint'],
            'fingerprint': source['fingerprint'],
            'attempt': 0,
            'started_at': now,
            'finished_at': now,
            'http_status': source['http_status'],
            'request_id': source['request_id'],
            'model_version': source['model_version'],
            'credits': 0,
            'outcome': ANSWERED,
            'cache_hit': True,
            'journal_id': source['journal_id'],
            'answer_ref': source.get('answer_ref'),
            'delivered': False,
        }
        with self.store.begin() as conn:
            return insert_row(conn, calls_table, values)

    def find_answers(
        self, fingerprint: str, site: CallSite
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The answer journalled for ``site`` and not delivered, and the latest one anywhere.

        One read: the first is what a cell whose write failed takes back; the second is the
        cache's answer to ``fingerprint``.
        """
        with self.store.read() as conn:
            return self.find_answers_in(conn, fingerprint, site)

    @staticmethod
    def find_answers_in(
        conn: Connection, fingerprint: str, site: CallSite
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``find_answers`` inside a transaction the caller holds."""
        (found,) = Ledger.find_many_in(conn, [(fingerprint, site)])
        return found

    @staticmethod
    def find_many_in(
        conn: Connection, calls: list[tuple[str, CallSite]]
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
        """``find_answers`` of several calls (fingerprint, site), in one query."""
        c = calls_table.c
        answered = sa.and_(
            c.fingerprint.in_(sorted({fp for fp, _ in calls})),
            c.outcome == ANSWERED,
            c.journal_id.is_not(None),
        )
        latest = sa.select(sa.func.max(c.id)).where(answered).group_by(c.fingerprint)
        query = sa.select(calls_table).where(
            answered, sa.or_(c.delivered == sa.false(), c.id.in_(latest))
        )
        rows = [dict(r) for r in conn.execute(query.order_by(c.id.desc())).mappings()]
        found = []
        for fp, site in calls:  # newest first: the cache's answer is the first
            answers = [r for r in rows if r['fingerprint'] == fp]
            earlier = next((r for r in answers if _at(r, site) and not r['delivered']), None)
            found.append((earlier, answers[0] if answers else None))
        return found

    def look_many(
        self, looks: list[Look], gone: Callable[[str], bool], grace: float = CLAIM_GRACE
    ) -> list[Looked]:
        """``find_answers`` and, where asked, ``claim`` for several calls in one transaction.

        A call asking to claim claims only when neither look finds an answer. Its claim
        made, it looks again, as the holder journals before it releases (an answer is
        visible once its claim is free), and gives the claim back if the answer is there
        now; on SQLite the write lock, held from the first look, leaves nothing to see.
        """
        with self.store.begin() as conn:
            found = self.find_many_in(conn, [(k.fingerprint, k.site) for k in looks])
            looked = [Looked(*f) for f in found]
            ask = [i for i, k in enumerate(looks) if k.claim and found[i] == (None, None)]
            holders = self.flights.claim_many_in(conn, [looks[i] for i in ask], gone, grace)
            claimed = [i for i, h in zip(ask, holders, strict=True) if h is None]
            for i, holder in zip(ask, holders, strict=True):
                looked[i] = Looked(None, None, holder=holder, claimed=holder is None)
            if claimed and not self.store.is_sqlite:
                again = self.find_many_in(
                    conn, [(looks[i].fingerprint, looks[i].site) for i in claimed]
                )
                for i, (earlier, hit) in zip(claimed, again, strict=True):
                    if earlier is not None or hit is not None:
                        claim = looks[i].claim
                        assert claim is not None
                        self.flights.release_in(conn, looks[i].fingerprint, claim[0])
                        looked[i] = Looked(earlier, hit)
        return looked

    def bad_answer(self, journal_id: int) -> None:
        """The journalled answer did not decode: its rows are never served again.

        The bytes stay for inspection (``rv.calls()`` names the call); the spend stays.
        """
        c = calls_table.c
        with self.store.begin() as conn:
            conn.execute(
                sa.update(calls_table)
                .where(c.journal_id == journal_id, c.outcome == ANSWERED)
                .values(outcome=BAD_ANSWER)
            )

    def journal(self, journal_id: int) -> JournalEntry | None:
        """A journalled answer (None once pruned: its bytes are the ledger's ``answer_ref``)."""
        j = journal_table.c
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(j.id, j.sha256, j.media_ref, j.data).where(j.id == journal_id)
            ).one_or_none()
        return (
            None if row is None else JournalEntry(int(row.id), row.sha256, row.media_ref, row.data)
        )

    @staticmethod
    def mark_delivered_in(conn: Connection, call_ids: Iterable[int]) -> None:
        """Mark answers as taken by their cells and prune their journal entries.

        Called inside the cells' write transaction, so a crash leaves either the cells and
        no entry, or the entry and no cells (finished from it next time): never both lost,
        never paid twice. Only entries whose bytes are a media file go (every ledger row
        pointing at one gets its ``answer_ref`` first, so the cache still finds the bytes);
        a blob stays, as it is the cache's only copy.
        """
        ids = sorted(set(call_ids))
        if not ids:
            return
        c, j = calls_table.c, journal_table.c
        conn.execute(sa.update(calls_table).where(c.id.in_(ids)).values(delivered=True))
        taken = sa.select(c.journal_id).where(c.id.in_(ids), c.journal_id.is_not(None))
        prunable = sa.select(j.id).where(j.id.in_(taken), j.media_ref.is_not(None))
        ref = sa.select(j.media_ref).where(j.id == c.journal_id).scalar_subquery()
        conn.execute(
            sa.update(calls_table)
            .where(c.journal_id.in_(prunable), c.answer_ref.is_(None))
            .values(answer_ref=ref)
        )
        conn.execute(sa.delete(journal_table).where(j.id.in_(prunable)))


def _at(row: dict[str, Any], site: CallSite) -> bool:
    return (row['table_id'], row['column_id'], row['row_id']) == (
        site.table_id,
        site.column_id,
        site.row_id,
    )
