"""Resource pools: shared concurrency and rate limits, retries and backoff.

Every call to an external service goes through its pool. A pool admits at most ``window``
calls at once (optionally at most ``requests_per_minute`` starts), retries failures that
say they are retryable (``ServiceError.retryable``) with exponential backoff and jitter,
honouring ``retry_after``.

A pool whose calls cost money finds its limit on evidence only. It starts at
``START_WINDOW`` calls (or its ceiling, if lower) and widens by one for each answer that
comes back (slow start: the window doubles per round trip), never on a timer: until the
first answers arrive no more than the starting window is in flight, so a crash in the first
seconds of a run loses at most that many calls. It never widens past twice the most calls
the service has answered at once (a pool whose work fits in its window does not grow on
answers it never needed), stops widening when answers get slower (a server that queues
shows it in latency) and at its ceiling (``max_concurrency``). On a 429 it narrows to the
calls still in flight when the refusal comes back (those the server took), holds every new
call until the server's ``Retry-After`` has passed, and from then on grows by one only after
a long run of successes at flat latency (``GROWTH_ROUNDS`` times the window, doubled by each
try that is refused), so it does not keep probing a server that has told it its limit.

A pool can also start from what earlier runs showed (``learn``: the ledger's answered
concurrency and 429s for the same provider, every endpoint of it), so a later run starts
where the last one ended: at the limit a 429 showed, else at twice the most calls answered
at once. Pools of unpaid work (async UDFs) have no money at risk: they start at their
ceiling.

A service that advertises its request budget on its answers (``x-ratelimit-remaining-requests``
and ``-limit-``/``-reset-requests``, ``retry-after-ms``; read by ``functions/images/http.py``
and reported through ``functions/limits.py``) is never sent more than it said it would take:
the pool counts every request that left after the answer (or was still out) against the
remaining budget, and holds new calls once it is spent until the budget resets.


A registry can be shared (``PoolRegistry.share``): each pool then also holds a slot of a
``ClusterWindow`` (``exec/shared_limits.py``) per call, so its limits hold for every process
on the database, and its growth and 429 narrowing apply to that shared window too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

from reverie.errors import ServiceError
from reverie.functions.limits import Advice, listening

T = TypeVar('T')

UNLIMITED = 512  # in-flight cap for pools without a limit: keeps memory bounded
BASE_BACKOFF = 0.5
MAX_BACKOFF = 30.0
GROWTH_ROUNDS = 8  # successes needed, in multiples of the window, before it grows by one
MAX_GROWTH_ROUNDS = 256  # ... doubled by each refused try, up to this
START_WINDOW = 8  # calls a pool starts with before any answer has come back
LATENCY_RISE = 2.0  # answers this many times slower than the fastest: the service is queueing
LATENCY_WEIGHT = 0.3  # weight of the newest answer in the recent latency
NOTE_AFTER = 2  # a call failing this many times in a row gets a word on stderr ...
NOTE_EVERY = 10.0  # ... at most this often per pool (seconds)
RESET_UNSAID = 1.0  # a remaining budget advertised without its reset time holds this long

log = logging.getLogger('reverie')


@dataclass
class PoolStats:
    """What a pool did; read by benchmarks and tests."""

    calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: int = 0
    peak_in_flight: int = 0


class ClusterWindow(Protocol):
    """A pool's limits shared with other processes (see ``exec/shared_limits.py``)."""

    async def acquire(self) -> int:
        """Wait for a free slot (and the shared rate schedule); the slot's number."""
        ...

    async def release(self, slot: int) -> None:
        """Give a slot back."""
        ...

    async def answered(self) -> None:
        """An answer came back at flat latency (the shared window may grow)."""
        ...

    async def refused(self, pause: float | None) -> None:
        """A 429: narrow the shared window; hold new calls ``pause`` seconds."""
        ...


ClusterWindows = Callable[[str, int | None, float | None], ClusterWindow | None]


