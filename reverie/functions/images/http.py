"""HTTP plumbing shared by the hosted providers: one attempt, failures as ``ServiceError``.

Transport failures say whether the request may have been charged: a failure before the
request left (refused connection, connect timeout) was not; one after it left (read
timeout, connection reset before the answer) may have been (``maybe_charged``).

Hard limits on whatever a server sends: each request has a total deadline (the provider's
``timeout`` setting covers connect, sending and the whole answer, not one read), and each
answer is read as it streams under ``MAX_ANSWER_BYTES`` on the wire and
``MAX_INFLATED_BYTES`` once its ``Content-Encoding`` is undone. An answer past a limit is
treated like a malformed one: it may have been charged. Errors are
raised outside ``except`` blocks, so no httpx exception (whose request carries the key)
is chained to them, and every message is scrubbed of the key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib.util
import io
import json
import re
import sys
import tempfile
import weakref
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Unpack

import httpcore
import httpx
import PIL.Image

from reverie.config import ProviderSettings
from reverie.errors import InvalidValueError, ServiceError, ServiceErrorFacts
from reverie.functions import limits
from reverie.functions.images.spread import SpreadClient, verify_for
from reverie.store.images import BodyTooLarge, CappedBody

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_ANSWER_BYTES = 256 * 2**20  # on the wire: a 4K PNG in base64 JSON is about 40 MB
MAX_INFLATED_BYTES = 256 * 2**20  # once gzip/deflate is undone
SPOOL_BYTES = 8 * 2**20  # an answer past this size streams to a temporary file
ACCEPT_ENCODING = 'gzip, deflate'  # what ``read_capped`` can inflate under its cap


def _mark_sniffio_absent() -> None:
    """Make httpcore's per-request look for ``sniffio`` cheap when it is not installed.

    httpcore imports ``sniffio`` each time it sets up a lock or semaphore (several times per
    request); without it each is a failed import that searches ``sys.path`` afresh, a stat
    per entry. Each stat lets the GIL go, and under CPU load the event loop then waits for
    it again behind busy threads, so the answers of every call in flight are read late.
    Marked absent once here, the import fails at once (the same outcome, no search).
    """
    if 'sniffio' not in sys.modules and importlib.util.find_spec('sniffio') is None:
        sys.modules['sniffio'] = None  # type: ignore[assignment]


_mark_sniffio_absent()

READ_BYTES = 2**20
"""The most httpcore takes off a connection per read (its default: 64 KiB).

