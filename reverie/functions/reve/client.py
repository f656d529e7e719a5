"""Async client for the Reve image API (contract: ``docs/reve-api.md``).

Configure it with ``REVE_API_KEY`` and, for a Reve-compatible server such as
``reverie reve-server``, ``REVE_API_URL`` (or ``[reve] api_key`` / ``base_url`` in
``~/.reverie/config.toml``); :func:`client_from_settings` reads them.

The client sends one request per call and never retries. Failures raise
:class:`~reverie.errors.ServiceError` with ``status``, ``code``, ``retry_after``,
``request_id`` and ``retryable`` set, so the resource pool can decide what to do.
The API key never appears in messages, reprs, logs or chained exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypedDict, Unpack

import httpx

from reverie.config import DEFAULT_REVE_URL, ProviderSettings
from reverie.errors import InvalidValueError, ServiceError
from reverie.functions.images.http import ACCEPT_ENCODING, Failure, json_object, read_capped
from reverie.functions.images.spread import SpreadClient, verify_for
from reverie.functions.reve.answers import (
    ReveResult,
    describe_body,
    parse_result,
    raise_for_error,
)
from reverie.functions.reve.errors import KEY_HINT
from reverie.functions.reve.validate import build_body

__all__ = [
    'DEFAULT_TIMEOUT',
    'OFFLOAD_BYTES',
    'ReveClient',
    'ReveResult',
    'client_from_settings',
    'encode_images',
]

logger = logging.getLogger('reverie.reve')

DEFAULT_TIMEOUT = httpx.Timeout(180.0, connect=10.0)
"""Connect 10 s; read, write and pool 180 s (Reve takes 15-30 s per image)."""

# Above this size, base64 and JSON work of a request runs in a thread so the event loop
# stays responsive.
OFFLOAD_BYTES = 256 * 1024
# An answer up to this size is parsed (JSON, base64) on the event loop: the work holds the GIL
# wherever it runs (about 7 ms for a 2 MB answer), and a hop to the default thread pool waited
# behind its threads (which may all wait for the database lock) before the answer was noted.
PARSE_INLINE_BYTES = 4 * 2**20

EFFECT_SOURCES = ('all', 'project', 'preset')


class ReveOptions(TypedDict, total=False):
    """The options every endpoint takes (None: the service's default)."""

    aspect_ratio: str | None
    version: str | None
    test_time_scaling: float | None
    postprocessing: list[dict[str, Any]] | None


class ReveClient:
    """Async client for one Reve-compatible service; one connection pool per client.

    Use it as ``async with ReveClient(key) as client: ...`` or call :meth:`aclose`.
    Create and use it inside one event loop.

    Args:
        api_key: the Reve API key (``papi.…``); sent only in the ``Authorization`` header.
        base_url: service root, default ``https://api.reve.com``.
        timeout: httpx timeout; default connect 10 s, read 180 s.
        max_connections: size of the connection pool.
        transport: an httpx transport, e.g. ``httpx.MockTransport`` in tests.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_REVE_URL,
        *,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = api_key.strip() if isinstance(api_key, str) else ''
        if not key:
            raise InvalidValueError(
                'Reve API key is empty: set REVE_API_KEY or [reve] api_key in '
                'REVERIE_HOME/config.toml.'
            )
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            raise InvalidValueError(
                'Reve API key contains characters an HTTP header cannot carry (non-ASCII, '
                f'whitespace or control characters). {KEY_HINT}'
            )
        if not isinstance(base_url, str) or not base_url.startswith(('http://', 'https://')):
            raise InvalidValueError(
                f'Reve base_url {base_url!r} is not an http(s) URL; set REVE_API_URL to e.g. '
                f'{DEFAULT_REVE_URL!r}.'
            )
        if max_connections < 1:
            raise InvalidValueError(f'max_connections must be at least 1, got {max_connections!r}.')
        self._api_key = key
        self._base_url = base_url.rstrip('/')
        base = self._base_url
        self._http = SpreadClient(
            lambda limits: httpx.AsyncClient(
                base_url=base,
                headers={
                    'Authorization': f'Bearer {key}',
                    'Accept': 'application/json',
                    'User-Agent': 'reverie',
                },
                timeout=timeout or DEFAULT_TIMEOUT,
                limits=limits,
                transport=transport,
                follow_redirects=False,
                verify=verify_for(base),
            ),
            max_connections,
        )

    @property
    def base_url(self) -> str:
        """The service root this client talks to."""
        return self._base_url

    def __repr__(self) -> str:
        return f"ReveClient(api_key='***', base_url={self._base_url!r})"

    async def __aenter__(self) -> ReveClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._http.aclose()

    async def create(self, prompt: str, **options: Unpack[ReveOptions]) -> ReveResult:
        """Generate an image from ``prompt`` (``POST /v1/image/create``)."""
        body = build_body(
            'create',
            prompt=prompt,
            **options,
        )
        return await self.generate('create', body)

    async def edit(
        self, image: bytes, edit_instruction: str, **options: Unpack[ReveOptions]
    ) -> ReveResult:
        """Edit ``image`` (file bytes) by ``edit_instruction`` (``POST /v1/image/edit``)."""
        (encoded,) = await encode_images('image', [image])
        body = build_body(
            'edit',
            edit_instruction=edit_instruction,
            reference_image=encoded,
            **options,
        )
        return await self.generate('edit', body)

    async def remix(
        self, prompt: str, images: Sequence[bytes], **options: Unpack[ReveOptions]
    ) -> ReveResult:
        """Blend 1-6 reference ``images`` by ``prompt`` (``POST /v1/image/remix``).

        ``<img>N</img>`` in the prompt refers to ``images[N]`` (0-based).
        """
        if isinstance(images, bytes | bytearray | memoryview | str):
            raise InvalidValueError(
                f'images must be a list of image file bytes, got one {type(images).__name__}; '
                'wrap it in a list.'
            )
        encoded = await encode_images('images', list(images))
        body = build_body(
            'remix',
            prompt=prompt,
            reference_images=encoded,
            **options,
        )
        return await self.generate('remix', body)

    async def balance(self) -> float:
        """Return the credits left on this key (``GET /api/misc/balance``)."""
        data, response = await self._get_json('balance', '/api/misc/balance', None)
        value = data.get('new_balance')
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._unexpected('balance', response, f"has no numeric 'new_balance' ({value!r})")
        return float(value)

    async def effects(self, source: str | None = None) -> list[dict[str, Any]]:
        """List effects usable in ``postprocessing`` (``GET /v1/image/effect``).

        Args:
            source: ``'all'``, ``'project'``, ``'preset'`` or None (the service's default).
        """
        if source is not None and source not in EFFECT_SOURCES:
            raise InvalidValueError(
                f'source {source!r} is not supported; use one of '
                f'{", ".join(map(repr, EFFECT_SOURCES))} or None.'
            )
        params = {'source': source} if source else None
        data, response = await self._get_json('list effects', '/v1/image/effect', params)
        effects = data.get('effects')
        if not isinstance(effects, list) or not all(isinstance(e, dict) for e in effects):
            raise self._unexpected('list effects', response, "has no 'effects' list of objects")
        return effects

    async def generate(self, op: str, body: dict[str, object]) -> ReveResult:
        """Send a checked request ``body`` to ``/v1/image/{op}`` (see ``validate.request_body``)."""
        # The encoded images dominate the body's size; dumping them is linear in it.
        if _images_size(body) > OFFLOAD_BYTES:
            content = await asyncio.to_thread(_dump_json, body)
        else:
            content = _dump_json(body)
        response = await self._send(op, 'POST', f'/v1/image/{op}', content=content, json_body=True)
        raise_for_error(self._fail(op), response)
        if len(response.content) > PARSE_INLINE_BYTES:
            return await asyncio.to_thread(parse_result, self._fail(op), response)
        return parse_result(self._fail(op), response)

    async def _get_json(
        self, op: str, path: str, params: dict[str, str] | None
    ) -> tuple[dict[str, Any], httpx.Response]:
        response = await self._send(op, 'GET', path, params=params)
        raise_for_error(self._fail(op), response)
        data = json_object(response.content)
        if data is None:
            raise self._unexpected(
                op, response, f'is not a JSON object ({describe_body(response)})'
            )
        return data, response

    def _fail(self, op: str) -> Failure:
        """Builds the errors of operation ``op``, the key scrubbed from them."""
        return Failure('Reve', op, self._api_key)

    def _unexpected(self, op: str, response: httpx.Response, what: str) -> ServiceError:
        """The error for a successful answer that does not follow the contract."""
        return self._fail(op)(
            f'the answer {what}. Check that REVE_API_URL points at a Reve-compatible server.',
            status=response.status_code,
            request_id=response.headers.get('X-Reve-Request-Id'),
        )

    async def _send(
        self,
        op: str,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        json_body: bool = False,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {'Accept-Encoding': ACCEPT_ENCODING}
        if json_body:
            headers['Content-Type'] = 'application/json'
        start = time.monotonic()
        failure: ServiceError | None = None
        status: int | None = None  # of an answer refused while it was read
        try:
            async with self._http.stream(
                method, path, content=content, params=params, headers=headers
            ) as streamed:  # read under the caps on size, wire and inflated
                status = streamed.status_code
                response = await read_capped(streamed)
        except ValueError as e:  # BodyTooLarge, or an encoding not asked for
            failure = self._fail(op)(
                f'the answer from {self._base_url!r} was refused: {e} (the limit for one '
                f'answer).{" The request may have been charged." if method == "POST" else ""}',
                maybe_charged=method == 'POST',
                status=status,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            # Nothing reached the service: calling again is safe and costs nothing.
            failure = self._fail(op)(
                f'could not reach {self._base_url!r} ({type(e).__name__}: {e}). Check '
                'REVE_API_URL and the network; retrying may help.',
                retryable=True,
            )
        except (httpx.WriteError, httpx.WriteTimeout) as e:
            # The request was not fully sent, so the service cannot have answered it.
            failure = self._fail(op)(
                f'the request to {self._base_url!r} could not be sent ({type(e).__name__}). '
                'Retrying may help.',
                retryable=True,
            )
        except httpx.TimeoutException as e:
            # Paid-call layer: the request left and no answer came; it may have been charged.
            failure = self._fail(op)(
                f'no answer from {self._base_url!r} in time ({type(e).__name__} after '
                f'{time.monotonic() - start:.1f} s). The request may have been charged.',
                maybe_charged=True,
            )
        except httpx.RequestError as e:
            failure = self._fail(op)(
                f'the connection to {self._base_url!r} broke after the request was sent '
                f'({type(e).__name__}: {e}). The request may have been charged.',
                maybe_charged=True,
            )
        elapsed = time.monotonic() - start
        # Raised outside the except blocks so no httpx exception (whose request carries
        # the Authorization header) is chained as __cause__ or __context__.
        if failure is not None:
            logger.debug('reve %s: transport failure after %.2f s: %s', op, elapsed, failure)
            raise failure
        logger.debug(
            'reve %s: HTTP %d, request id %s, %.2f s, %d bytes',
            op,
            response.status_code,
            response.headers.get('X-Reve-Request-Id'),
            elapsed,
            len(response.content),
        )
        return response


def _images_size(body: dict[str, object]) -> int:
    images = body.get('reference_images')
    if not isinstance(images, list):
        images = [body.get('reference_image')]
    return sum(len(image) for image in images if isinstance(image, str))


def _dump_json(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()


async def encode_images(arg: str, images: list[bytes]) -> list[str]:
    """Base64-encode image file bytes, in a thread when they are large."""
    for i, image in enumerate(images):
        if not isinstance(image, bytes | bytearray | memoryview) or not len(image):
            where = arg if arg == 'image' else f'{arg}[{i}]'
            kind = type(image).__name__
            got = f'empty {kind}' if isinstance(image, bytes | bytearray | memoryview) else kind
            raise InvalidValueError(
                f'{where} must be non-empty image file bytes (PNG, JPEG or WebP), got {got}. '
                "Read the file with open(path, 'rb').read()."
            )
    if sum(len(image) for image in images) > OFFLOAD_BYTES:
        return await asyncio.to_thread(_b64_all, images)
    return _b64_all(images)


def _b64_all(images: list[bytes]) -> list[str]:
    return [base64.b64encode(image).decode('ascii') for image in images]


def client_from_settings(settings: ProviderSettings) -> ReveClient:
    """Build a client from ``settings`` (``REVE_API_KEY``, ``REVE_API_URL``, config file)."""
    if not settings.api_key:
        raise InvalidValueError(
            f'Reve API key not found: set REVE_API_KEY or [reve] api_key in {settings.config_file}.'
        )
    return ReveClient(
        settings.api_key,
        settings.base_url,
        timeout=httpx.Timeout(settings.timeout, connect=min(10.0, settings.timeout)),
    )
