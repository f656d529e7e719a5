"""The paid-call layer: every call of a ``PaidFunction`` goes through ``PaidRun.call``.

One call, step by step:

1. ``prepare``: check the inputs, build the ``PaidCall`` (sends nothing). The call is
   declared by the function's family (``functions/images``, ``functions/openai/chat``...):
   its price, fingerprint fields, ``send``, answer check and cell; this layer knows none.
2. fingerprint: sha256 of the call's fingerprint fields (endpoint, model, fields, inputs).
3. an answer journalled for this very cell and never written into it (the write failed,
   the process died) finishes the cell now, without paying again.
4. cache: an answer to the same fingerprint costs nothing (a ``cache_hit`` ledger row),
   unless ``cache=False`` on the call or the operation says ``use_cache=False``. The same
   request in flight is waited for: in this run, or in another process, which holds the
   fingerprint's claim (``rv_flights``, ``Ledger.claim``) until its answer is journalled.
5. budget: the worst case (``call.price().high``) is reserved; a call that could cross
   the budget is not sent and the run stops with the rest pending (overshoot: 0).
6. ledger row (``maybe_charged``) written *before* the request leaves, then the pool,
   ``call.send`` (one attempt), and the row completed.
7. journal: the answer's bytes are durable before they are interpreted: first its media
   file and a note beside it (``exec/answers.py``, before anything that waits), then the database
   journal (or a blob there when the media store cannot take them). The entry is pruned
   in the transaction that writes its cell; the ledger row keeps the media file.
8. finish: ``call.check_answer`` (an image decodes under size limits, a JSON body has its
   parts); a bad answer is an error cell, its ledger rows become ``bad_answer`` (still
   charged; the bytes stay for inspection) and neither the cache nor a resume serves it.

Retries: the pool retries what the provider says was not charged (connect errors, 429,
5xx). A ``maybe_charged`` failure (read timeout, reset after sending, malformed answer) is
recorded with the worst-case credits and retried at most ``maybe_charged_retries`` times
(``REVERIE_MAYBE_CHARGED_RETRIES`` / ``[paid] maybe_charged_retries``, default 1).
Storage failures (database locked, media folder full or read-only) and credits exhausted
stop the run (``RunStoppedError``) with the cells pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    ContentViolationError,
    InvalidValueError,
    RunStoppedError,
    ServiceError,
)
from reverie.exec.answers import Answered, AnswerKeeper, Noted
from reverie.exec.cells import owner_id
from reverie.exec.group_commit import Once, Stopping, retrieved
from reverie.exec.ledger_writes import STORAGE_ERRORS, LedgerWrites, amount_of
from reverie.functions.paid import (
    UNITS,
    Answer,
    Budget,
    PaidCall,
    PaidFunction,
    Price,
    money,
    number,
)
from reverie.functions.udf import CellValue
from reverie.store.flights import Look
from reverie.store.ledger import Ledger, Looked
from reverie.store.ledger_tables import FAILED, MAYBE_CHARGED, CallSite

if TYPE_CHECKING:
    from reverie.config import Config
    from reverie.exec.pools import Pool, PoolRegistry
    from reverie.store.media import MediaStore

FLIGHT_POLL_SECONDS = 0.25  # how often a call waiting for another process's answer looks
INLINE_CHECK_BYTES = 64 * 1024  # an answer up to this size is checked on the event loop


@dataclass
class PaidOptions:
    """Per operation: the budget, whether the cache may answer, dry run.

    ``budget``: a ``Budget`` (a cap per unit), or a bare number in the provider's own unit
    (refused once the run's calls are priced in two units), or None (no cap).
    """

    budget: float | Budget | None = None
    use_cache: bool = True
    dry_run: bool = False
    table_version: int | None = None  # the version whose cells the calls compute (history)


@dataclass
class PaidStats:
    """What the paid calls of one run did (``20 paid calls, 480 credits, $0.36``).

    Money is kept per unit: Reve credits and USD are never added together.
    """

    paid_calls: int = 0  # attempts sent
    cache_hits: int = 0
    recovered: int = 0  # cells finished from the journal
    credits: float = 0.0
    usd: float = 0.0
    maybe_charged: int = 0
    low: float = 0.0  # dry run: credits range
    high: float = 0.0
    low_usd: float = 0.0  # dry run: USD range
    high_usd: float = 0.0
    waiting: int = 0  # dry run: calls that would be sent

    def spent(self, unit: str) -> float:
        """What the run spent in ``unit`` (answered and maybe charged)."""
        return self.usd if unit == 'usd' else self.credits

    def add(self, unit: str, amount: float) -> None:
        """Count ``amount`` spent in ``unit``."""
        if unit == 'usd':
            self.usd += amount
        else:
            self.credits += amount

    def spend_text(self) -> str:
        """``480 credits``, ``$0.36``, or both (credits when nothing was spent)."""
        parts = [money(self.spent(u), u) for u in UNITS if self.spent(u)]
        return ', '.join(parts) or money(0, 'credits')

    def summary(self) -> str:
        """``20 paid calls, 480 credits`` (with cache hits and journal when any)."""
        parts = [f'{self.paid_calls} paid call{"" if self.paid_calls == 1 else "s"}']
        parts.append(self.spend_text())
        if self.cache_hits:
            parts.append(f'{self.cache_hits} cached')
        if self.recovered:
            parts.append(f'{self.recovered} from the journal')
        if self.maybe_charged:
            parts.append(f'{self.maybe_charged} maybe charged')
        return ', '.join(parts)


@dataclass(frozen=True)
class _Flight:
    """A paid call's answer, for the identical calls that waited for it (single flight)."""

    source: dict[str, Any]


@dataclass
class PaidRun:
    """The paid calls of one operation (one ``compute_pending``)."""

    config: Config
    ledger: Ledger
    media: MediaStore
    pools: PoolRegistry
    options: PaidOptions = field(default_factory=PaidOptions)
    table_id: int | None = None
    stats: PaidStats = field(default_factory=PaidStats)
    stopping: bool = False  # first Ctrl-C: send nothing new
    in_flight: int = 0
    delivered: dict[tuple[int, int], int] = field(default_factory=dict)  # (row, col) -> call
    _flights: dict[str, asyncio.Future[_Flight]] = field(default_factory=dict)
    _check_media: Once = field(init=False)  # one probe, however many first calls start at once
    _learning: dict[str, asyncio.Future[tuple[int, bool]]] = field(default_factory=dict)
    writes: LedgerWrites = field(init=False)
    holds: BudgetHolds = field(init=False)
    keeper: AnswerKeeper = field(init=False)

    def __post_init__(self) -> None:
        self.writes = LedgerWrites(self.ledger)
        self.holds = BudgetHolds(self.options, self.stats, self.writes, self.table_id)
        self.keeper = AnswerKeeper(self.media, self.writes)
        self._check_media = Once(self._probe_media)

    def warm(self, pools: list[str]) -> None:
        """Start the run's first steps while its rows are claimed and read.

        The spill, the media probe, and what the ledger learned about each pool in
        ``pools`` not yet used in this process; ``call`` still waits for each.
        """
        self.keeper.spills.take.start()
        self._check_media.start()
        for name in pools:
            if not (name in self.pools and self.pools[name].learned):
                self._learned(name)

    def _learned(self, pool: str) -> asyncio.Future[tuple[int, bool]]:
        """What earlier runs showed about ``pool`` (``LedgerReport.concurrency``).

        Read in a thread, off the event loop, once per run.
        """
        known = self._learning.get(pool)
        if known is None:
            read = asyncio.to_thread(self.ledger.report.concurrency, pool)
            known = self._learning[pool] = asyncio.ensure_future(read)
            known.add_done_callback(retrieved)
        return known

    # -- the call ----------------------------------------------------------------------
    async def call(
        self, fn: PaidFunction, args: tuple[Any, ...], kwargs: dict[str, Any], site: CallSite
    ) -> CellValue | None:
        """Compute one cell's paid call (see the module docstring)."""
        prepared, cache_allowed = await self.prepare(fn, args, kwargs)
        if prepared is None:
            return None
        fp = self.fingerprint_of(fn, prepared)
        price = prepared.price()
        await self.keeper.spills.take()
        flight = self._flights.get(fp) if cache_allowed else None
        mine: asyncio.Future[_Flight] | None = None
        if cache_allowed and flight is None:  # before any await: identical calls wait for it
            mine = self._flights[fp] = asyncio.get_running_loop().create_future()
        claimed = False
        source: dict[str, Any] | None = None  # the answer the call takes (None: sent)
        try:
            # The journal, the cache and (when this call would send it) the claim: one
            # transaction shared with the calls beside it; another process may have it in
            # flight, then its answer is waited for.
            looked = await self._look(fn, fp, site, claim=mine is not None)
            claimed = looked.claimed
            if looked.earlier is not None:
                self.stats.recovered += 1
                source = looked.earlier
            elif cache_allowed and looked.hit is not None:
                source = looked.hit
            elif flight is not None:  # the same request is in flight here: take its answer
                source = (await asyncio.shield(flight)).source
            else:
                if self.stopping:
                    raise Stopping
                await self._check_media()
                done = await self._send(fn, prepared, fp, price, site, claimed)
                claimed = False  # released with its journal
        except BaseException as e:
            if mine is not None:
                self._flights.pop(fp, None)
                mine.set_exception(e if isinstance(e, Exception) else Stopping())
                mine.exception()  # retrieved: no warning when nobody waits for it
            raise
        finally:
            if claimed:  # failed: others may look or ask now
                with contextlib.suppress(*STORAGE_ERRORS):  # a dead claim is taken over
                    await asyncio.to_thread(self.ledger.flights.release, fp, owner_id())
        if mine is not None:
            self._flights.pop(fp, None)
            mine.set_result(_Flight(done.source if source is None else source))
        if source is not None and source is looked.earlier:
            return await self._from_journal(prepared, source, source['id'], site)
        if source is not None:
            return await self._cached(prepared, source, site)
        return await self._finish(prepared, done, site)

    async def _cached(
        self, prepared: PaidCall, source: dict[str, Any], site: CallSite
    ) -> CellValue | None:
        """The cell from an answer another call (earlier, or in flight) paid for."""
        call_id = await self.writes.write(self.ledger.cache_hit, site, source)
        self.stats.cache_hits += 1
        return await self._from_journal(prepared, {**source, 'credits': 0}, call_id, site)

    async def _look(self, fn: PaidFunction, fp: str, site: CallSite, claim: bool) -> Looked:
        """The call's answers in the journal and the cache, and its claim when ``claim``.

        Claimed (``rv_flights``): this call is sent and the claim released with its answer's
        journal (or after it failed). Held by another process: its answer is waited for. A
        claim whose process is known dead (same host) is taken over at once; one on another
        host after the provider's timeout.
        """
        settings = self.config.providers.get(fn.pool_for(self.config).name)
        timeout = settings.timeout if settings is not None else 180.0
        while True:
            mine = (owner_id(), time.time() - timeout) if claim else None
            looked = await self.writes.look(Look(fp, site, mine))
            if looked.holder is None:
                return looked
            await asyncio.sleep(FLIGHT_POLL_SECONDS)

    def fingerprint_of(self, fn: PaidFunction, prepared: PaidCall) -> str:
        """The call's fingerprint, with the endpoint and account it goes to (cache key)."""
        return fingerprint(prepared, account(self.config, fn.pool_for(self.config).name))

    async def prepare(
        self, fn: PaidFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[PaidCall | None, bool]:
        """The checked call (None: nothing to call) and whether the cache may answer it."""
        kwargs = dict(kwargs)
        cache_allowed = kwargs.pop('cache', None) is not False and self.options.use_cache
        return await fn.prepare(args, kwargs, self.config), cache_allowed

    async def _send(
        self,
        fn: PaidFunction,
        prepared: PaidCall,
        fp: str,
        price: Price,
        site: CallSite,
        claimed: bool,
    ) -> Answered:
        """Send through the pool until answered (``claimed``: release the claim with it).

        A maybe-charged failure is retried at most ``maybe_charged_retries`` times; a
        failure that stops the run (credits exhausted) stops it.
        """
        pool = await self._pool(fn)
        usd = price.unit == 'usd'
        fields = {  # booked at the worst case until the answer says what it cost
            'function': fn.path,
            'endpoint': prepared.endpoint,
            'fingerprint': fp,
            'credits': 0.0 if usd else price.high,
            'cost_usd': price.high if usd else None,
            'table_version': self.options.table_version,
            'owner': owner_id(),
        }
        attempts: list[int] = []

        async def one_attempt() -> tuple[int, Noted]:
            if self.stopping:
                raise Stopping
            await self.holds.reserve(price)  # every attempt that may be charged, retries included
            try:
                attempts.append(len(attempts) + 1)
                call_id = await self.writes.start(site, {**fields, 'attempt': len(attempts)})
                answer = await self._attempt(prepared, call_id, price, pool.note_sending)
                # Durable first, before the pool's bookkeeping and any waiting for the database.
                noted = await self.keeper.note(call_id, answer, price)
            except BaseException:
                self.holds.release(price)
                raise
            return call_id, noted

        maybe_charged_left = self.config.maybe_charged_retries
        while True:
            try:
                call_id, noted = await pool.run(one_attempt)
                try:
                    release = (fp, owner_id()) if claimed else None
                    journal_id = await self.keeper.journal(call_id, noted, release)
                    self.stats.add(price.unit, noted.spent)
                finally:  # held until the spend is counted
                    self.holds.release(price)
                done = Answered(call_id, noted.answer, journal_id, noted.ref)
                done.source = {**fields, 'http_status': 200, 'journal_id': done.journal_id}
                done.source.update(answer_ref=done.ref)
                done.source.update(request_id=noted.answer.request_id)
                done.source.update(model_version=noted.answer.model_version)
                return done
            except ServiceError as e:
                if e.stops_run:
                    raise RunStoppedError(
                        f'{e} The run stopped; the remaining cells stay pending. '
                        'Resume with `reverie resume` once the cause is fixed.',
                        reason='service',
                    ) from None
                refused = isinstance(e, ContentViolationError)  # asking again is refused again
                if e.maybe_charged and maybe_charged_left > 0 and not self.stopping and not refused:
                    maybe_charged_left -= 1
                    continue
                raise

    async def _pool(self, fn: PaidFunction) -> Pool:
        """The pool ``fn``'s calls go through, started where earlier runs ended.

        What the ledger learned is read at its first use in this process.
        """
        settings = fn.pool_for(self.config)
        pool = self.pools.get(
            settings.name,
            max_concurrency=settings.max_concurrency,
            requests_per_minute=settings.requests_per_minute,
            max_retries=settings.max_retries,
        )
        if not pool.learned:
            learned = self._learned(settings.name)
            try:
                shown = await asyncio.shield(learned)
            except Exception:
                self._learning.pop(settings.name, None)  # the next call reads again
                raise
            if not pool.learned:
                pool.learn(*shown)
        return pool

    async def _attempt(
        self, prepared: PaidCall, call_id: int, price: Price, sending: Any
    ) -> Answer:
        """One attempt whose ledger row ``call_id`` is written; the row ends as it ends."""
        self.in_flight += 1
        sent = False
        try:
            sending()  # the pool's probing times refusals from here, not from admission
            sent = True  # from here on the request may have left
            return await prepared.send(self.config)
        except InvalidValueError as e:  # refused here (no key, a local check): never sent
            sent = False
            await self.writes.write(
                self.ledger.finish, call_id, FAILED, credits=0, cost_usd=None, error=str(e)
            )
            raise
        except ServiceError as e:
            if e.maybe_charged:
                self._count_maybe_charged(price)
            await self.writes.write(
                self.ledger.finish,
                call_id,
                MAYBE_CHARGED if e.maybe_charged else FAILED,
                **({} if e.maybe_charged else {'credits': 0, 'cost_usd': None}),
                http_status=e.status,
                request_id=e.request_id,
                error=str(e),
            )
            raise
        except asyncio.CancelledError:
            # Stopped at once (second Ctrl-C): the row stays maybe_charged, as written.
            self._count_maybe_charged(price)
            raise
        except Exception as e:
            self._count_maybe_charged(price)
            await self.writes.write(
                self.ledger.finish, call_id, MAYBE_CHARGED, error=f'{type(e).__name__}: {e}'
            )
            raise
        finally:
            self.in_flight -= 1
            self.stats.paid_calls += sent

    def _count_maybe_charged(self, price: Price) -> None:
        self.stats.maybe_charged += 1
        self.stats.add(price.unit, price.high)

    async def _from_journal(
        self, prepared: PaidCall, row: dict[str, Any], call_id: int, site: CallSite
    ) -> CellValue | None:
        journal_id = int(row['journal_id'])
        entry = await self.writes.write(self.ledger.journal, journal_id)
        if entry is not None and entry.data is not None:
            data = entry.data
        else:  # a media file; the entry is gone once a cell took it (pruned)
            ref = row.get('answer_ref') or (entry.media_ref if entry is not None else None)
            assert ref is not None, f'journal entry {journal_id} has no bytes'
            data = await asyncio.to_thread(self.media.read_bytes, ref)
        answer = Answer(
            data=data,
            request_id=row['request_id'],
            model_version=row['model_version'],
            credits=float(row['credits'] or 0),
            cost_usd=row.get('cost_usd'),
        )
        return await self._finish(prepared, Answered(call_id, answer, journal_id), site)

    async def _finish(self, prepared: PaidCall, done: Answered, site: CallSite) -> CellValue | None:
        if site.row_id is not None and site.column_id is not None:
            self.delivered[(site.row_id, site.column_id)] = done.call_id
        try:
            if len(done.answer.data) <= INLINE_CHECK_BYTES:  # a hop waits longer than this
                prepared.check_answer(done.answer.data, done.call_id)
            else:
                await asyncio.to_thread(prepared.check_answer, done.answer.data, done.call_id)
        except ServiceError:  # paid for, but never served again (cache, resume)
            await self.writes.write(self.ledger.bad_answer, done.journal_id)
            raise
        return prepared.to_cell(done.answer)

    async def _probe_media(self) -> None:
        try:
            await asyncio.to_thread(self.media.check_writable)
        except OSError as e:
            raise RunStoppedError(
                f'The media store {self.media.location!r} cannot take new images ({e}); no '
                'paid call was sent. Free space or fix its permissions (or set '
                'REVERIE_MEDIA_DIR), then run `reverie resume`.',
                reason='storage',
            ) from None

    def journalled(self, row_id: int, column_id: int) -> bool:
        """Whether the cell (row, column) takes an answer that is in the journal already.

        A crash before such a cell is written loses nothing: the next run takes the answer
        from the journal without paying again.
        """
        return (row_id, column_id) in self.delivered

    def take_delivered(self, keys: list[tuple[int, int]]) -> list[int]:
        """Ledger ids of the answers the cells ``keys`` (row, column) are about to take."""
        return [self.delivered.pop(k) for k in keys if k in self.delivered]


@dataclass
class BudgetHolds:
    """The run's budget: every attempt that may be charged holds its worst case first."""

    options: PaidOptions
    stats: PaidStats
    writes: LedgerWrites
    table_id: int | None
    _reserved: dict[str, float] = field(default_factory=lambda: dict.fromkeys(UNITS, 0.0))
    _bare_unit: str | None = None  # the unit a bare-number budget was taken in

    async def reserve(self, price: Price) -> None:
        """Hold the worst case of one attempt against the budget, or stop the run."""
        unit, budget = price.unit, self.options.budget
        limit = budget.limit(unit) if isinstance(budget, Budget) else budget
        if limit is not None and not isinstance(budget, Budget) and self._bare_unit != unit:
            await self._check_bare_unit(limit, unit)
        spent, held = self.stats.spent(unit), self._reserved[unit]
        if limit is not None and spent + held + price.high > limit:
            raise RunStoppedError(
                f'Budget reached: {amount_of(spent + held, limit, unit)} spent or '
                f'held by calls in flight ({money(spent, unit)} settled) and the next call '
                f'could cost up to {money(price.high, unit)} ({price.source}); nothing more '
                'was sent. Finished cells are kept and the rest stay pending: continue with a '
                'larger budget, e.g. t.recompute_columns(budget=...) or `reverie resume`.',
                reason='budget',
            )
        self._reserved[unit] += price.high

    async def _check_bare_unit(self, limit: float, unit: str) -> None:
        """Refuse a bare-number budget whose unit is ambiguous.

        Ambiguous: this run, or the table's ledger, has calls priced in another unit.
        """
        other = self._bare_unit
        if other is None and self.table_id is not None:
            spend = await self.writes.write(self.writes.ledger.report.spend, self.table_id)
            other = next((u for u, v in spend.items() if v and u != unit), None)
        if other is not None and other != unit:
            raise RunStoppedError(
                f"budget={number(limit)} is a bare number, which means the provider's own "
                f'unit, but this table pays in {other} and in {unit}; nothing priced in {unit} '
                'was sent. Name the unit: budget=rv.Budget(credits=..., usd=...).',
                reason='budget',
            )
        self._bare_unit = unit

    def release(self, price: Price) -> None:
        """Give back what ``reserve`` held for an attempt (its cost is now counted)."""
        self._reserved[price.unit] -= price.high


def fingerprint(call: PaidCall, account: str = '') -> str:
    """sha256 over the call's fingerprint fields and the ``account`` it is sent to.

    The account (see ``account``) keeps an answer from being reused across endpoints or keys.
    """
    fields = call.fingerprint_fields()
    if account:
        fields = {**fields, 'account': account}
    text = json.dumps(fields, sort_keys=True, default=repr, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def account(config: Config, provider: str) -> str:
    """Who a provider's calls are sent to: its base URL and a hash of its key (never the key).

    Empty for a provider without settings (a local model).
    """
    settings = config.providers.get(provider)
    if settings is None:
        return ''
    key = hashlib.sha256((settings.api_key or '').encode()).hexdigest()[:16]
    return f'{settings.base_url.rstrip("/")}#{key}'