Each read is a trip round the event loop; under CPU load a trip can take tens of
milliseconds: read 64 KiB at a time, a 0.3 MB answer took 5 of them and a 2 MB one 32 (up
to 0.53 s from headers to last byte with a busy process beside it: docs/reliability.md). A read
still returns only what the socket had (asyncio reads at most 256 KiB at once), so memory
does not grow.
"""
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = max(
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES, READ_BYTES
)

_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, float], SpreadClient]
] = weakref.WeakKeyDictionary()
_DURATION = re.compile(r'(\d+(?:\.\d+)?)(ms|h|m|s)')
_UNIT_SECONDS = {'ms': 0.001, 's': 1.0, 'm': 60.0, 'h': 3600.0}


def http_client(settings: ProviderSettings) -> SpreadClient:
    """One set of connection pools per event loop and service (the key travels per request)."""
    if not settings.base_url.startswith(('http://', 'https://')):
        raise InvalidValueError(
            f'{settings.name} base URL {settings.base_url!r} is not an http(s) URL; fix '
            f'[{settings.name}] base_url or its environment variable (see docs/providers.md).'
        )
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    key = (settings.base_url, settings.timeout)
    client = per_loop.get(key)
    if client is None or client.is_closed:
        client = SpreadClient(
            lambda limits: httpx.AsyncClient(
                timeout=httpx.Timeout(settings.timeout, connect=min(10.0, settings.timeout)),
                limits=limits,
                follow_redirects=False,
                verify=verify_for(settings.base_url),
            ),
            max_connections=64,
        )
        per_loop[key] = client
    return client


def require_key(settings: ProviderSettings, label: str) -> str:
    """The API key, or an error naming where to set it."""
    key = (settings.api_key or '').strip()
    if not key:
        raise InvalidValueError(
            f'{label} API key not found: set {settings.key_variable} in {settings.config_file}.'
        )
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise InvalidValueError(
            f'{label} API key contains characters an HTTP header cannot carry; check '
            f'{settings.key_variable}.'
        )
    return key


class Failure:
    """Builds the ``ServiceError`` of one provider operation, scrubbed of the key."""

    def __init__(self, label: str, op: str, key: str) -> None:
        self.label = label
        self.op = op
        self._key = key

    def __call__(
        self,
        detail: str,
        *,
        cls: type[ServiceError] = ServiceError,
        **facts: Unpack[ServiceErrorFacts],
    ) -> ServiceError:
        status, code, request_id = facts.get('status'), facts.get('code'), facts.get('request_id')
        where = [f'HTTP {status}' if status is not None else 'no HTTP answer']
        if request_id:
            where.append(f'request id {request_id!r}')
            facts['request_id'] = self.scrub(request_id)
        if code is not None:
            facts['code'] = self.scrub(code)
        message = f'{self.label} {self.op} failed ({", ".join(where)}): {detail}'
        return cls(self.scrub(message), **facts)

    def scrub(self, text: str) -> str:
        """``text`` with the key replaced (a server may echo it back)."""
        return text.replace(self._key, '***') if self._key else text


async def send(
    fail: Failure,
    client: SpreadClient,
    method: str,
    url: str,
    *,
    paid: bool,
    total: float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request and read its whole answer under the limits; failures as ``ServiceError``.

    Args:
        fail: builds the error for this operation.
        client: the connection pools.
        method: HTTP method.
        url: absolute URL.
        paid: whether the provider charges for this request once it arrives (a submission,
            not a poll or a download): then a failure after sending is ``maybe_charged``.
        total: seconds for the whole exchange; default the client's timeout (the provider's
            ``timeout`` setting).
        **kwargs: passed to ``httpx.AsyncClient.stream`` (headers, json, content, files...).
    """
    limit = total if total is not None else client.timeout.read
    headers = {**(kwargs.pop('headers', None) or {}), 'Accept-Encoding': ACCEPT_ENCODING}
    failure: ServiceError | None = None
    response: httpx.Response | None = None
    status: int | None = None  # of an answer refused while it was read
    charged = 'It may have been charged. ' if paid else ''
    try:
        async with asyncio.timeout(limit):
            async with client.stream(method, url, headers=headers, **kwargs) as streamed:
                status = streamed.status_code
                response = await read_capped(streamed)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
        failure = fail(
            f'could not reach {_origin(url)!r} ({type(e).__name__}); the request was not '
            'sent. Check the base URL setting and the network; retrying may help.',
            retryable=True,
        )
    except TimeoutError:
        failure = fail(
            f'no complete answer from {_origin(url)!r} within {limit:g} s (the total '
            f'deadline: [provider] timeout). {charged}Retrying may help.',
            retryable=True,
            maybe_charged=paid,
        )
    except BodyTooLarge as e:
        failure = fail(
            f'the answer from {_origin(url)!r} was refused: {e} (the limit for one answer). '
            f'{charged}Check the base URL setting.',
            maybe_charged=paid,
            status=status,
        )
    except ValueError as e:  # an encoding we did not ask for
        failure = fail(
            f'the answer from {_origin(url)!r} was refused: {e}.', maybe_charged=paid, status=status
        )
    except httpx.TransportError as e:
        # Read timeouts, resets after sending: the provider may have done (and billed) it.
        failure = fail(
            f'the connection to {_origin(url)!r} failed after the request was sent '
            f'({type(e).__name__}). {charged}Retrying may help.',
            retryable=True,
            maybe_charged=paid,
        )
    if failure is not None:
        raise failure
    assert response is not None
    said = advice(response.headers)
    if said is not None:
        limits.report(said)  # the pool holds new calls before the service has to refuse
    return response


async def read_capped(streamed: httpx.Response) -> httpx.Response:
    """``streamed``'s body read under the caps, as an ordinary (already read) response.

    Raises:
        BodyTooLarge: past ``MAX_ANSWER_BYTES`` on the wire or ``MAX_INFLATED_BYTES`` inflated.
        ValueError: a content encoding other than gzip or deflate.
    """
    if streamed.is_stream_consumed:  # read already (a transport that answers in memory)
        if len(streamed.content) > MAX_INFLATED_BYTES:
            raise BodyTooLarge(f'more than {MAX_INFLATED_BYTES} bytes once inflated')
        return streamed
    declared = streamed.headers.get('content-length', '')
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise BodyTooLarge(f'{declared} bytes announced, more than {MAX_ANSWER_BYTES}')
    # Streamed to a spooled file under the caps: a refused answer never gathers in memory,
    # and an accepted one is read back once (joining its pieces held it twice).
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool:
        body = CappedBody(
            streamed.headers.get('content-encoding'),
            max_wire=MAX_ANSWER_BYTES,
            max_inflated=MAX_INFLATED_BYTES,
            sink=spool,
        )
        async for chunk in streamed.aiter_raw():
            body.feed(chunk)
        body.finish()
        spool.seek(0)
        content = spool.read()
    headers = [
        (k, v)
        for k, v in streamed.headers.multi_items()
        if k.lower() not in ('content-encoding', 'content-length', 'transfer-encoding')
    ]
    return httpx.Response(
        streamed.status_code, headers=headers, content=content, request=streamed.request
    )


