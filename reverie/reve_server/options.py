"""Server options, request records and the contract's fixed vocabulary (see docs/reve-api.md).

Everything here is plain data: the enumerations, limits and prices of the Reve v1 image API,
the `ApiError` raised anywhere in the server to produce an error response, and the
`ServerOptions` / `RequestRecord` dataclasses of the public interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reverie.functions.reve.contract import (  # the contract's vocabulary, re-exported
    ASPECT_RATIOS as ASPECT_RATIOS,
)
from reverie.functions.reve.contract import (
    BASE_CREDITS as BASE_CREDITS,
)
from reverie.functions.reve.contract import (
    DEFAULT_CREATE_ASPECT_RATIO as DEFAULT_CREATE_ASPECT_RATIO,
)
from reverie.functions.reve.contract import (
    FAST_CREDITS as FAST_CREDITS,
)
from reverie.functions.reve.contract import (
    MAX_IMAGE_BYTES as MAX_IMAGE_BYTES,
)
from reverie.functions.reve.contract import (
    MAX_IMAGE_PIXELS as MAX_IMAGE_PIXELS,
)
from reverie.functions.reve.contract import (
    MAX_IMAGE_SIDE as MAX_IMAGE_SIDE,
)
from reverie.functions.reve.contract import (
    MAX_PROMPT_CHARS as MAX_PROMPT_CHARS,
)
from reverie.functions.reve.contract import (
    MAX_REMIX_IMAGES as MAX_REMIX_IMAGES,
)
from reverie.functions.reve.contract import (
    MAX_REQUEST_IMAGE_BYTES as MAX_REQUEST_IMAGE_BYTES,
)
from reverie.functions.reve.contract import (
    MAX_REQUEST_PIXELS as MAX_REQUEST_PIXELS,
)
from reverie.functions.reve.contract import (
    TEST_TIME_SCALING_RANGE as TEST_TIME_SCALING_RANGE,
)
from reverie.functions.reve.contract import (
    VERSIONS as VERSIONS,
)
from reverie.reve_server.faults import ANSWER_FAULTS

if TYPE_CHECKING:
    from reverie.reve_server.backend import Backend

# The server's own figures: the contract only says these "add more"; a flat surcharge.
UPSCALE_CREDITS = 10
REMOVE_BACKGROUND_CREDITS = 10
# Largest request body read: six maximal images in base64 plus the rest of the JSON.
MAX_BODY_BYTES = 4 * (MAX_REQUEST_IMAGE_BYTES // 3) + 8 * 1024 * 1024

CLOSED_STATUS = 410
BUDGET_ID = 'local-budget'


class ApiError(Exception):
    """An error answer: HTTP status, `error_code`, message, `params` (§6) and extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        params: dict[str, object] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.params: dict[str, object] = params or {}
        self.headers: dict[str, str] = headers or {}


def invalid(field: str, reason: str) -> ApiError:
    """Build the 400 `INVALID_PARAMETER_VALUE` error for one field."""
    return ApiError(
        400,
        'INVALID_PARAMETER_VALUE',
        'One of the request parameters has an invalid value.',
        {field: reason},
    )


@dataclass(frozen=True)
class ServerOptions:
    """Settings of the local Reve-compatible server.

    Args:
        host: Interface to bind.
        port: TCP port; 0 picks a free ephemeral port.
        latency: Seconds each standard create/edit/remix call takes, drawing included.
        fast_latency: Seconds for `-fast` versions; None means `latency / 2`.
        max_concurrency: Image calls in flight beyond this get 429; None means no limit.
        retry_after: Seconds sent in `Retry-After` on 429.
        api_keys: Accepted keys; None accepts any non-empty Bearer token.
        credits: Starting credit budget.
        closed: Answer every request with `PARTNER_API_CLOSED` (status 410).
        fail_500_rate: Probability that an image call fails with 500.
        rate_429_rate: Probability that an image call is rejected with 429.
        stall_rate: Probability that an image call stalls `stall_seconds` first.
        stall_seconds: Length of an injected stall.
        seed: Seed of the fault-injection random generator.
        megapixels: Output size of the default backend, in units of 1024 x 1024 pixels.
        request_log: File that receives one JSON line per image request (written before
            the answer leaves, so a charged call is logged whatever happens to the client).
        sent_log: File that receives ``{"request_id", "t_sent"}`` once a successful image
            answer's last byte was handed to the connection (never for one cut short).
        backend: Image backend; None means `DeterministicBackend(megapixels)`.
        answer_fault: A fault injected after charging (see `faults.py`): `'drip'`,
            `'reset'`, `'truncated'`, `'broken_zlib'` or `'oversized_header'`; None for none.
        raw_answers: Answer image calls with raw PNG bytes whatever `Accept` says.
        answer_fault_rate: Probability that an image call gets `answer_fault`.
        drip_interval: Seconds between the bytes of a dripped answer.
        reported_credits: A JSON literal sent as `credits_used` instead of the real price
            (e.g. `'1e400'`, `'-3'`, `'"x"'`); the real price is still charged and logged.
    """

    host: str = '127.0.0.1'
    port: int = 0
    latency: float = 0.0
    fast_latency: float | None = None
    max_concurrency: int | None = None
    retry_after: int = 1
    api_keys: frozenset[str] | None = field(default=None, repr=False)
    credits: int = 1_000_000
    closed: bool = False
    fail_500_rate: float = 0.0
    rate_429_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 10.0
    seed: int = 0
    megapixels: float = 1.0
    request_log: Path | None = None
    sent_log: Path | None = None
    backend: Backend | None = None
    answer_fault: str | None = None
    raw_answers: bool = False
    answer_fault_rate: float = 1.0
    drip_interval: float = 0.05
    reported_credits: str | None = None

    def __post_init__(self) -> None:
        for name in ('latency', 'stall_seconds'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f'ServerOptions.{name} must be >= 0, got {value!r}.')
        if self.fast_latency is not None and not self.fast_latency >= 0:
            raise ValueError(f'ServerOptions.fast_latency must be >= 0, got {self.fast_latency!r}.')
        if self.answer_fault is not None and self.answer_fault not in ANSWER_FAULTS:
            raise ValueError(
                f'ServerOptions.answer_fault must be one of {ANSWER_FAULTS} or None, '
                f'got {self.answer_fault!r}.'
            )
        for name in ('fail_500_rate', 'rate_429_rate', 'stall_rate', 'answer_fault_rate'):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'ServerOptions.{name} must be in [0, 1], got {value!r}.')
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(
                f'ServerOptions.max_concurrency must be >= 1 or None, got {self.max_concurrency!r}.'
            )
        if self.retry_after < 0:
            raise ValueError(f'ServerOptions.retry_after must be >= 0, got {self.retry_after!r}.')
        if not (math.isfinite(self.megapixels) and self.megapixels > 0):
            raise ValueError(f'ServerOptions.megapixels must be > 0, got {self.megapixels!r}.')
        if self.api_keys is not None and not isinstance(self.api_keys, frozenset):
            object.__setattr__(self, 'api_keys', frozenset(self.api_keys))

    def latency_for(self, version: str) -> float:
        """Return the simulated duration of a call with the resolved `version`."""
        if '-fast@' in version:
            return self.latency / 2 if self.fast_latency is None else self.fast_latency
        return self.latency


@dataclass(frozen=True)
class RequestRecord:
    """One image request as the server saw it (also one line of the request log)."""

    endpoint: str
    status: int
    error_code: str | None
    request_id: str
    prompt: str | None
    credits_used: int
    t_start: float
    t_end: float
