"""The ledger of paid calls and the answer journal: catalog tables, written by ``exec/paid.py``.

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
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from reverie.store.shared_columns import created_at_column, id_column

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reverie.store.db import Store

Outcome = Literal['answered', 'failed', 'maybe_charged', 'bad_answer']
ANSWERED: Outcome = 'answered'
BAD_ANSWER: Outcome = 'bad_answer'  # charged, but the answer did not decode: never reused
FAILED: Outcome = 'failed'
CLAIM_GRACE = 10.0  # seconds a claim holds before its request is in flight (``claim``)
SLACK = 0.05  # seconds of bookkeeping around a request (see ``Ledger.concurrency``)
MAYBE_CHARGED: Outcome = 'maybe_charged'

ledger_metadata = sa.MetaData()

calls_table = sa.Table(
    'rv_calls',
    ledger_metadata,
    id_column(),
    sa.Column('table_id', sa.Integer, nullable=True, index=True),
    sa.Column('column_id', sa.Integer, nullable=True),
    sa.Column('row_id', sa.BigInteger, nullable=True),
    sa.Column('function', sa.Text, nullable=False),
    sa.Column('endpoint', sa.Text, nullable=False),
    sa.Column('fingerprint', sa.String(64), nullable=False, index=True),
    sa.Column('attempt', sa.Integer, nullable=False),
    sa.Column('started_at', sa.Float, nullable=False),
    sa.Column('finished_at', sa.Float, nullable=True),
    sa.Column('http_status', sa.Integer, nullable=True),
    sa.Column('request_id', sa.Text, nullable=True),
    sa.Column('model_version', sa.Text, nullable=True),
    sa.Column('credits', sa.Float, nullable=False, server_default='0'),
    sa.Column('cost_usd', sa.Float, nullable=True),
    sa.Column('outcome', sa.String(16), nullable=False),
    sa.Column('cache_hit', sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column('journal_id', sa.Integer, nullable=True),
    sa.Column('delivered', sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column('error', sa.Text, nullable=True),
    # The table version the call computes cells of (None: finishing pending cells, a query).
    sa.Column('table_version', sa.Integer, nullable=True),
    # The process that sent it (``host:pid:nonce``): others wait for its answer (single flight).
    sa.Column('owner', sa.Text, nullable=True),
    # The media file holding the answer's bytes (catalog 4): the cache reads it once the
    # journal entry is pruned.
    sa.Column('answer_ref', sa.Text, nullable=True),
)

journal_table = sa.Table(
    'rv_journal',
    ledger_metadata,
    id_column(),
    sa.Column('sha256', sa.String(64), nullable=False, index=True),
    sa.Column('size', sa.BigInteger, nullable=False),
    sa.Column('media_ref', sa.Text, nullable=True),
    sa.Column('data', sa.LargeBinary, nullable=True),
    created_at_column(),
)

# Single flight across processes: one row per fingerprint whose call is in flight, inserted
# before the call is sent (the primary key makes one claimant win) and deleted once its
# answer is journalled or it failed.
flights_table = sa.Table(
    'rv_flights',
    ledger_metadata,
    sa.Column('fingerprint', sa.String(64), primary_key=True),
    sa.Column('owner', sa.Text, nullable=False),
    sa.Column('claimed_at', sa.Float, nullable=False),
)

# Spend caps shared by every process on this database (``store/budgets.py``): one row per
# scope (a table, or None: all tables) and unit.
budgets_table = sa.Table(
    'rv_budgets',
    ledger_metadata,
    id_column(),
    sa.Column('table_id', sa.Integer, nullable=True),
    sa.Column('unit', sa.String(8), nullable=False),  # 'credits' or 'usd'
    sa.Column('cap', sa.Float, nullable=False),
    sa.Column('per', sa.String(8), nullable=True),  # 'day' (UTC) or None: for ever
    created_at_column(),
)

CALL_COLUMNS = tuple(
    c.name for c in calls_table.columns if c.name not in ('delivered', 'owner', 'answer_ref')
)


@dataclass(frozen=True)
class CallSite:
    """Where a paid call's answer goes: table, column and row (all None outside a table)."""

    table_id: int | None = None
    column_id: int | None = None
    row_id: int | None = None


@dataclass(frozen=True)
class Look:
    """A call about to be sent: look for its answers; ``claim``: (owner, stale_before)."""

    fingerprint: str
    site: CallSite
    claim: tuple[str, float] | None = None


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
        before it releases, so a waiter finds the answer once the claim is free.
        """
        with self.store.begin() as conn:
            return [self._answered_in(conn, a) for a in answers]

    def _answered_in(self, conn: Connection, answer: Journalled) -> int:
        fields = dict(answer.fields)
        entry = {k: fields.pop(k) for k in ('sha256', 'size', 'media_ref', 'data')}
        c = calls_table.c
        if answer.release is not None:
            self.release_in(conn, *answer.release)
        done = conn.execute(
            sa.select(c.journal_id).where(c.id == answer.call_id).with_for_update()
        ).scalar()
        if done is not None:
            return int(done)
        row = {**entry, 'created_at': time.time()}
        if self.store.is_sqlite:  # SQLite would hand a pruned entry's id out again
            row['id'] = self.store.next_id(conn, journal_table, referenced=c.journal_id)
        journal_id = _insert(conn, journal_table, row)
        self.finish_in(
            conn,
            answer.call_id,
            'answered',
            journal_id=journal_id,
            answer_ref=entry['media_ref'],
            **fields,
        )
        return journal_id

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
            return _insert(conn, calls_table, values)

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
            holders = self._claim_many_in(conn, [looks[i] for i in ask], gone, grace)
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
                        self.release_in(conn, looks[i].fingerprint, claim[0])
                        looked[i] = Looked(earlier, hit)
        return looked

    def _claim_many_in(
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
                self._claim_in(conn, k.fingerprint, owner, stale_before, gone, grace)
                if k.fingerprint in held_now
                else None
            )
        return [holders[i] for i in range(len(looks))]

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
            return self._claim_in(conn, fingerprint, owner, stale_before, gone, grace)

    def _claim_in(
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
        f = flights_table.c
        conn.execute(sa.delete(flights_table).where(f.fingerprint == fingerprint, f.owner == owner))

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


CREDIT_PROVIDERS = ('reve', 'local')  # billed in credits (local: nothing); the rest in USD


def _insert(conn: Connection, table: sa.Table, values: dict[str, Any]) -> int:
    """Insert one row of ``table``; its new id."""
    return int(conn.execute(sa.insert(table).values(values).returning(table.c.id)).scalar_one())


def usd_apart_in(conn: Connection) -> None:
    """Catalog 2 -> 3: rows of USD providers held dollars in ``credits``; move them.

    Their ``cost_usd`` keeps what the answer said (or takes the worst case that ``credits``
    held); ``credits`` becomes 0, so ``credits_used()`` counts Reve credits only.
    """
    c = calls_table.c
    in_credits = sa.or_(*(c.endpoint.like(f'{p}/%') for p in CREDIT_PROVIDERS))
    conn.execute(
        sa.update(calls_table)
        .where(sa.not_(in_credits))
        .values(cost_usd=sa.func.coalesce(c.cost_usd, c.credits), credits=0)
    )


def _at(row: dict[str, Any], site: CallSite) -> bool:
    return (row['table_id'], row['column_id'], row['row_id']) == (
        site.table_id,
        site.column_id,
        site.row_id,
    )
