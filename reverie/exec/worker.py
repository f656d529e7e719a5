"""The worker: keep finishing pending cells of some tables until stopped.

``reverie worker`` is a thin shell over ``run_worker``. A pass walks the tables and
computes each one's pending cells; rows are claimed with a lease (``cells.Claimer``; the
run renews it while it works), so several workers, on one host or many sharing a
PostgreSQL database, split a backfill and never compute a cell twice. A worker stopped
by Ctrl-C or SIGTERM gives up its claims before it exits, so the cells it held are
free at once; one killed with -9 leaves claims that the next worker takes over when their
owner is found dead (same host) or their lease runs out.

The tables come from the layer above, as ``Job``s: this module only knows how to drive
them, so it imports nothing from ``catalog/``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from reverie.exec.cells import release_claims
from reverie.exec.paid import STORAGE_ERRORS
from reverie.exec.schema import TableSchema
from reverie.store.db import Store


@dataclass(frozen=True)
class Done:
    """What computing one table's pending cells did."""

    cells: int
    errors: int


@dataclass(frozen=True)
class Job:
    """One table a worker keeps finished.

    Attributes:
        name: its path, for the output.
        schema: what its claims are released on (the current schema of the table).
        compute: finishes the table's pending cells (and its views').
    """

    name: str
    schema: Callable[[], TableSchema]
    compute: Callable[[], Done]


@dataclass
class PassSummary:
    """One pass over the tables."""

    tables: int = 0
    cells: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (
            f'Worker pass done: {_n(self.tables, "table")} checked, {_n(self.cells, "cell")} '
            f'computed, {_n(self.errors, "error")}.'
        )


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so a run stops the same way."""


def run_worker(
    jobs: Callable[[], Sequence[Job]],
    store: Store,
    *,
    interval: float = 2.0,
    once: bool = False,
    say: Callable[[str], None] = print,
) -> PassSummary:
    """Run passes over ``jobs()`` (asked again each pass: new tables join) until stopped.

    Returns the last pass's summary (with ``once``, after the first pass). Ctrl-C and
    SIGTERM stop it: the claims of every table it worked on are given up, then the
    ``KeyboardInterrupt`` (``Terminated`` for SIGTERM) goes on to the caller.
    """
    worked: dict[str, Job] = {}
    try:
        with _sigterm_as_interrupt():
            while True:
                summary = PassSummary()
                for job in jobs():
                    worked[job.name] = job
                    done = job.compute()
                    summary.tables += 1
                    summary.cells += done.cells
                    summary.errors += done.errors
                    if done.cells:
                        say(f'{job.name}: computed {done.cells} cells ({done.errors} errors).')
                if once:
                    say(str(summary))
                    return summary
                time.sleep(interval)
    except KeyboardInterrupt:
        give_up_claims(store, worked.values())
        raise


def give_up_claims(store: Store, jobs: Iterable[Job]) -> None:
    """Release every claim this process holds on the tables of ``jobs``."""
    for job in jobs:
        with contextlib.suppress(*STORAGE_ERRORS):  # a lease runs out anyway
            release_claims(store, job.schema())


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While inside: SIGTERM raises ``Terminated`` (main thread only; elsewhere no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: types.FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _n(count: int, noun: str) -> str:
    return f'{count} {noun}{"" if count == 1 else "s"}'
