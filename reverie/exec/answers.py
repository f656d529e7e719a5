"""Paid answers made durable: a media file and a note beside it first, then the journal.

An answer's bytes are kept before anything interprets them (``AnswerKeeper.note``, which
waits for nothing), then journalled in the database (``AnswerKeeper.journal``); the notes a
kill -9 or a locked database leave behind are moved into the journal by the next run
(``Spills.take``), so no answer is paid twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reverie.exec.group_commit import Once
from reverie.exec.ledger_writes import LedgerWrites, storage_stop
from reverie.exec.loop import threads
from reverie.functions.paid import Answer, Price, money
from reverie.store.ledger import Journalled
from reverie.store.media import LocalMediaStore, extension_for

if TYPE_CHECKING:
    from reverie.store.media import MediaStore

INLINE_NOTE_BYTES = 4 * 2**20  # an answer up to this size is noted without a thread hop


@dataclass
class Answered:
    """A paid answer journalled for a cell (or taken from the journal or the cache)."""

    call_id: int
    answer: Answer
    journal_id: int
    ref: str | None = None  # the media file of the answer's bytes (None: a journal blob)
    source: dict[str, Any] = field(default_factory=dict)  # the ledger fields a cache hit copies


@dataclass
class Noted:
    """An answer made durable (``AnswerKeeper.note``), on its way into the database journal."""

    answer: Answer
    digest: str
    credits: float  # booked in the ledger's credits column (0 for a USD provider)
    spent: float  # in the price's unit
    note: str | None  # the ledger row's remark (no valid cost figure)
    ref: str | None = None  # the media file of the bytes (None: a database blob)
    kept: str | None = None  # where the spill note is (None: none written)


@dataclass
class AnswerKeeper:
    """Keeps every paid answer: its media file and spill note, then its journal entry."""

    media: MediaStore
    writes: LedgerWrites
    spills: Spills = field(init=False)

    def __post_init__(self) -> None:
        self.spills = Spills(self.media, self.writes)

    async def note(self, call_id: int, answer: Answer, price: Price) -> Noted:
        """Make the answer durable at once: its media file and a note beside it (the spill).

        This comes before anything that waits: the pool's bookkeeping, the database lock
        (cell writes hold it), the default thread pool (its threads may all be waiting for
        that lock). The note is what a kill -9 leaves; the next run moves it into the
        journal (``Spills.take``). An answer that is not an image file, or that the media
        store cannot take, has no note: the database journal (a blob) is its first copy.
        """
        note = None
        usd = price.unit == 'usd'  # the provider's own credits (BFL) stay in the cell's meta
        spent = answer.cost_usd if usd else answer.credits
        if spent is None:
            spent = price.high
            note = (
                'the answer gave no valid cost figure; recorded the price table figure '
                f'({money(price.high, price.unit)}, {price.source})'
            )
            if usd:
                answer = dataclasses.replace(answer, cost_usd=spent)
            else:
                answer = dataclasses.replace(answer, credits=spent)
        credits = 0.0 if usd else spent
        data = answer.data
        noted = Noted(answer, hashlib.sha256(data).hexdigest(), credits, spent, note)
        ext = sniff_extension(data)
        if ext is None:
            return noted
        booked = dataclasses.replace(answer, credits=credits)

        def write() -> None:
            noted.ref = self.media.put(data, ext, digest=noted.digest)
            noted.kept = self.spills.note(call_id, noted.digest, len(data), noted.ref, booked, note)

        with contextlib.suppress(OSError):  # the media store cannot take it: a database blob
            if isinstance(self.media, LocalMediaStore) and len(data) <= INLINE_NOTE_BYTES:
                # A few system calls: done here, as a hop to a thread waits for the GIL under
                # load (measured with 2 busy processes: up to 0.23 s, here up to 0.06 s).
                write()
            else:  # an object store's PUT, or a large file: not on the event loop
                await asyncio.get_running_loop().run_in_executor(journal_thread(), write)
        return noted

    async def journal(self, call_id: int, noted: Noted, release: tuple[str, str] | None) -> int:
        """Journal the answer in the database and complete its ledger row, or stop loudly.

        ``release``: the claim (fingerprint, owner) given back in the same transaction.
        Answers arriving together share it (``LedgerWrites.journals``). Its journal id.
        """
        answer, ref = noted.answer, noted.ref
        data = answer.data
        fields = {
            'sha256': noted.digest,
            'size': len(data),
            'media_ref': ref,
            'data': None if ref is not None else data,
            'credits': noted.credits,
            'cost_usd': answer.cost_usd,
            'request_id': answer.request_id,
            'model_version': answer.model_version,
            'http_status': 200,
            'error': noted.note,
        }
        journal_id = await self.writes.journal(Journalled(call_id, fields, release), noted.kept)
        if noted.kept is not None:  # in the journal now; a note left behind is harmless
            with contextlib.suppress(OSError):
                if isinstance(self.media, LocalMediaStore):  # one unlink: no thread hop
                    self.media.unspill(str(call_id))
                else:
                    await asyncio.get_running_loop().run_in_executor(
                        journal_thread(), self.media.unspill, str(call_id)
                    )
        return journal_id


@dataclass
class Spills:
    """Answers noted in the media store's spill before the database journal has them.

    Every answer whose bytes are a media file is noted there first (fast, no database
    lock) and the note is removed once the journal has it; notes left by a kill -9 or by a
    database that stayed locked are moved into the journal by the next run (``take``), so
    no answer is paid twice.
    """

    media: MediaStore
    writes: LedgerWrites
    take: Once = field(init=False)  # concurrent first calls wait for it together
    """Move answers noted beside the media files (database was locked) into the journal."""

    def __post_init__(self) -> None:
        self.take = Once(self._take_spilled)

    def note(
        self,
        call_id: int,
        digest: str,
        size: int,
        ref: str,
        answer: Answer,
        error: str | None,
    ) -> str | None:
        """Note an answer whose bytes are the media file ``ref`` beside the media (the spill).

        Runs in a thread. The next run (``take``) moves the note into the journal, so the
        cell is finished without paying again; None when the media store refused the note.
        """
        entry = {
            'call_id': call_id,
            'sha256': digest,
            'size': size,
            'media_ref': ref,
            'credits': answer.credits,
            'cost_usd': answer.cost_usd,
            'request_id': answer.request_id,
            'model_version': answer.model_version,
            'error': error,
        }
        try:
            return self.media.spill(str(call_id), entry)
        except OSError:
            return None

    async def _take_spilled(self) -> None:
        try:
            spilled = await asyncio.to_thread(lambda: list(self.media.spilled()))
        except OSError as e:  # the media store is unreachable: nothing is sent
            raise storage_stop(e, 'reading the answers kept beside the media') from None
        for key, entry in spilled:
            await self.writes.write(
                self.writes.ledger.answered,
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
            await asyncio.to_thread(self.media.unspill, key)


def journal_thread() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that make answers durable, apart from the default thread pool.

    The default pool's threads may all be waiting for the database lock (cell and ledger
    writes); an answer's media file and note must not queue behind them.
    """
    return threads('reverie-journal', 2)


def sniff_extension(data: bytes) -> str | None:
    """The media file extension of image bytes (PNG, JPEG, WebP); None for anything else."""
    if data.startswith(b'\x89PNG\r\n\x1a\n'):
        return extension_for('PNG')
    if data.startswith(b'\xff\xd8\xff'):
        return extension_for('JPEG')
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return extension_for('WEBP')
    return None
