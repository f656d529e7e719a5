"""Errors reverie raises.

```
Error                                   everything reverie raises
  NotFoundError(Error, LookupError)     dir, table, column, function
  AlreadyExistsError(Error)
  InvalidValueError(Error, ValueError)  bad argument or cell value, caught before any write
  TypeMismatchError(Error, TypeError)   expression or column types do not fit
  ServiceError(Error)                   a paid service or download failed; .status, .retry_after
    ContentViolationError               the service refused the content; never retried
  ExecutionError(Error)                 a computed cell failed under on_error='abort'
    RunStoppedError                     the run stopped with cells pending (budget, storage,
                                        credits exhausted, Ctrl-C); nothing paid for is lost
```

Machine-readable facts live in attributes (``status``, ``retry_after``, ``code``,
``request_id``), never only in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, Unpack


class Error(Exception):
    """Root of every error reverie raises."""


class DatabaseUnavailableError(Error):
    """The database cannot be reached or refuses the connection (wrong URL, server down)."""


class NotFoundError(Error, LookupError):
    """A dir, table, column or function does not exist."""


class AlreadyExistsError(Error):
    """A dir, table or column of that name exists already."""


class InvalidValueError(Error, ValueError):
    """A bad argument or cell value; raised before anything is written."""


class TypeMismatchError(Error, TypeError):
    """Expression or column types do not fit."""


def check_keywords(where: str, given: Mapping[str, Any], allowed: type) -> None:
    """Refuse keyword arguments that ``allowed`` (a TypedDict of ``**kwargs``) does not name.

    ``Unpack[TypedDict]`` keywords are checked by mypy only; this keeps a typo from passing
    silently at run time.
    """
    unknown = sorted(set(given) - set(allowed.__annotations__))
    if unknown:
        names = ', '.join(sorted(allowed.__annotations__))
        raise TypeError(f'{where}() got unexpected keyword argument(s) {unknown}; it takes {names}')


class ServiceErrorFacts(TypedDict, total=False):
    """The keyword arguments of ``ServiceError`` (its attributes; unset: None or False)."""

    status: int | None
    code: str | None
    retry_after: float | None
    request_id: str | None
    retryable: bool
    maybe_charged: bool
    stops_run: bool


class ServiceError(Error):
    """An external service failed: any provider's API (image, text), or an HTTP download.

    Attributes:
        status: HTTP status, or None for transport failures (timeouts, refused connections).
        code: the service's error code, e.g. ``PARTNER_API_BUDGET_EXHAUSTED``.
        retry_after: seconds the service asked us to wait, if it said.
        request_id: the service's request id, for support.
        retryable: whether calling again may succeed (the contract says nothing was charged).
        maybe_charged: the request left and no usable answer came back (read timeout, reset
            after sending, malformed answer): the provider may have charged for it.
        stops_run: calling again cannot succeed for any cell (credits exhausted, invalid key,
            service closed): the run stops and leaves the remaining cells pending.
    """

    def __init__(self, message: str, **facts: Unpack[ServiceErrorFacts]) -> None:
        check_keywords('ServiceError', facts, ServiceErrorFacts)
        super().__init__(message)
        self.status = facts.get('status')
        self.code = facts.get('code')
        self.retry_after = facts.get('retry_after')
        self.request_id = facts.get('request_id')
        self.retryable = facts.get('retryable', False)
        self.maybe_charged = facts.get('maybe_charged', False)
        self.stops_run = facts.get('stops_run', False)


class ContentViolationError(ServiceError):
    """The service refused to produce the content; calling again will not help."""


class ExecutionError(Error):
    """A computed cell failed and ``on_error='abort'`` stopped the work.

    Everything computed before the failure is kept.
    """


class RunStoppedError(ExecutionError):
    """The run stopped before every cell was computed; the rest stay pending.

    Raised when the next paid call could cross the budget, when the database or the media
    folder cannot take results (locked, full, read-only), or when the service says no call
    can succeed (credits exhausted). Finished cells are kept and journalled answers finish
    their cells on the next run without paying again.

    Attributes:
        reason: ``'budget'``, ``'storage'`` or ``'service'``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