@dataclass
class Pool:
    """Concurrency window, rate cap and retry policy for one external service."""

    name: str
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    max_retries: int = 6
    stats: PoolStats = field(default_factory=PoolStats)
    shared: ClusterWindow | None = None
    local_cap: int | None = None  # at most this many calls in this process (a worker's)
    slow_start: bool = True  # calls that cost money start small; others at the ceiling

    def __post_init__(self) -> None:
        self._ceiling = min(self.max_concurrency or UNLIMITED, self.local_cap or UNLIMITED)
        self.window = float(min(self._ceiling, START_WINDOW if self.slow_start else UNLIMITED))
        self._probing = self.window < self._ceiling  # slow start, until the first 429
        self._shown = 0  # the most calls the service answered at once (here or in the ledger)
        self._paused_until = 0.0  # a 429's Retry-After holds every new call until then
        self._fastest: float | None = None
        self._recent: float | None = None
        self._in_flight = 0
        self._successes_since_change = 0
        self._growth_rounds = GROWTH_ROUNDS
        self._grown_since_refusal = False  # a 429 after that is the answer to a try to grow
        self._cond = asyncio.Condition()
        self._next_start = 0.0
        self._last_note = -NOTE_EVERY
        self.learned = False  # started from what earlier runs showed (``learn``)
        # The service's advertised request budget (``_advised``): calls that may still start
        # before ``_allowance_until`` (None: nothing said), its size per period once reset.
        self._starts = 0  # calls started so far; a call's number is its place in this count
        self._live: set[int] = set()  # numbers of the calls in flight
        self._allowance: int | None = None
        self._allowance_until = 0.0
        self._advice_from = 0  # number of the call whose answer set the allowance
        # answers passed over since (older calls): under load a request can reach the service
        # after a later one, so such an answer may already speak of the next period
        self._passed_over = 0
        self._budget: int | None = None

    def __repr__(self) -> str:
        window = f'{int(self.window)}/{self._ceiling}'
        return f'<Pool {self.name!r} window={window} in_flight={self._in_flight}>'

    @property
    def ceiling(self) -> int:
        """The most calls this pool will ever run at once."""
        return self._ceiling

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def learn(self, answered: int, refused: bool) -> None:
        """Start from what earlier runs showed (the ledger), before this pool's first call.

        ``answered``: the most calls the service answered at once; ``refused``: whether it
        also sent 429s. A service that refused starts at what it answered, growing only
        slowly (as after a 429 here); one that never refused starts where slow start had
        got to: twice what it answered (no lower than ``START_WINDOW``).
        """
        if self.learned or self.stats.calls:
            self.learned = True
            return
        self.learned = True
        self._shown = max(self._shown, answered)
        if refused and answered > 0:
            self.window = float(min(self._ceiling, answered))
            self._probing = False
        elif 2 * answered > self.window:
            self.window = float(min(self._ceiling, 2 * answered))

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call()`` inside the pool's limits, retrying retryable failures."""
        attempt = 0
        while True:
            slot, number = await self._acquire()
            started = time.monotonic()
            try:
                with listening(partial(self._advised, number)):
                    result = await call()
            except ServiceError as e:
                await self._release(slot, number)
                if not e.retryable or attempt >= self.max_retries:
                    self.stats.failures += 1
                    raise
                attempt += 1
                self.stats.retries += 1
                delay = self._delay(attempt, e.retry_after)
                if e.status == 429:
                    self.stats.rate_limited += 1
                    if self._grown_since_refusal and not self._probing:  # a refused try
                        self._growth_rounds = min(MAX_GROWTH_ROUNDS, 2 * self._growth_rounds)
                    self._grown_since_refusal = False
                    self._probing = False
                    # Those still running were accepted; halving the count at this call's
                    # start (which included its refused siblings) undershot the limit.
                    self._shrink(self._in_flight)
                    if e.retry_after is not None:  # the server's word holds for every call
                        self._paused_until = max(self._paused_until, time.monotonic() + delay)
                    if self.shared is not None:
                        await self.shared.refused(delay if e.retry_after is not None else None)
                if e.status != 429:
                    self._note_retry(e, attempt, delay)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await self._release(slot, number)
                self.stats.failures += 1
                raise
            self._shown = max(self._shown, self._in_flight)  # all answered or still taken
            await self._release(slot, number)
            self._observe(time.monotonic() - started)
            self._grow()
            if self.shared is not None and not self._slowing():
                await self.shared.answered()
            return result

    def _note_retry(self, e: ServiceError, attempt: int, delay: float) -> None:
        """Say that a service keeps failing, so a long retry is not silent."""
        now = time.monotonic()
        if attempt < NOTE_AFTER or now - self._last_note < NOTE_EVERY:
            return
        self._last_note = now
        what = f'answered {e.status}' if e.status else 'could not be reached'
        log.warning(
            '%s: the service %s %d times in a row; retrying (attempt %d of %d, next in %.0f s).',
            self.name,
            what,
            attempt,
            attempt + 1,
            self.max_retries + 1,
            delay,
        )

    def note_sending(self) -> None:
        """A call's request is leaving now (after work it did first, e.g. a ledger row).

        Nothing to do since the window grows on answers rather than on time; kept because
        the paid-call layer says it.
        """

    async def _acquire(self) -> tuple[int | None, int]:
        """Wait for room in the windows and the service's budget; the shared slot, the number.

        This process's window first, then the cluster's; a budget the service advertised
        (``_advised``) and a wait it asked for hold every new call.
        """
        async with self._cond:
            while True:
                now = time.monotonic()
                held = max(self._paused_until, self._budget_spent_until(now)) - now
                if held == math.inf:  # until an answer says when the budget resets
                    await self._cond.wait()
                    continue
                if held > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), held)
                    continue
                if self._in_flight < max(1, int(self.window)):
                    break
                await self._cond.wait()
            self._in_flight += 1
            self._starts += 1
            number = self._starts
            self._live.add(number)
            if self._allowance is not None:
                self._allowance -= 1
            self.stats.calls += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)
        if self.shared is not None:  # the cluster's schedule replaces this process's
            try:
                return await self.shared.acquire(), number
            except BaseException:
                await self._release(None, number)
                raise
        if self.requests_per_minute:
            interval = 60.0 / self.requests_per_minute
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + interval
            if start > now:
                await asyncio.sleep(start - now)
        return None, number

    async def _release(self, slot: int | None, number: int) -> None:
        async with self._cond:
            self._in_flight -= 1
            self._live.discard(number)
            self._cond.notify_all()
        if slot is not None and self.shared is not None:
            await self.shared.release(slot)

    def _advised(self, number: int, advice: Advice) -> None:
        """Call ``number``'s answer said what the service will still take (``limits.Advice``).

        Requests that left after it, and those still out that left before it, may not be
        counted in its ``remaining`` yet: they are taken off. Requests can reach the service
        in another order than they left, so within a period the lowest word wins (the
        service's count only grows); a word that would raise the allowance is passed over
        and its call counted against the next period. So the pool never sends more than
        the service said it would take.
        """
        now = time.monotonic()
        if advice.wait:
            self._paused_until = max(self._paused_until, now + min(advice.wait, 300.0))
        if advice.limit is not None:
            self._budget = advice.limit
        if advice.remaining is None:
            return
        if number < self._advice_from:  # sent before the budget reset: an older period's word
            self._passed_over += 1
            return
        uncounted = self._starts - number + sum(1 for n in self._live if n < number)
        reset = advice.reset if advice.reset is not None else RESET_UNSAID
        # The service's reset is at most ``reset`` after it counted this call, which is
        # before its answer came: from now is never early.
        until = now + reset
        candidate = advice.remaining - uncounted
        if self._allowance is not None and candidate > self._allowance:
            self._passed_over += 1
            if self._allowance_until == math.inf:
                self._allowance_until = until
            return
        fresh = self._allowance is None or self._allowance_until == math.inf
        self._allowance = candidate
        self._allowance_until = until if fresh else max(self._allowance_until, until)

    def _budget_spent_until(self, now: float) -> float:
        """Until when the advertised budget holds new calls (0: not; inf: until an answer).

        Once its period has reset the budget is whole again: the advertised limit (else
        nothing is known). When that new period ends only an answer can say (the service
        starts it when a request arrives): a spent budget then waits for the answers of the
        calls in flight, or, with none in flight, is forgotten.
        """
        if self._allowance is None:
            return 0.0
        if now >= self._allowance_until:
            if self._budget is None:
                self._allowance = None
                return 0.0
            # Calls still out may reach the service after its reset: they count in the new
            # period; so may answered calls that reached it out of order.
            taken = len(self._live) + self._passed_over
            self._allowance, self._allowance_until = self._budget - taken, math.inf
            self._passed_over = 0
            self._advice_from = self._starts + 1  # their answers may still speak of the old one
        if self._allowance > 0:
            return 0.0
        if self._allowance_until == math.inf and not self._in_flight:
            self._allowance = None  # no answer is coming to say when: nothing known
            return 0.0
        return self._allowance_until

    def _shrink(self, in_flight: int) -> None:
        new = max(1.0, min(self.window, float(in_flight)))
        if new < self.window:
            self.window = new
        self._successes_since_change = 0

    def _observe(self, latency: float) -> None:
        """Remember how fast answers come: the fastest seen, and a recent average."""
        self._fastest = latency if self._fastest is None else min(self._fastest, latency)
        self._recent = (
            latency
            if self._recent is None
            else LATENCY_WEIGHT * latency + (1 - LATENCY_WEIGHT) * self._recent
        )

    def _slowing(self) -> bool:
        """Whether answers have become much slower than the fastest (the service queues)."""
        if self._fastest is None or self._recent is None:
            return False
        return self._recent > LATENCY_RISE * max(self._fastest, 0.001)

    def _grow(self) -> None:
        """An answer came back: widen by one while starting, slowly after a 429."""
        if self.window >= self._ceiling or self._slowing():
            return
        if self._probing:  # slow start: one more call per answer, doubling per round trip
            shown = max(START_WINDOW, 2 * self._shown)  # no wider than the service has needed
            self.window = max(self.window, min(float(self._ceiling), self.window + 1, shown))
            return
        self._successes_since_change += 1
        if self._successes_since_change >= self._growth_rounds * self.window:
            self.window = min(float(self._ceiling), self.window + 1)
            self._successes_since_change = 0
            self._grown_since_refusal = True

    @staticmethod
    def _delay(attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, 300.0) + random.uniform(0, 0.1)
        backoff = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** (attempt - 1))
        return random.uniform(backoff / 2, backoff)


