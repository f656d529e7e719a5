"""Google Gemini 3 image models behind the ``ImageProvider`` contract.

One call, ``POST /v1beta/models/{model}:generateContent`` with the key in
``x-goog-api-key``: the prompt as a ``text`` part, input images as ``inline_data`` parts
(up to 14), ``generationConfig.imageConfig`` for the aspect ratio and size. The image comes
back as an ``inlineData`` part of the first candidate; ``usageMetadata`` gives the tokens,
priced by ``prices.GEMINI``. For a remix each image is labelled ``Image N:`` in the parts
and ``<img>N</img>`` becomes ``image N+1``.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx

from reverie import types as ts
from reverie.config import Config
from reverie.errors import ContentViolationError, InvalidValueError, ServiceError
from reverie.functions.images import http, prices, refs
from reverie.functions.images.provider import ImageAnswer, ImageRequest, Price
from reverie.functions.text import TokenEndpoint

LABEL = 'Gemini'
MAX_IMAGES = 14
_RATIOS = ('1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9')
MODELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # ratios, sizes
    'gemini-3.1-flash-image': (
        (*_RATIOS, '1:4', '4:1', '1:8', '8:1'),
        ('512', '1K', '2K', '4K'),
    ),
    'gemini-3-pro-image': (_RATIOS, ('1K', '2K', '4K')),
}
FIELDS: dict[str, ts.ColumnType] = {  # the request fields the image models take
    'image_size': ts.String,
    'temperature': ts.Float,
    'seed': ts.Int,
    'safety_settings': ts.Json,
}
_BLOCKED = frozenset(
    {
        'SAFETY',
        'IMAGE_SAFETY',
        'PROHIBITED_CONTENT',
        'IMAGE_PROHIBITED_CONTENT',
        'BLOCKLIST',
        'SPII',
        'RECITATION',
        'IMAGE_RECITATION',
    }
)
_STOP_STATUSES = ('PERMISSION_DENIED', 'UNAUTHENTICATED', 'FAILED_PRECONDITION')
_RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo'
_QUOTA_FAILURE = 'type.googleapis.com/google.rpc.QuotaFailure'
# Billing words of a 429 (not "check your plan and billing details", which every 429 says).
_BILLING = re.compile(r'credits? (?:are|is|have been) (?:depleted|exhausted)|billing account', re.I)


class GeminiProvider:
    """One attempt per ``send``; never retries."""

    name = 'gemini'

    def check(self, request: ImageRequest) -> None:
        model = request.model
        ratios, sizes = MODELS.get(model, (_RATIOS, ('1K', '2K', '4K')))
        refs.check_prompt(request.prompt)
        refs.check_image_count(len(request.images), 0, MAX_IMAGES, model)
        refs.check_options(request.options, sorted(FIELDS), f'Gemini {model}')
        refs.check_aspect_ratio(request.aspect_ratio, ratios, f'Gemini {model}')
        size = request.options.get('image_size')
        if size is not None and size not in sizes:
            raise InvalidValueError(
                f'Gemini {model} image_size must be one of {", ".join(map(repr, sizes))}, '
                f'got {size!r}.'
            )

    def price(self, request: ImageRequest) -> Price:
        rates, note = prices.rates_for(prices.GEMINI, request.model)
        size = str(request.options.get('image_size') or '1K')
        out = rates.image_tokens.get(size, max(rates.image_tokens.values()))
        text = len(request.prompt) / 3
        images = len(request.images) * rates.input_image_tokens
        low = rates.usd(text_in=text, image_in=images, image_out=out)
        # Gemini 3 models think before drawing; thoughts are billed as text output.
        high = rates.usd(text_in=text, image_in=images, image_out=out, text_out=2000)
        return Price(low, high, 'usd', note + rates.source)

    async def send(self, request: ImageRequest, config: Config) -> ImageAnswer:
        settings = config.provider('gemini')
        key = http.require_key(settings, LABEL)
        fail = http.Failure(LABEL, 'generateContent', key)
        body = await asyncio.to_thread(_body, request)
        url = f'{settings.base_url}/v1beta/models/{request.model}:generateContent'
        response = await http.send(
            fail,
            http.http_client(settings),
            'POST',
            url,
            paid=True,
            headers={'x-goog-api-key': key, 'Content-Type': 'application/json'},
            content=body,
        )
        if response.status_code >= 300:
            raise _failure(fail, response)
        return await asyncio.to_thread(_answer, fail, request, response)


def _body(request: ImageRequest) -> bytes:
    parts: list[dict[str, Any]] = []
    for i, data in enumerate(request.images):
        if len(request.images) > 1:
            parts.append({'text': f'Image {i + 1}:'})
        parts.append(
            {
                'inline_data': {
                    'mime_type': f'image/{http.image_subtype(data)}',
                    'data': http.b64encode(data),
                }
            }
        )
    parts.append({'text': refs.translate_refs(request.prompt, refs.ordinal_name)})
    image_config: dict[str, Any] = {}
    if request.aspect_ratio:
        image_config['aspectRatio'] = request.aspect_ratio
    if request.options.get('image_size'):
        image_config['imageSize'] = request.options['image_size']
    generation: dict[str, Any] = {'responseModalities': ['IMAGE']}
    if image_config:
        generation['imageConfig'] = image_config
    for name in ('temperature', 'seed'):
        if request.options.get(name) is not None:
            generation[name] = request.options[name]
    body: dict[str, Any] = {
        'contents': [{'role': 'user', 'parts': parts}],
        'generationConfig': generation,
    }
    if request.options.get('safety_settings') is not None:
        body['safetySettings'] = request.options['safety_settings']
    return json.dumps(body).encode()


def retry_delay(error: dict[str, Any], headers: httpx.Headers) -> float | None:
    """``RetryInfo.retryDelay`` (e.g. ``'12s'``) in ``error.details``, else the wait headers."""
    details = error.get('details')
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get('@type') == _RETRY_INFO:
            delay = http.seconds(str(detail.get('retryDelay') or ''))
            if delay is not None:
                return delay
    return http.retry_after(headers)


def quota_used_up(error: dict[str, Any]) -> bool:
    """Whether a 429 ``RESOURCE_EXHAUSTED`` is for a quota that does not come back in minutes.

    A per-minute limit (``quotaId`` ``...PerMinute...``) is retried; a daily quota
    (``...PerDay...``), a tier with no quota at all (``quotaValue`` ``'0'``, the
    "limit: 0" of a project without billing) or depleted prepaid credits stop the run.

    Examples:
        >>> day = {'quotaId': 'GenerateRequestsPerDayPerProjectPerModel', 'quotaValue': '250'}
        >>> quota_used_up({'details': [{'@type': _QUOTA_FAILURE, 'violations': [day]}]})
        True
        >>> minute = {'quotaId': 'GenerateRequestsPerMinutePerProjectPerModel'}
        >>> quota_used_up({'details': [{'@type': _QUOTA_FAILURE, 'violations': [minute]}]})
        False
    """
    message = error.get('message')
    if isinstance(message, str) and _BILLING.search(message):
        return True
    details = error.get('details')
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict) or detail.get('@type') != _QUOTA_FAILURE:
            continue
        violations = detail.get('violations')
        for v in violations if isinstance(violations, list) else []:
            if not isinstance(v, dict):
                continue
            if 'PerDay' in str(v.get('quotaId') or '') or str(v.get('quotaValue')) == '0':
                return True
    return False


def _failure(fail: http.Failure, response: httpx.Response) -> ServiceError:
    status = response.status_code
    body = http.json_object(response.content) or {}
    error = body.get('error') if isinstance(body.get('error'), dict) else {}
    assert isinstance(error, dict)
    code = error.get('status') if isinstance(error.get('status'), str) else None
    said = error.get('message') if isinstance(error.get('message'), str) else None
    said = f'{code}: {said}' if code and said else said or code or http.describe(response)
    reasons = [d.get('reason') for d in error.get('details') or [] if isinstance(d, dict)]
    facts: dict[str, Any] = {'status': status, 'code': code}
    if status in (401, 402, 403) or code in _STOP_STATUSES or 'API_KEY_INVALID' in reasons:
        return fail(
            f'the key or project cannot make this call ({said}). Check GEMINI_API_KEY or '
            '[gemini] api_key, and billing for the project.',
            stops_run=True,
            **facts,
        )
    if status == 429 and quota_used_up(error):
        return fail(
            f"the project's quota or billing credits are used up ({said}); waiting will not "
            'help within this run. Add credits or raise the quota (ai.google.dev/gemini-api/'
            'docs/rate-limits), then run `reverie resume`.',
            stops_run=True,
            **facts,
        )
    if status in http.RETRYABLE_STATUSES:
        return fail(
            f'{"quota or rate limit reached" if status == 429 else "a temporary failure"} '
            f'({said}); retrying may help, or lower [gemini] max_concurrency.',
            retry_after=retry_delay(error, response.headers),
            retryable=True,
            **facts,
        )
    return fail(f'the request was refused ({said}). Fix the argument named.', **facts)


def _answer(fail: http.Failure, request: ImageRequest, response: httpx.Response) -> ImageAnswer:
    body = http.json_object(response.content) or {}
    request_id = body.get('responseId') if isinstance(body.get('responseId'), str) else None
    usage = body.get('usageMetadata') if isinstance(body.get('usageMetadata'), dict) else None
    feedback = body.get('promptFeedback') or {}
    if isinstance(feedback, dict) and feedback.get('blockReason'):
        raise fail(
            f'Gemini blocked the prompt ({feedback["blockReason"]}). Change the prompt or '
            'images; the same request will be blocked again.',
            status=response.status_code,
            code=str(feedback['blockReason']),
            request_id=request_id,
            cls=ContentViolationError,
        )
    candidates = body.get('candidates')
    candidate = candidates[0] if isinstance(candidates, list) and candidates else {}
    candidate = candidate if isinstance(candidate, dict) else {}
    image = _image_part(candidate)
    reason = candidate.get('finishReason')
    if image is None and reason in _BLOCKED:
        raise fail(
            f'Gemini stopped with finishReason {reason}: the output was refused. Change the '
            'prompt or images; the same request will be refused again.',
            status=response.status_code,
            code=str(reason),
            request_id=request_id,
            maybe_charged=True,
            cls=ContentViolationError,
        )
    if image is None or not http.is_image(image):
        raise fail(
            f'the answer has no image part (finishReason {reason!r}, '
            f'{http.describe(response)}). It may have been charged; rephrase the prompt '
            'to ask for an image, or check GEMINI_BASE_URL.',
            status=response.status_code,
            code='NO_IMAGE',
            request_id=request_id,
            maybe_charged=True,
        )
    version = body.get('modelVersion')
    return ImageAnswer(
        data=image,
        request_id=request_id,
        model_version=version if isinstance(version, str) else request.model,
        cost_usd=usage_cost(request.model, usage) if usage else None,
        meta={'usage': usage} if usage else {},
    )


def _image_part(candidate: dict[str, Any]) -> bytes | None:
    content = candidate.get('content')
    parts = content.get('parts') if isinstance(content, dict) else None
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict) or part.get('thought'):
            continue  # thought images are drafts, not the answer
        inline = part.get('inlineData') or part.get('inline_data')
        if isinstance(inline, dict):
            mime = inline.get('mimeType') or inline.get('mime_type') or ''
            if str(mime).startswith('image/'):
                return http.b64decode(inline.get('data'))
    return None


def usage_cost(model: str, usage: dict[str, Any]) -> float | None:
    """Money for ``usageMetadata``: prompt tokens in, image and text/thought tokens out."""
    rates, _ = prices.rates_for(prices.GEMINI, model)
    try:
        prompt = float(usage.get('promptTokenCount') or 0)
        thoughts = float(usage.get('thoughtsTokenCount') or 0)
        out_total = float(usage.get('candidatesTokenCount') or 0)
        image_out = sum(
            float(d.get('tokenCount') or 0)
            for d in usage.get('candidatesTokensDetails') or []
            if isinstance(d, dict) and d.get('modality') == 'IMAGE'
        )
    except (TypeError, ValueError, AttributeError):
        return None
    if not usage.get('candidatesTokensDetails'):
        image_out = out_total  # no breakdown: an image answer is image tokens
    return rates.usd(text_in=prompt, text_out=out_total - image_out + thoughts, image_out=image_out)


class JsonEndpoint(TokenEndpoint):
    """A Gemini JSON method, ``POST {GEMINI_BASE_URL}/v1beta/models/{model}:{method}``.

    The key travels in ``x-goog-api-key``; errors come as ``{"error": {code, message, status,
    details}}``, as for the image models. An answer names its request in ``responseId``, its
    model in ``modelVersion``, its tokens in ``usageMetadata``.
    """

    name = 'gemini'
    label = LABEL
    method = ''
    id_key = 'responseId'
    version_key = 'modelVersion'
    usage_key = 'usageMetadata'

    def request(self, model: str, base_url: str, key: str) -> tuple[str, dict[str, str]]:
        """The key in ``x-goog-api-key``."""
        return f'{base_url}/v1beta/models/{model}:{self.method}', {'x-goog-api-key': key}

    def failure(self, fail: http.Failure, response: httpx.Response) -> ServiceError:
        """As for Gemini's image models."""
        return _failure(fail, response)
