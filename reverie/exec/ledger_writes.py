"""The paid-call layer's ledger writes, and the errors that stop a run over them.

Nothing unrecorded is ever sent: an attempt's row is written before it leaves, and a write
that fails stops the run (``RunStoppedError``: ``storage_stop``, ``cap_reached``) with the
cells pending; a write that waits for a lock is tried again, never the paid call.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from reverie.errors import RunStoppedError
from reverie.exec.group_commit import GroupCommit
from reverie.functions.paid import money, number
from reverie.store.budgets import Refusal, start_within_caps
from reverie.store.flights import Look
from reverie.store.ledger import Journalled, Ledger, Looked
from reverie.store.ledger_tables import CallSite

JOURNAL_WRITE_SECONDS = 300.0  # keep trying to journal a paid answer this long
# sa.exc.TimeoutError: no pooled connection came free (threads queue behind a held lock).
STORAGE_ERRORS = (OSError, sa.exc.OperationalError, sa.exc.DBAPIError, sa.exc.TimeoutError)


@dataclass
class LedgerWrites:
    """The paid-call layer's ledger writes; a failed write stops the run (``RunStoppedError``).

    Nothing unrecorded is ever sent: an attempt's row is written before it leaves. The
    look-ups and claims, the attempts' rows and the answers' journal of calls arriving
    together each share one transaction (``GroupCommit``), so the calls of a step never queue one
    by one behind the database lock.
    """

    ledger: Ledger
    _starts: GroupCommit[tuple[CallSite, dict[str, Any]], int | Refusal] = field(init=False)
    _looks: GroupCommit[Look, Looked] = field(init=False)
    journals: GroupCommit[Journalled, int] = field(init=False)

    def __post_init__(self) -> None:
        from reverie.exec.worker import owner_is_gone  # worker.py imports this module

        self._starts = GroupCommit(functools.partial(start_within_caps, self.ledger), _while_locked)
        self._looks = GroupCommit(functools.partial(self.ledger.look_many, gone=owner_is_gone))
        self.journals = GroupCommit(self.ledger.answered_many)

    async def start(self, site: CallSite, fields: dict[str, Any]) -> int:
        """The ledger row of an attempt about to leave (group-committed with its neighbours)."""
        try:
            result = await self._starts.run((site, fields))
        except STORAGE_ERRORS as e:
            raise storage_stop(e, 'writing the ledger of paid calls') from None
        if isinstance(result, Refusal):
            raise cap_reached(result)
        return result

    async def look(self, look: Look) -> Looked:
        """``Ledger.look_many`` for one call, in a batch with the calls beside it."""
        try:
            return await self._looks.run(look)
        except STORAGE_ERRORS as e:
            raise storage_stop(e, 'writing the ledger of paid calls') from None

    async def write(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A ledger write; a failure stops the run (nothing unrecorded is ever sent)."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except STORAGE_ERRORS as e:
            raise storage_stop(e, 'writing the ledger of paid calls') from None

    async def journal(self, entry: Journalled, kept: str | None) -> int:
        """Journal an answer (group-committed with its neighbours): its journal id.

        A failed write is tried again for ``JOURNAL_WRITE_SECONDS``, then the run stops;
        ``kept``: where the answer's spill note is, named in the message.
        """
        deadline = time.monotonic() + JOURNAL_WRITE_SECONDS
        while True:
            try:
                return await self.journals.run(entry)
            except STORAGE_ERRORS as e:
                if time.monotonic() > deadline:
                    what = f'journalling the answer of paid call {entry.call_id}'
                    if kept is not None:
                        what += f' (its answer is kept in {kept!r} for the next run)'
                    raise storage_stop(e, what) from None
                await asyncio.sleep(1.0)


async def _while_locked(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a thread, tried again while the database is locked.

    The write is retried (never the paid call), for up to ``JOURNAL_WRITE_SECONDS``.
    """
    deadline = time.monotonic() + JOURNAL_WRITE_SECONDS
    while True:
        try:
            return await asyncio.to_thread(fn, *args)
        except STORAGE_ERRORS as e:
            locked = isinstance(e, sa.exc.TimeoutError) or 'locked' in str(e)
            if not locked or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


def cap_reached(refusal: Refusal) -> RunStoppedError:
    """The run-stopping error for an attempt a stored cap (``rv.set_budget``) refused."""
    cap, unit = refusal.cap, refusal.cap.unit
    scope = 'all tables' if cap.table_id is None else 'this table'
    period = ' today (UTC)' if cap.per == 'day' else ''
    raise_it = f'rv.set_budget({unit}=...' + ('' if cap.table_id is None else ', table=...')
    return RunStoppedError(
        f'Budget cap reached: {amount_of(refusal.spent, cap.cap, unit)} spent{period} or held by '
        f'calls in flight (the cap of {scope}, set with rv.set_budget, shared by every '
        f'process), and the next call could cost up to {money(refusal.price, unit)}; '
        f'nothing more was sent. Raise it with {raise_it}, per={cap.per!r}) and run '
        '`reverie resume`; rv.budgets() shows caps and spend.',
        reason='budget',
    )


def storage_stop(e: BaseException, what: str) -> RunStoppedError:
    """The run-stopping error for a failed write (database locked, disk full, read-only)."""
    detail = (str(e).splitlines() or [''])[0].split(' (Background on this error')[0]
    detail = re.sub(r'^\([\w.]+\) ', '', detail) or type(e).__name__  # '(sqlite3.X) '
    if isinstance(e, sa.exc.TimeoutError):  # not SQLAlchemy's words: what it means
        detail = 'the database stayed locked; no connection came free in time'
    hint = 'free space or fix its permissions'
    if 'locked' in detail or 'busy' in detail:
        hint = 'another process holds the database lock; close it'
    elif detail.startswith('object store'):  # reverie.store.s3.ObjectStoreError
        hint = 'check the bucket, AWS_ENDPOINT_URL and the credentials'
    return RunStoppedError(
        f'Storage failed while {what} ({detail}): {hint}, then run `reverie resume`. '
        'Cells not written stay pending; answers already journalled finish them without '
        'paying again.',
        reason='storage',
    )


def amount_of(amount: float, limit: float, unit: str) -> str:
    """``54 of 60 credits``, ``$0.54 of $5``."""
    if unit == 'usd':
        return f'{money(amount, unit)} of {money(limit, unit)}'
    return f'{number(amount)} of {money(limit, unit)}'
