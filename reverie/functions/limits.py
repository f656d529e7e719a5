"""What a service says about its limits on an answer, for the pool the call runs in.

A provider client that reads rate-limit headers on an answer (``x-ratelimit-remaining-requests``
and its kin, see ``functions/images/http.py``) hands them to ``report``; the pool running the
call (``exec/pools.py``) listens through ``listening`` and holds new calls before the service
has to refuse them. Outside a pool, a report goes nowhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    """A service's word on its request budget, read from one answer.

    Attributes:
        remaining: requests it will still take before ``reset`` (None: not said).
        limit: requests it takes per period (its budget once the period resets).
        reset: seconds until the budget is whole again.
        wait: seconds it asked every new request to wait (``retry-after`` on an answer).
    """

    remaining: int | None = None
    limit: int | None = None
    reset: float | None = None
    wait: float | None = None


Listener = Callable[[Advice], None]
_listener: ContextVar[Listener | None] = ContextVar('reverie_limit_listener', default=None)


def report(advice: Advice) -> None:
    """Give ``advice`` to the pool of the call running in this context, if any."""
    listener = _listener.get()
    if listener is not None:
        listener(advice)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the reports made by the code run inside to ``listener`` (one call of a pool)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
