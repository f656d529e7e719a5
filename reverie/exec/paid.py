"""The paid-call layer: every call of a ``PaidFunction`` goes through ``PaidRun.call``.

One call, step by step:

1. ``prepare``: check the inputs, build the provider request (sends nothing).
2. fingerprint: provider, verb, model/version, every request field, sha256 of each image.
3. an answer journalled for this very cell and never written into it (the write failed,
   the process died) finishes the cell now, without paying again.
4. cache: an answer to the same fingerprint costs nothing (a ``cache_hit`` ledger row),
   unless ``cache=False`` on the call or the operation says ``use_cache=False``.
5. budget: the worst case (``provider.price().high``) is reserved; a call that could cross
   the budget is not sent and the run stops with the rest pending (overshoot: 0).
6. ledger row (``maybe_charged``) written *before* the request leaves, then the pool,
   ``provider.send`` (one attempt), and the row completed.
7. journal: the answer's bytes are durable (media store, or a database blob when the media
   store cannot take them) before they are interpreted.
8. finish: the image is fully decoded under size limits; a corrupt one is an error cell
   whose bytes stay in the journal.

Retries: the pool retries what the provider says was not charged (connect errors, 429,
5xx). A ``maybe_charged`` failure (read timeout, reset after sending, malformed answer) is
recorded with the worst-case credits and retried at most ``maybe_charged_retries`` times
(``REVERIE_MAYBE_CHARGED_RETRIES`` / ``[paid] maybe_charged_retries``, default 1).
Storage failures (database locked, media folder full or read-only) and credits exhausted
stop the run (``RunStoppedError``) with the cells pending.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import PIL.Image
import sqlalchemy as sa

from reverie.errors import ContentViolationError, RunStoppedError, ServiceError
from reverie.functions.images.provider import ImageAnswer, ImageRequest, Price
from reverie.functions.paid import PaidCall, PaidFunction
from reverie.functions.udf import CellValue
from reverie.store.ledger import FAILED, MAYBE_CHARGED, CallSite, Ledger
from reverie.store.media import extension_for

if TYPE_CHECKING:
    from reverie.config import Config
    from reverie.exec.pools import PoolRegistry
    from reverie.store.media import MediaStore

JOURNAL_WRITE_SECONDS = 300.0  # keep trying to journal a paid answer this long
MAX_ANSWER_PIXELS = 100_000_000
MAX_ANSWER_SIDE = 16_384
# sa.exc.TimeoutError: no pooled connection came free (threads queue behind a held lock).
STORAGE_ERRORS = (OSError, sa.exc.OperationalError, sa.exc.DBAPIError, sa.exc.TimeoutError)
SPILL_DIR = '.journal-pending'  # under the media root: answers the database would not take


@dataclass
class PaidOptions:
    """Per operation: the budget (credits), whether the cache may answer, dry run."""

    budget: float | None = None
    use_cache: bool = True
    dry_run: bool = False
    table_version: int | None = None  # the version whose cells the calls compute (history)


@dataclass
class PaidStats:
    """What the paid calls of one run did (the run summary's ``20 paid calls, 480 credits``)."""

    paid_calls: int = 0  # attempts sent
    cache_hits: int = 0
    recovered: int = 0  # cells finished from the journal
    credits: float = 0.0
    maybe_charged: int = 0
    low: float = 0.0  # dry run: credits range
    high: float = 0.0
    waiting: int = 0  # dry run: calls that would be sent

    def summary(self) -> str:
        """``20 paid calls, 480 credits`` (with cache hits and journal when any)."""
        parts = [f'{self.paid_calls} paid call{"" if self.paid_calls == 1 else "s"}']
        parts.append(f'{_num(self.credits)} credits')
        if self.cache_hits:
            parts.append(f'{self.cache_hits} cached')
        if self.recovered:
            parts.append(f'{self.recovered} from the journal')
        if self.maybe_charged:
            parts.append(f'{self.maybe_charged} maybe charged')
        return ', '.join(parts)


@dataclass
class _Answered:
    call_id: int
    answer: ImageAnswer
    journal_id: int


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
    _reserved: float = 0.0
    _media_checked: bool = False
    _spill_checked: bool = False
    _spill_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _start_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _starts: list[tuple[CallSite, dict[str, Any], asyncio.Future[int]]] = field(
        default_factory=list
    )

    # -- the call ----------------------------------------------------------------------
    async def call(
        self, fn: PaidFunction, args: tuple[Any, ...], kwargs: dict[str, Any], site: CallSite
    ) -> CellValue | None:
        """Compute one cell's paid call (see the module docstring)."""
        kwargs = dict(kwargs)
        cache_allowed = kwargs.pop('cache', None) is not False and self.options.use_cache
        prepared = await fn.prepare(args, kwargs, self.config)
        if prepared is None:
            return None
        provider, request = prepared.provider, prepared.request
        provider.check(request)
        fp = fingerprint(provider.name, request)
        price = provider.price(request)
        await self.take_spilled()
        earlier, hit = await self._storage(self.ledger.find_answers, fp, site)
        if earlier is not None:
            self.stats.recovered += 1
            return await self._from_journal(fn, prepared, earlier, earlier['id'], site)
        if cache_allowed and hit is not None:
            call_id = await self._storage(self.ledger.cache_hit, site, hit)
            self.stats.cache_hits += 1
            return await self._from_journal(fn, prepared, {**hit, 'credits': 0}, call_id, site)
        if self.stopping:
            raise _Stopped
        await self._check_media()
        self._reserve(price)
        try:
            done = await self._send(fn, provider.name, prepared, fp, price, site)
        finally:
            self._reserved -= price.high
        return await self._finish(fn, prepared, done, site)

    async def _send(
        self,
        fn: PaidFunction,
        provider_name: str,
        prepared: PaidCall,
        fp: str,
        price: Price,
        site: CallSite,
    ) -> _Answered:
        provider, request = prepared.provider, prepared.request
        settings = fn.pool_for(self.config)
        pool = self.pools.get(
            provider.pool_name(),
            max_concurrency=settings.max_concurrency,
            requests_per_minute=settings.requests_per_minute,
            max_retries=settings.max_retries,
        )
        endpoint = f'{provider_name}/{request.verb}'
        attempt = 0
        maybe_charged_left = self.config.maybe_charged_retries

        async def one_attempt() -> tuple[int, ImageAnswer]:
            nonlocal attempt
            if self.stopping:
                raise _Stopped
            attempt += 1
            call_id = await self._record_start(
                site,
                {
                    'function': fn.path,
                    'endpoint': endpoint,
                    'fingerprint': fp,
                    'attempt': attempt,
                    'credits': price.high,
                    'table_version': self.options.table_version,
                },
            )
            self.in_flight += 1
            try:
                pool.note_sending()  # its probing times refusals from here, not from admission
                answer = await provider.send(request, self.config)
            except ServiceError as e:
                if e.maybe_charged:
                    self.stats.maybe_charged += 1
                    self.stats.credits += price.high
                    await self._storage(
                        self.ledger.finish,
                        call_id,
                        MAYBE_CHARGED,
                        http_status=e.status,
                        request_id=e.request_id,
                        error=str(e),
                    )
                else:
                    await self._storage(
                        self.ledger.finish,
                        call_id,
                        FAILED,
                        credits=0,
                        http_status=e.status,
                        request_id=e.request_id,
                        error=str(e),
                    )
                raise
            except asyncio.CancelledError:
                # Stopped at once (second Ctrl-C): the row stays maybe_charged, as written.
                self.stats.maybe_charged += 1
                self.stats.credits += price.high
                raise
            except Exception as e:
                self.stats.maybe_charged += 1
                self.stats.credits += price.high
                await self._storage(
                    self.ledger.finish, call_id, MAYBE_CHARGED, error=f'{type(e).__name__}: {e}'
                )
                raise
            finally:
                self.in_flight -= 1
                self.stats.paid_calls += 1
            return call_id, answer

        while True:
            try:
                call_id, answer = await pool.run(one_attempt)
                break
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
        return await self._journal(call_id, answer, price)

    async def estimate(
        self, fn: PaidFunction, args: tuple[Any, ...], kwargs: dict[str, Any], site: CallSite
    ) -> bool:
        """Count one call of a dry run (journal, cache or paid); True when it would be made."""
        kwargs = dict(kwargs)
        cache_allowed = kwargs.pop('cache', None) is not False and self.options.use_cache
        prepared = await fn.prepare(args, kwargs, self.config)
        if prepared is None:
            return False
        provider, request = prepared.provider, prepared.request
        provider.check(request)
        fp = fingerprint(provider.name, request)
        journalled, cached = await asyncio.to_thread(self.ledger.find_answers, fp, site)
        if journalled is not None:
            self.stats.recovered += 1
            return False
        if cache_allowed and cached is not None:
            self.stats.cache_hits += 1
            return False
        price = provider.price(request)
        self.stats.waiting += 1
        self.stats.low += price.low
        self.stats.high += price.high
        return True

    # -- after the answer ----------------------------------------------------------------
    async def _journal(self, call_id: int, answer: ImageAnswer, price: Price) -> _Answered:
        """Make the answer's bytes durable and complete its ledger row, or stop loudly."""
        note = None
        credits = answer.credits
        if credits is None:
            credits = price.high
            note = (
                'the answer gave no valid credits figure; recorded the price table figure '
                f'({_num(price.high)}, {price.source})'
            )
        answer = dataclasses.replace(answer, credits=credits)
        data = answer.image
        digest = hashlib.sha256(data).hexdigest()
        ref: str | None = None
        ext = _sniff_extension(data)
        if ext is not None:
            try:
                ref = await asyncio.to_thread(self.media.put, data, ext)
            except OSError:
                ref = None  # the media store cannot take it: the database keeps the bytes
        deadline = time.monotonic() + JOURNAL_WRITE_SECONDS
        while True:
            try:
                journal_id = await asyncio.to_thread(
                    self.ledger.answered,
                    call_id,
                    sha256=digest,
                    size=len(data),
                    media_ref=ref,
                    data=None if ref is not None else data,
                    credits=credits,
                    cost_usd=answer.cost_usd,
                    request_id=answer.request_id,
                    model_version=answer.model_version,
                    http_status=200,
                    error=note,
                )
                break
            except STORAGE_ERRORS as e:
                if time.monotonic() > deadline:
                    kept = await self._spill(call_id, digest, len(data), ref, answer, note)
                    what = f'journalling the answer of paid call {call_id}'
                    if kept is not None:
                        what += f' (its answer is kept in {str(kept)!r} for the next run)'
                    raise _storage_stop(e, what) from None
                await asyncio.sleep(1.0)
        self.stats.credits += credits
        return _Answered(call_id, answer, journal_id)

    async def _spill(
        self,
        call_id: int,
        digest: str,
        size: int,
        ref: str | None,
        answer: ImageAnswer,
        note: str | None,
    ) -> Path | None:
        """The database will not take the journal entry: note it beside the media file.

        The next run (``take_spilled``) moves the note into the journal, so the cell is
        finished without paying again. Without the media file there is nothing to keep.
        """
        if ref is None:
            return None
        entry = {
            'call_id': call_id,
            'sha256': digest,
            'size': size,
            'media_ref': ref,
            'credits': answer.credits,
            'cost_usd': answer.cost_usd,
            'request_id': answer.request_id,
            'model_version': answer.model_version,
            'error': note,
        }
        path = self.media.root / SPILL_DIR / f'{call_id}.json'

        def write() -> None:
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix('.tmp')
            tmp.write_text(json.dumps(entry))
            tmp.replace(path)

        try:
            await asyncio.to_thread(write)
        except OSError:
            return None
        return path

    async def take_spilled(self) -> None:
        """Move answers noted beside the media files (database was locked) into the journal."""
        if self._spill_checked:
            return
        async with self._spill_lock:  # concurrent first calls wait for it
            if not self._spill_checked:
                await self._take_spilled()
                self._spill_checked = True

    async def _take_spilled(self) -> None:
        folder = self.media.root / SPILL_DIR
        if not folder.is_dir():
            return
        for path in sorted(folder.glob('*.json')):
            entry = json.loads(path.read_text())
            await self._storage(
                self.ledger.answered,
                int(entry['call_id']),
                sha256=entry['sha256'],
                size=int(entry['size']),
                media_ref=entry['media_ref'],
                data=None,
                credits=entry['credits'],
                cost_usd=entry['cost_usd'],
                request_id=entry['request_id'],
                model_version=entry['model_version'],
                http_status=200,
                error=entry['error'],
            )
            path.unlink()

    async def _from_journal(
        self,
        fn: PaidFunction,
        prepared: PaidCall,
        row: dict[str, Any],
        call_id: int,
        site: CallSite,
    ) -> CellValue | None:
        entry = await self._storage(self.ledger.journal, int(row['journal_id']))
        if entry.data is not None:
            data = entry.data
        else:
            assert entry.media_ref is not None
            data = await asyncio.to_thread(self.media.path(entry.media_ref).read_bytes)
        answer = ImageAnswer(
            image=data,
            request_id=row['request_id'],
            model_version=row['model_version'],
            credits=float(row['credits'] or 0),
            cost_usd=row.get('cost_usd'),
        )
        return await self._finish(fn, prepared, _Answered(call_id, answer, entry.id), site)

    async def _finish(
        self, fn: PaidFunction, prepared: PaidCall, done: _Answered, site: CallSite
    ) -> CellValue | None:
        if site.row_id is not None and site.column_id is not None:
            self.delivered[(site.row_id, site.column_id)] = done.call_id
        await asyncio.to_thread(check_answer_image, done.answer.image, done.call_id)
        value = fn.finish(prepared, done.answer)
        return value

    # -- budget, storage --------------------------------------------------------------
    def _reserve(self, price: Price) -> None:
        budget = self.options.budget
        if budget is not None and self.stats.credits + self._reserved + price.high > budget:
            raise RunStoppedError(
                f'Budget reached: {_num(self.stats.credits)} of {_num(budget)} credits spent '
                f'and the next call could cost up to {_num(price.high)} ({price.source}); '
                'nothing more was sent. Finished cells are kept and the rest stay pending: '
                'continue with a larger budget, e.g. t.recompute_columns(budget=...) or '
                '`reverie resume`.',
                reason='budget',
            )
        self._reserved += price.high

    async def _check_media(self) -> None:
        if self._media_checked:
            return
        async with self._spill_lock:  # one probe, however many first calls start at once
            if not self._media_checked:
                await self._probe_media()

    async def _probe_media(self) -> None:
        try:
            await asyncio.to_thread(_check_writable, self.media)
        except OSError as e:
            raise RunStoppedError(
                f'The media folder {str(self.media.root)!r} cannot take new images ({e}); no '
                'paid call was sent. Free space or fix its permissions (or set '
                'REVERIE_MEDIA_DIR), then run `reverie resume`.',
                reason='storage',
            ) from None
        self._media_checked = True

    async def _record_start(self, site: CallSite, fields: dict[str, Any]) -> int:
        """The ledger row of an attempt about to leave.

        Attempts starting together share one commit (group commit), so recording them never
        queues the requests one by one behind the database lock.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._starts.append((site, fields, future))
        async with self._start_lock:
            if not future.done():
                batch, self._starts = self._starts, []
                try:
                    ids = await _while_locked(self.ledger.start_many, [(s, f) for s, f, _ in batch])
                except STORAGE_ERRORS as e:
                    error = _storage_stop(e, 'writing the ledger of paid calls')
                    for *_, waiting in batch:
                        if not waiting.done():
                            waiting.set_exception(error)
                else:
                    for (*_, waiting), call_id in zip(batch, ids, strict=True):
                        waiting.set_result(call_id)
        return await future

    async def _storage(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A ledger write; a failure stops the run (nothing unrecorded is ever sent)."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except STORAGE_ERRORS as e:
            raise _storage_stop(e, 'writing the ledger of paid calls') from None

    def take_delivered(self, keys: list[tuple[int, int]]) -> list[int]:
        """Ledger ids of the answers the cells ``keys`` (row, column) are about to take."""
        return [self.delivered.pop(k) for k in keys if k in self.delivered]


class _DryRunCall(Exception):
    """Internal: a dry run reached a call that would be sent (counted, not sent)."""


class _Stopped(Exception):
    """Internal: the run is stopping (first Ctrl-C); the cell stays pending."""


def is_pending_marker(e: BaseException) -> bool:
    """Whether ``e`` means "leave the cell pending" (dry run, stopping)."""
    return isinstance(e, _DryRunCall | _Stopped)


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


def _storage_stop(e: BaseException, what: str) -> RunStoppedError:
    detail = (str(e).splitlines() or [''])[0].split(' (Background on this error')[0]
    detail = re.sub(r'^\([\w.]+\) ', '', detail) or type(e).__name__  # '(sqlite3.X) '
    if isinstance(e, sa.exc.TimeoutError):  # not SQLAlchemy's words: what it means
        detail = 'the database stayed locked; no connection came free in time'
    hint = 'free space or fix its permissions'
    if 'locked' in detail or 'busy' in detail:
        hint = 'another process holds the database lock; close it'
    return RunStoppedError(
        f'Storage failed while {what} ({detail}): {hint}, then run `reverie resume`. '
        'Cells not written stay pending; answers already journalled finish them without '
        'paying again.',
        reason='storage',
    )


def storage_stop(e: BaseException, what: str) -> RunStoppedError:
    """The run-stopping error for a failed write (database locked, disk full, read-only)."""
    return _storage_stop(e, what)


def fingerprint(provider: str, request: ImageRequest) -> str:
    """sha256 over the provider, verb, model, every request field and each image's bytes."""
    doc = {
        'provider': provider,
        'verb': request.verb,
        'model': request.model,
        'prompt': request.prompt,
        'aspect_ratio': request.aspect_ratio,
        'options': dict(request.options),
        'images': [hashlib.sha256(b).hexdigest() for b in request.images],
    }
    text = json.dumps(doc, sort_keys=True, default=repr, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def check_answer_image(data: bytes, call_id: int) -> None:
    """Decode an answer image fully under size limits, or raise the corrupt-image error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w > MAX_ANSWER_SIDE or h > MAX_ANSWER_SIDE or w * h > MAX_ANSWER_PIXELS:
                    raise ValueError(f'{w}x{h} pixels is over the limit for an answer')
                img.load()
    except Exception as e:
        raise ServiceError(
            f'the service returned a corrupt image ({len(data)} bytes: {type(e).__name__}: '
            f'{e}); its bytes are kept in the answer journal (rv.calls(), call id {call_id}). '
            'Recompute the cell to ask again.'
        ) from None


def _sniff_extension(data: bytes) -> str | None:
    if data.startswith(b'\x89PNG\r\n\x1a\n'):
        return extension_for('PNG')
    if data.startswith(b'\xff\xd8\xff'):
        return extension_for('JPEG')
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return extension_for('WEBP')
    return None


def _check_writable(media: MediaStore) -> None:
    # A temp name in a store folder: if the process dies before the unlink, ``gc`` removes it.
    folder = media.root / '00'
    folder.mkdir(exist_ok=True)
    probe = folder / f'.tmp-probe-{time.time_ns()}'
    try:
        with open(probe, 'wb') as f:
            f.write(b'\0' * 4096)
    finally:
        probe.unlink(missing_ok=True)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f'{x:.2f}'
