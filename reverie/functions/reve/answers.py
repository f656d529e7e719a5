"""Reading the Reve service's answers: a failure's ``ServiceError``, a generation's result.

Every error is built by a ``Failure`` of the operation (it names the operation and scrubs
the API key from anything the server echoed back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

from reverie.errors import ContentViolationError, ServiceError
from reverie.functions.images.http import Failure, b64decode, json_object
from reverie.functions.reve.errors import (
    CLOSED_CODE,
    RATE_LIMIT_CODE,
    RETRYABLE_STATUSES,
    explain,
    retry_after_seconds,
)


@dataclass(frozen=True)
class ReveResult:
    """One generated image and its metadata.

    Attributes:
        image: PNG file bytes exactly as received (decoded from base64, never re-encoded).
        version: the resolved dated model version, e.g. ``reve-create@20250915``.
        request_id: the service's request id, for support.
        credits_used: credits this call cost.
        credits_remaining: credits left, when the service said.
    """

    image: bytes
    version: str
    request_id: str
    credits_used: int
    credits_remaining: int | None
    credits_known: bool = True  # False: the answer's figure was missing or malformed

    def __repr__(self) -> str:
        return (
            f'ReveResult(image=<{len(self.image)} bytes>, version={self.version!r}, '
            f'request_id={self.request_id!r}, credits_used={self.credits_used}, '
            f'credits_remaining={self.credits_remaining})'
        )


def raise_for_error(fail: Failure, response: httpx.Response) -> None:
    """Raise the ServiceError a non-2xx answer, or a 2xx carrying an error code, means."""
    status = response.status_code
    if 200 <= status < 300 and not response.headers.get('X-Reve-Error-Code'):
        return
    body = (json_object(response.content) if _looks_like_json(response) else None) or {}
    if 200 <= status < 300 and (
        _is_true(body.get('content_violation'))
        or _is_true(response.headers.get('X-Reve-Content-Violation'))
    ):
        return  # parse_result raises ContentViolationError, which is never retried
    raise failure(fail, response, body)


def failure(fail: Failure, response: httpx.Response, body: dict[str, Any]) -> ServiceError:
    """The ServiceError for a failed answer, from its status, headers and JSON body."""
    status = response.status_code
    header_code = response.headers.get('X-Reve-Error-Code') or None
    # Some servers nest the error object or send a plain "error" string.
    error = body.get('error')
    if isinstance(error, dict):
        body = {**error, **body}
        error = None
    code = _str_or_none(body.get('error_code')) or header_code
    message = _str_or_none(body.get('message')) or _str_or_none(error)
    params: dict[str, Any] = body['params'] if isinstance(body.get('params'), dict) else {}
    request_id = response.headers.get('X-Reve-Request-Id') or _str_or_none(body.get('request_id'))
    retry_after = retry_after_seconds(
        response.headers.get('Retry-After'), params.get('retry_after')
    )
    retryable = status in RETRYABLE_STATUSES and code != CLOSED_CODE
    if 200 <= status < 300:
        retryable = code == RATE_LIMIT_CODE
    said = f'{code}: {message}' if code and message else code or message
    if said is None:
        said = describe_body(response)
    return fail(
        explain(status, code, said, params, retry_after, response),
        status=status,
        code=code,
        retry_after=retry_after,
        request_id=request_id,
        retryable=retryable,
        stops_run=status == 402,  # credits exhausted: no call can succeed
    )


def parse_result(fail: Failure, response: httpx.Response) -> ReveResult:
    """Read a 2xx generation answer: JSON with base64 PNG, or raw image bytes."""
    headers = response.headers
    status = response.status_code
    request_id = headers.get('X-Reve-Request-Id')
    content_type = headers.get('Content-Type', '').split(';')[0].strip().lower()
    data: dict[str, Any] = {}
    image: bytes | None = None
    if content_type.startswith('image/'):
        image = response.content
    else:
        parsed = json_object(response.content)
        if parsed is None:
            raise fail(
                f'the answer is not JSON ({describe_body(response)}). Check that '
                'REVE_API_URL points at a Reve-compatible server.',
                status=status,
                request_id=request_id,
                maybe_charged=True,
            )
        data = parsed
    request_id = request_id or _str_or_none(data.get('request_id'))
    if _is_true(data.get('content_violation')) or _is_true(headers.get('X-Reve-Content-Violation')):
        raise fail(
            'the service flagged the content as a violation. Change the prompt or images; '
            'retrying the same request will not help.',
            status=status,
            code=_str_or_none(data.get('error_code')) or headers.get('X-Reve-Error-Code'),
            request_id=request_id,
            cls=ContentViolationError,
        )
    if _str_or_none(data.get('error_code')):
        raise failure(fail, response, data)
    if image is None:
        image = b64decode(data.get('image'))
    if not image:
        raise fail(
            "the answer has no image, or its 'image' is not valid base64. Check that "
            'REVE_API_URL points at a Reve-compatible server.',
            status=status,
            request_id=request_id,
            maybe_charged=True,
        )
    credits_used = _int_or_none(data.get('credits_used'), headers.get('X-Reve-Credits-Used'))
    return ReveResult(
        image=image,
        version=_str_or_none(data.get('version')) or headers.get('X-Reve-Version') or '',
        request_id=request_id or '',
        credits_used=credits_used or 0,
        credits_known=credits_used is not None,
        credits_remaining=_int_or_none(
            data.get('credits_remaining'), headers.get('X-Reve-Credits-Remaining')
        ),
    )


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == 'true')


def _looks_like_json(response: httpx.Response) -> bool:
    content_type = response.headers.get('Content-Type', '').lower()
    return not content_type.startswith('image/') and bool(response.content)


def describe_body(response: httpx.Response) -> str:
    content_type = response.headers.get('Content-Type') or 'no content type'
    size = len(response.content)
    if content_type.startswith('text/') and size:
        snippet = ' '.join(response.text.split())[:120]
        return f'{content_type}, {size} bytes: {snippet!r}'
    return f'{content_type}, {size} bytes'


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(*values: object) -> int | None:
    """The first value that is a finite number >= 0 (``1e400``, ``-3``, ``'x'`` are not)."""
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        try:
            number = float(str(value))
        except ValueError:
            continue
        if math.isfinite(number) and number >= 0:
            return int(number)
    return None