class PoolRegistry:
    """The pools of one process, by name; the first settings given for a name win."""

    def __init__(self) -> None:
        self._pools: dict[str, Pool] = {}
        self._shared: ClusterWindows | None = None
        self._cap: int | None = None

    def share(self, windows: ClusterWindows, *, cap: int | None = None) -> None:
        """Hold every pool's limits for the cluster through ``windows`` from now on.

        ``windows(name, max_concurrency, requests_per_minute)`` gives a pool's shared
        window; ``cap`` limits the calls of each pool in this process (``--concurrency``).
        Call it before the first pool is used.
        """
        self._shared, self._cap = windows, cap
        self._pools.clear()

    def get(
        self,
        name: str,
        *,
        max_concurrency: int | None = None,
        requests_per_minute: float | None = None,
        max_retries: int = 6,
        slow_start: bool = True,
    ) -> Pool:
        """The pool called ``name``, created on first use (call from the event loop).

        ``slow_start``: whether its calls cost money (then it starts at ``START_WINDOW`` and
        widens on answers); unpaid work starts at the ceiling.
        """
        pool = self._pools.get(name)
        if pool is None:
            shared = self._shared and self._shared(name, max_concurrency, requests_per_minute)
            pool = Pool(
                name,
                max_concurrency,
                requests_per_minute,
                max_retries,
                shared=shared,
                local_cap=self._cap,
                slow_start=slow_start,
            )
            self._pools[name] = pool
        return pool

    def __iter__(self) -> Iterator[Pool]:
        return iter(list(self._pools.values()))

    def __getitem__(self, name: str) -> Pool:
        return self._pools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._pools
