"""How a failed Reve answer becomes a message: what happened and what to do next.

Also reads how long the service asked us to wait (``Retry-After`` seconds or HTTP-date,
else the body's ``params.retry_after`` timestamp).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_CODE = 'PARTNER_API_TOKEN_RATE_LIMIT_EXCEEDED'
CLOSED_CODE = 'PARTNER_API_CLOSED'
CLOSED_HINT = (
    'Reve closed its public API on 2026-08-14. Point REVE_API_URL (or [reve] base_url in '
    'REVERIE_HOME/config.toml) at a Reve-compatible server, e.g. run `reverie reve-server`.'
)
KEY_HINT = 'Check REVE_API_KEY or [reve] api_key in REVERIE_HOME/config.toml.'


def explain(
    status: int,
    code: str | None,
    said: str,
    params: dict[str, Any],
    retry_after: float | None,
    response: httpx.Response,
) -> str:
    """Turn a failed answer into what happened and what to do next."""
    if code == CLOSED_CODE:
        return CLOSED_HINT
    if status in (401, 403):
        return f'the API key was rejected ({said}). {KEY_HINT}'
    if status == 402:
        requested = params.get('requested_amount')
        available = params.get('available_amount')
        amounts = (
            f' (requested {requested} credits, {available} available)'
            if requested is not None or available is not None
            else ''
        )
        return (
            f'the credit budget is exhausted{amounts}: {said}. Add credits to the Reve account, '
            'use another key, or lower test_time_scaling.'
        )
    if status == 429 or code == RATE_LIMIT_CODE:
        wait = f'retry after {retry_after:.1f} s' if retry_after is not None else 'retry later'
        return f'rate limited ({said}); {wait}, or lower [reve] max_concurrency.'
    if status == 422:
        return (
            f'the service could not read the inputs ({said}). Check that each image is a '
            'valid PNG, JPEG or WebP file.'
        )
    if status == 400:
        return f'the request was rejected ({said}{_params_text(params)}). Fix the argument named.'
    if status == 404:
        return (
            f'the endpoint was not found ({said}). Check that REVE_API_URL points at a '
            'Reve-compatible server.'
        )
    if 300 <= status < 400:
        location = response.headers.get('Location')
        return f'the server redirected to {location!r}. Set REVE_API_URL to the final URL.'
    if status in RETRYABLE_STATUSES:
        return f'the service had a temporary failure ({said}); retrying may help.'
    if 200 <= status < 300:
        return f'the answer carries an error code ({said}{_params_text(params)}).'
    return f'unexpected answer ({said}{_params_text(params)}).'


def _params_text(params: dict[str, Any]) -> str:
    if not params:
        return ''
    return '; ' + ', '.join(f'{k}: {v}' for k, v in params.items() if k != 'retry_after')


def retry_after_seconds(header: str | None, param: object) -> float | None:
    """Seconds to wait: ``Retry-After`` (seconds or HTTP-date), else ``params.retry_after``."""
    now = datetime.now(UTC)
    if header:
        value = header.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
    if isinstance(param, int | float) and not isinstance(param, bool):
        return max(0.0, float(param))
    if isinstance(param, str) and param.strip():
        try:
            when = datetime.fromisoformat(param.strip())
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return None