def _origin(url: str) -> str:
    u = httpx.URL(url)
    return f'{u.scheme}://{u.netloc.decode()}'


def json_object(content: bytes) -> dict[str, Any] | None:
    """``content`` parsed as a JSON object, or None."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def b64decode(value: object) -> bytes | None:
    """Strict base64 decoding; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def b64encode(data: bytes) -> str:
    """Base64 text of ``data``."""
    return base64.b64encode(data).decode('ascii')


def describe(response: httpx.Response) -> str:
    """A short description of an unexpected body (never the whole body)."""
    content_type = response.headers.get('Content-Type') or 'no content type'
    size = len(response.content)
    if content_type.startswith(('text/', 'application/json')) and size:
        return f'{content_type}, {size} bytes: {" ".join(response.text.split())[:120]!r}'
    return f'{content_type}, {size} bytes'


def seconds(value: str | None) -> float | None:
    """Seconds in a ``Retry-After`` value (seconds or HTTP-date) or a duration like ``6m0s``.

    Examples:
        >>> seconds('12'), seconds('1.5s'), seconds('6m0s'), seconds('20ms'), seconds('soon')
        (12.0, 1.5, 360.0, 0.02, None)
    """
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if parts and ''.join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_after(headers: httpx.Headers) -> float | None:
    """A server's wait hint: ``retry-after-ms``, ``retry-after``, then an exhausted limit's reset.

    Examples:
        >>> retry_after(httpx.Headers({'retry-after-ms': '1500', 'retry-after': '9'}))
        1.5
        >>> retry_after(httpx.Headers({'x-ratelimit-remaining-requests': '0',
        ...                            'x-ratelimit-reset-requests': '6m0s'}))
        360.0
    """
    ms = seconds(headers.get('retry-after-ms'))
    if ms is not None:
        return ms / 1000
    wait = seconds(headers.get('retry-after'))
    if wait is not None:
        return wait
    for kind in ('requests', 'tokens'):
        if headers.get(f'x-ratelimit-remaining-{kind}') == '0':
            reset = seconds(headers.get(f'x-ratelimit-reset-{kind}'))
            if reset is not None:
                return reset
    return None


def advice(headers: httpx.Headers) -> limits.Advice | None:
    """What an answer's headers say about the request budget (None: nothing).

    ``x-ratelimit-remaining-requests`` / ``-limit-requests`` / ``-reset-requests`` (OpenAI's
    names), and a ``retry-after-ms`` or ``retry-after`` on any answer (every new call waits).

    Examples:
        >>> advice(httpx.Headers({'x-ratelimit-remaining-requests': '3',
        ...                       'x-ratelimit-limit-requests': '5',
        ...                       'x-ratelimit-reset-requests': '1.5s'}))
        Advice(remaining=3, limit=5, reset=1.5, wait=None)
        >>> advice(httpx.Headers({'content-type': 'image/png'})) is None
        True
    """
    remaining = _count(headers.get('x-ratelimit-remaining-requests'))
    limit = _count(headers.get('x-ratelimit-limit-requests'))
    reset = seconds(headers.get('x-ratelimit-reset-requests'))
    ms = seconds(headers.get('retry-after-ms'))
    wait = ms / 1000 if ms is not None else seconds(headers.get('retry-after'))
    if remaining is None and limit is None and wait is None:
        return None
    return limits.Advice(remaining, limit, reset, wait)


def _count(value: str | None) -> int | None:
    text = (value or '').strip()
    return int(text) if text.isdigit() else None


def is_image(data: bytes) -> bool:
    """Whether ``data`` is an image file PIL can read completely."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            img.verify()
    except Exception:
        return False
    return True


def image_subtype(data: bytes) -> str:
    """``'png'``, ``'webp'`` or ``'jpeg'``: the format of an image we send, by its signature."""
    if data.startswith(b'\x89PNG'):
        return 'png'
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'webp'
    return 'jpeg'
