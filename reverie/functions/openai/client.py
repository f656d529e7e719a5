"""OpenAI GPT Image (``gpt-image-2``) behind the ``ImageProvider`` contract.

``create`` posts JSON to ``/images/generations``; ``edit`` and ``remix`` post multipart
form data to ``/images/edits`` with one ``image[]`` part per input image (up to 16). The
answer carries the image as ``b64_json`` and token ``usage``, priced by ``prices.OPENAI``.
``<img>N</img>`` becomes ``image N+1`` (the images are sent in order).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from reverie.config import Config
from reverie.errors import ContentViolationError, InvalidValueError, ServiceError
from reverie.functions.images import http, prices, refs
from reverie.functions.images.provider import Capabilities, ImageAnswer, ImageRequest, Price
from reverie.functions.text import TokenEndpoint

LABEL = 'OpenAI'
MAX_IMAGES = 16
MAX_PROMPT = 32_000
SIZES = {  # aspect ratio -> size (multiples of 16, about 1.3-1.6 MP)
    '1:1': '1024x1024',
    '16:9': '1536x864',
    '9:16': '864x1536',
    '3:2': '1536x1024',
    '2:3': '1024x1536',
    '4:3': '1280x960',
    '3:4': '960x1280',
}
CAPABILITIES = Capabilities(
    label='OpenAI gpt-image-2',
    aspect_ratios=tuple(SIZES),
    images={'create': (0, 0), 'edit': (1, MAX_IMAGES), 'remix': (1, MAX_IMAGES)},
    options=(
        'quality',
        'size',
        'output_format',
        'output_compression',
        'background',
        'moderation',
        'user',
    ),
    max_prompt_chars=MAX_PROMPT,
    verb_options={'edit': ('input_fidelity',), 'remix': ('input_fidelity',)},
)
"""What GPT Image can do: declared once, checked by ``Capabilities.check``."""
CHOICES = {
    'quality': ('low', 'medium', 'high', 'auto', 'xhigh', 'max'),
    'output_format': ('png', 'jpeg', 'webp'),
    'background': ('auto', 'opaque'),
    'moderation': ('auto', 'low'),
}
NEWER_QUALITIES = ('xhigh', 'max')  # gpt-image-2.6 only
_SIZE = re.compile(r'^(\d+)x(\d+)$')
_VIOLATION_CODES = ('moderation_blocked', 'content_policy_violation')
_STOP_CODES = ('insufficient_quota', 'billing_hard_limit_reached', 'invalid_api_key')


class OpenAIProvider:
    """One attempt per ``send``; never retries."""

    name = 'openai'

    def check(self, request: ImageRequest) -> None:
        if request.aspect_ratio is not None and 'size' in request.options:
            raise InvalidValueError(
                'Pass either aspect_ratio or size to OpenAI, not both: size fixes the ratio.'
            )
        CAPABILITIES.check(request)
        for name, choices in CHOICES.items():
            value = request.options.get(name)
            if value is not None and value not in choices:
                raise InvalidValueError(
                    f'OpenAI {name} must be one of {", ".join(map(repr, choices))}, got {value!r}.'
                )
        quality = request.options.get('quality')
        if quality in NEWER_QUALITIES and request.model not in prices.OPENAI_NEWER:
            raise InvalidValueError(
                f'OpenAI quality {quality!r} needs gpt-image-2.6-flare or gpt-image-2.6-sunburst; '
                f'{request.model} takes low, medium, high or auto.'
            )
        size = request.options.get('size')
        if size is not None:
            check_size(size)

    def price(self, request: ImageRequest) -> Price:
        rates, note = prices.rates_for(prices.OPENAI, request.model)
        mp = _megapixels(_size(request))
        quality = request.options.get('quality')
        qualities = [quality] if quality else ['low', 'high']
        text = len(request.prompt) / 3  # tokens, generously
        images = len(request.images) * rates.input_image_tokens

        def usd(q: str) -> float:
            out = rates.image_tokens.get(q, max(rates.image_tokens.values())) * mp
            return rates.usd(text_in=text, image_in=images, image_out=out)

        return Price(min(map(usd, qualities)), max(map(usd, qualities)), 'usd', note + rates.source)

    async def send(self, request: ImageRequest, config: Config) -> ImageAnswer:
        settings = config.provider('openai')
        key = http.require_key(settings, LABEL)
        op = 'image generation' if request.verb == 'create' else 'image edit'
        fail = http.Failure(LABEL, op, key)
        client = http.http_client(settings)
        headers = {'Authorization': f'Bearer {key}', 'Accept': 'application/json'}
        fields = _fields(request)
        if request.verb == 'create':
            url = f'{settings.base_url}/images/generations'
            response = await http.send(
                fail, client, 'POST', url, paid=True, headers=headers, json=fields
            )
        else:
            url = f'{settings.base_url}/images/edits'
            files = []
            for i, d in enumerate(request.images):
                ext = http.image_subtype(d)
                files.append(('image[]', (f'image_{i}.{ext}', d, f'image/{ext}')))
            data = {k: str(v) for k, v in fields.items()}
            response = await http.send(
                fail, client, 'POST', url, paid=True, headers=headers, data=data, files=files
            )
        if response.status_code >= 300:
            raise failure(fail, response)
        return await asyncio.to_thread(_answer, fail, request, response)


def check_size(size: object) -> str:
    """A GPT Image size: ``auto`` or ``WxH`` in multiples of 16, edge <= 3840, ratio <= 3:1."""
    m = _SIZE.match(size) if isinstance(size, str) else None
    if size == 'auto':
        return size
    ok = m is not None
    if m is not None:
        w, h = int(m.group(1)), int(m.group(2))
        ok = (
            w % 16 == 0
            and h % 16 == 0
            and max(w, h) <= 3840
            and max(w, h) <= 3 * min(w, h)
            and 655_360 <= w * h <= 8_294_400
        )
    if not ok:
        raise InvalidValueError(
            f"OpenAI size must be 'auto' or 'WxH' with both sides multiples of 16, the long "
            f'side at most 3840 and 3x the short one, 0.66-8.3 MP; got {size!r}. '
            "E.g. '1024x1024' or '1536x1024'."
        )
    return str(size)


def _size(request: ImageRequest) -> str | None:
    if request.aspect_ratio is not None:
        return SIZES[request.aspect_ratio]
    size = request.options.get('size')
    return None if size in (None, 'auto') else str(size)


def _megapixels(size: str | None) -> float:
    if size is None:
        return 1.6  # 'auto' picks up to 1536x1024
    w, _, h = size.partition('x')
    return int(w) * int(h) / 1_000_000


def _fields(request: ImageRequest) -> dict[str, Any]:
    prompt = refs.translate_refs(request.prompt, refs.ordinal_name)
    fields: dict[str, Any] = {'model': request.model, 'prompt': prompt, 'n': 1}
    fields.update({k: v for k, v in request.options.items() if v is not None})
    size = _size(request)
    if size is not None:
        fields['size'] = size
    return fields


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, str]:
    body = http.json_object(response.content) or {}
    error = body.get('error') if isinstance(body.get('error'), dict) else {}
    assert isinstance(error, dict)
    code = error.get('code') if isinstance(error.get('code'), str) else None
    kind = error.get('type') if isinstance(error.get('type'), str) else None
    message = error.get('message') if isinstance(error.get('message'), str) else None
    return code, kind, message or http.describe(response)


retry_after = http.retry_after  # the one reading of wait headers, shared by providers


def failure(fail: http.Failure, response: httpx.Response) -> ServiceError:
    """The ``ServiceError`` an OpenAI error answer means (any endpoint)."""
    status = response.status_code
    code, kind, said = _error_fields(response)
    request_id = response.headers.get('x-request-id')
    facts = {'status': status, 'code': code or kind, 'request_id': request_id}
    if code in _VIOLATION_CODES or kind in _VIOLATION_CODES:
        return fail(
            f'OpenAI refused the content ({said}). Change the prompt or images; the same '
            'request will be refused again.',
            cls=ContentViolationError,
            **facts,
        )
    if status in (401, 402, 403) or code in _STOP_CODES:
        what = 'the API key was rejected' if status == 401 else 'the account cannot pay or use it'
        return fail(
            f'{what} ({said}). Check OPENAI_API_KEY or [openai] api_key, and the '
            'billing and organization verification of the account.',
            stops_run=True,
            **facts,
        )
    if status in http.RETRYABLE_STATUSES:
        wait = retry_after(response.headers)
        return fail(
            f'{"rate limited" if status == 429 else "a temporary failure"} ({said}); '
            'retrying may help, or lower [openai] max_concurrency.',
            retry_after=wait,
            retryable=True,
            **facts,
        )
    return fail(f'the request was refused ({said}). Fix the argument named.', **facts)


def _answer(fail: http.Failure, request: ImageRequest, response: httpx.Response) -> ImageAnswer:
    request_id = response.headers.get('x-request-id')
    body = http.json_object(response.content) or {}
    data = body.get('data')
    item = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    image = http.b64decode(item.get('b64_json'))
    if image is None or not http.is_image(image):
        raise fail(
            f'the answer has no decodable data[0].b64_json image ({http.describe(response)}). '
            'It may have been charged; check OPENAI_BASE_URL points at an OpenAI-compatible '
            'server.',
            status=response.status_code,
            request_id=request_id,
            maybe_charged=True,
        )
    usage = body.get('usage') if isinstance(body.get('usage'), dict) else None
    return ImageAnswer(
        data=image,
        request_id=request_id,
        model_version=request.model,
        cost_usd=usage_cost(request.model, usage) if usage else None,
        meta={'usage': usage} if usage else {},
    )


def usage_cost(model: str, usage: dict[str, Any]) -> float | None:
    """Money for an answer's ``usage`` (input text/image tokens, output image tokens)."""
    rates, _ = prices.rates_for(prices.OPENAI, model)
    details = usage.get('input_tokens_details') or {}
    try:
        text_in = float(details.get('text_tokens', usage.get('input_tokens', 0)))
        image_in = float(details.get('image_tokens', 0))
        out = float(usage.get('output_tokens', 0))
    except (TypeError, ValueError, AttributeError):
        return None
    return rates.usd(text_in=text_in, image_in=image_in, image_out=out)


class JsonEndpoint(TokenEndpoint):
    """An OpenAI JSON endpoint, ``POST {OPENAI_BASE_URL}/{path}``, one attempt per ``send``.

    Bearer auth; errors come as ``{"error": {message, type, code}}``. An answer names its
    request in ``x-request-id`` (else ``id``), its model in ``model``, its tokens in ``usage``.
    """

    name = 'openai'
    label = LABEL
    path = ''
    id_header = 'x-request-id'

    def request(self, model: str, base_url: str, key: str) -> tuple[str, dict[str, str]]:
        """Bearer auth, JSON."""
        headers = {'Authorization': f'Bearer {key}', 'Accept': 'application/json'}
        return f'{base_url}/{self.path}', headers

    def failure(self, fail: http.Failure, response: httpx.Response) -> ServiceError:
        """As for OpenAI's image endpoints."""
        return failure(fail, response)
