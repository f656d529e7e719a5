"""Black Forest Labs FLUX.2 behind the ``ImageProvider`` contract.

``POST /v1/{model}`` with the key in ``x-key``, the prompt and up to 8 input images
(``input_image``, ``input_image_2`` ... ``input_image_8``, base64) answers
``{id, polling_url, cost}``; then ``GET polling_url`` until ``status`` is ``Ready``
(``result.sample`` is a signed URL that expires soon, so it is downloaded at once) or
``Request Moderated`` / ``Content Moderated`` / ``Error`` / ``Task not found``.
``<img>N</img>`` becomes ``image N+1``, FLUX.2's name for ``input_image_{N+1}``.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import httpx
import PIL.Image

from reverie import types as ts
from reverie.config import Config
from reverie.errors import ContentViolationError, InvalidValueError, ServiceError
from reverie.functions.images import http, prices, refs
from reverie.functions.images.provider import ImageAnswer, ImageRequest, Price
from reverie.functions.images.spread import SpreadClient

LABEL = 'BFL'
MODELS = {  # model -> most input images
    'flux-2-pro': 8,
    'flux-2-max': 8,
    'flux-2-flex': 8,
    'flux-2-klein-4b': 4,
    'flux-2-klein-9b': 4,
}
SIZES = {  # aspect ratio -> (width, height), multiples of 16, about 1 MP
    '1:1': (1024, 1024),
    '16:9': (1360, 768),
    '9:16': (768, 1360),
    '3:2': (1248, 832),
    '2:3': (832, 1248),
    '4:3': (1152, 864),
    '3:4': (864, 1152),
}
FIELDS: dict[str, ts.ColumnType] = {  # the request fields FLUX.2 takes, and their types
    'seed': ts.Int,
    'width': ts.Int,
    'height': ts.Int,
    'safety_tolerance': ts.Int,
    'output_format': ts.String,
    'prompt_upsampling': ts.Bool,
    'steps': ts.Int,
    'guidance': ts.Float,
}
MAX_PIXELS = 4_194_304  # 4 MP
POLL_START, POLL_MAX = 0.25, 2.0  # seconds between polls, growing
POLL_FAILURES = 3  # transient poll failures tolerated in a row (a poll costs nothing)
URL_REFRESHES = 2  # an expired result URL: poll the finished task again for a fresh one
_EXPIRED = frozenset({401, 403, 404, 410})  # how a signed URL says it is no longer valid
MODERATED = ('Request Moderated', 'Content Moderated')


class BFLProvider:
    """One task per ``send`` (submit, poll, download); the submission is never repeated."""

    name = 'bfl'

    def check(self, request: ImageRequest) -> None:
        model = request.model
        refs.check_prompt(request.prompt)
        refs.check_image_count(len(request.images), 0, MODELS.get(model, 8), f'FLUX {model}')
        refs.check_options(request.options, sorted(FIELDS), f'BFL {model}')
        sized = 'width' in request.options or 'height' in request.options
        if request.aspect_ratio is not None and sized:
            raise InvalidValueError('Pass either aspect_ratio or width/height to BFL, not both.')
        refs.check_aspect_ratio(request.aspect_ratio, tuple(SIZES), f'FLUX {model}')
        for side in ('width', 'height'):
            value = request.options.get(side)
            if value is not None and (not isinstance(value, int) or value < 64 or value % 16):
                raise InvalidValueError(
                    f'BFL {side} must be a multiple of 16 of at least 64, got {value!r}.'
                )
        w, h = _dimensions(request) or (0, 0)
        if w * h > MAX_PIXELS:
            raise InvalidValueError(f'BFL output {w}x{h} is over 4 megapixels; lower width/height.')
        output_format = request.options.get('output_format')
        if output_format is not None and output_format not in ('png', 'jpeg'):
            raise InvalidValueError(
                f"BFL output_format must be 'png' or 'jpeg', got {output_format!r}."
            )
        tolerance = request.options.get('safety_tolerance')
        if tolerance is not None and tolerance not in range(6):
            raise InvalidValueError(f'BFL safety_tolerance must be 0-5, got {tolerance!r}.')

    def price(self, request: ImageRequest) -> Price:
        rates, note = prices.rates_for(prices.BFL, request.model)
        inputs = tuple(_megapixels(d) for d in request.images)
        size = _dimensions(request)
        if size is not None:
            low = high = size[0] * size[1] / 1e6
        else:  # an edit keeps its input's size (up to 4 MP); a creation is 1 MP
            low = high = 1.0
            if inputs:
                low, high = min(inputs[0], 4.2), min(inputs[0], 4.2)
        return Price(rates.usd(low, inputs), rates.usd(high, inputs), 'usd', note + rates.source)

    async def send(self, request: ImageRequest, config: Config) -> ImageAnswer:
        settings = config.provider('bfl')
        key = http.require_key(settings, LABEL)
        fail = http.Failure(LABEL, request.model, key)
        client = http.http_client(settings)
        body = await asyncio.to_thread(_body, request)
        response = await http.send(
            fail,
            client,
            'POST',
            f'{settings.base_url}/v1/{request.model}',
            paid=True,
            headers={
                'x-key': key,
                'Content-Type': 'application/json',
                'Accept': 'application/json',
            },
            content=body,
        )
        if response.status_code >= 300:
            raise _failure(fail, response)
        task = http.json_object(response.content) or {}
        task_id, polling_url = task.get('id'), task.get('polling_url')
        if not isinstance(task_id, str) or not isinstance(polling_url, str):
            raise fail(
                f'the answer has no task id and polling_url ({http.describe(response)}). It '
                'may have been charged; check BFL_API_URL.',
                status=response.status_code,
                maybe_charged=True,
            )
        fail.op = f'{request.model} task {task_id}'
        headers = {'x-key': key} if _trusted(polling_url, settings.base_url) else None
        if headers is None:
            raise fail(
                f'polling_url {polling_url!r} is not on the BFL API host; the key is not sent '
                'there. The task may have been charged.',
                request_id=task_id,
                maybe_charged=True,
            )
        deadline = time.monotonic() + settings.timeout
        # The task is paid for: an expired result URL is signed again by polling the task
        # (free), never by submitting a new task.
        for refresh in range(URL_REFRESHES + 1):
            result = await _poll(fail, client, polling_url, headers, task_id, deadline)
            image = await _download(fail, client, result, task_id, last=refresh == URL_REFRESHES)
            if image is not None:
                return _answer(request, task, result, image, task_id)
        raise AssertionError('unreachable: the last download raises')


def _dimensions(request: ImageRequest) -> tuple[int, int] | None:
    if request.aspect_ratio is not None:
        return SIZES[request.aspect_ratio]
    w, h = request.options.get('width'), request.options.get('height')
    if isinstance(w, int) and isinstance(h, int):
        return w, h
    return None


def _megapixels(data: bytes) -> float:
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            return img.width * img.height / 1e6
    except Exception:
        return 1.0  # a placeholder (at definition time) or unreadable: assume 1 MP


def _body(request: ImageRequest) -> bytes:
    fields: dict[str, Any] = {
        'prompt': refs.translate_refs(request.prompt, refs.ordinal_name),
        'output_format': 'png',  # lossless, as reverie keeps generated images
    }
    for i, data in enumerate(request.images):
        fields['input_image' if i == 0 else f'input_image_{i + 1}'] = http.b64encode(data)
    fields.update({k: v for k, v in request.options.items() if v is not None})
    size = _dimensions(request)
    if size is not None:
        fields['width'], fields['height'] = size
    return json.dumps(fields).encode()


def _trusted(polling_url: str, base_url: str) -> bool:
    """The key goes only to the API's own host or another BFL API host over https."""
    url, base = httpx.URL(polling_url), httpx.URL(base_url)
    if (url.scheme, url.netloc) == (base.scheme, base.netloc):
        return True
    return url.scheme == 'https' and (url.host == 'bfl.ai' or url.host.endswith('.bfl.ai'))


def _failure(fail: http.Failure, response: httpx.Response) -> ServiceError:
    status = response.status_code
    body = http.json_object(response.content) or {}
    detail = body.get('detail')
    if isinstance(detail, list):  # validation errors: [{loc, msg, type}, ...]
        said = '; '.join(
            f'{".".join(map(str, d.get("loc", [])))}: {d.get("msg")}'
            for d in detail
            if isinstance(d, dict)
        )
    else:
        said = str(detail) if detail else http.describe(response)
    if status in (401, 402, 403):
        what = {402: 'the account is out of credits', 401: 'the API key was rejected'}.get(
            status, 'the key may not use this model'
        )
        return fail(
            f'{what} ({said}). Add credits or check BFL_API_KEY / [bfl] api_key.',
            status=status,
            stops_run=True,
        )
    if status in http.RETRYABLE_STATUSES:
        what = 'too many active tasks' if status == 429 else 'a temporary failure'
        return fail(
            f'{what} ({said}); retrying may help, or lower [bfl] max_concurrency '
            '(at most 24 active tasks per account).',
            status=status,
            retry_after=http.retry_after(response.headers),
            retryable=True,
        )
    return fail(f'the request was refused ({said}). Fix the field named.', status=status)


async def _poll(
    fail: http.Failure,
    client: SpreadClient,
    url: str,
    headers: dict[str, str],
    task_id: str,
    deadline: float,
) -> dict[str, Any]:
    wait, failures = POLL_START, 0
    while True:
        problem: ServiceError | None = None
        try:
            response = await http.send(fail, client, 'GET', url, paid=False, headers=headers)
        except ServiceError as e:
            problem = e
        else:
            data = http.json_object(response.content)
            if response.status_code == 200 and data is not None:
                failures = 0
                status = data.get('status')
                if status == 'Ready':
                    return data
                if status in MODERATED:
                    raise fail(
                        f'BFL returned {status!r}: the content was refused (not charged). '
                        'Change the prompt or images; the same request will be refused again.',
                        code=str(status),
                        request_id=task_id,
                        cls=ContentViolationError,
                    )
                if status in ('Error', 'Failed', 'Task not found'):
                    raise fail(
                        f'the task ended with status {status!r} ({data.get("details")!r}). It '
                        'may have been charged.',
                        code=str(status),
                        request_id=task_id,
                        retryable=status != 'Task not found',
                        maybe_charged=True,
                    )
            elif (
                response.status_code != 200 and response.status_code not in http.RETRYABLE_STATUSES
            ):
                raise _failure(fail, response)
            else:
                problem = fail(f'polling answered HTTP {response.status_code}.')  # try again
        if problem is not None:
            failures += 1
        if failures > POLL_FAILURES or time.monotonic() + wait > deadline:
            why = 'polling kept failing' if failures > POLL_FAILURES else 'no result in time'
            raise fail(
                f'{why} (set [bfl] timeout to wait longer). The task may have been charged.',
                request_id=task_id,
                retryable=True,
                maybe_charged=True,
            )
        await asyncio.sleep(wait)
        wait = min(POLL_MAX, wait * 1.5)


async def _download(
    fail: http.Failure,
    client: SpreadClient,
    result: dict[str, Any],
    task_id: str,
    *,
    last: bool,
) -> bytes | None:
    """The result image; None when its URL has expired and the task may be polled again."""
    sample = (
        (result.get('result') or {}).get('sample')
        if isinstance(result.get('result'), dict)
        else None
    )
    if not isinstance(sample, str):
        raise fail(
            'the Ready result has no result.sample URL. It was charged.',
            request_id=task_id,
            maybe_charged=True,
        )
    # A signed delivery URL: no key goes there.
    response = await http.send(fail, client, 'GET', sample, paid=False)
    if response.status_code in _EXPIRED and not last:
        return None
    if response.status_code != 200 or not http.is_image(response.content):
        raise fail(
            f'downloading the result failed (HTTP {response.status_code}): its signed URL '
            f'expired or is invalid ({URL_REFRESHES + 1} URLs tried). The task was charged; '
            'its image is lost.',
            code='RESULT_UNAVAILABLE',
            request_id=task_id,
            maybe_charged=True,
        )
    return response.content


def _answer(
    request: ImageRequest, task: dict[str, Any], result: dict[str, Any], image: bytes, task_id: str
) -> ImageAnswer:
    cost = task.get('cost')
    credits = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    if credits is not None:
        usd = round(credits * prices.BFL_USD_PER_CREDIT, 6)
    else:
        rates, _ = prices.rates_for(prices.BFL, request.model)
        with PIL.Image.open(io.BytesIO(image)) as img:
            out_mp = img.width * img.height / 1e6
        usd = rates.usd(out_mp, tuple(_megapixels(d) for d in request.images))
    meta: dict[str, Any] = {}
    for name in ('input_mp', 'output_mp'):
        if task.get(name) is not None:
            meta[name] = task[name]
    inner = result.get('result')
    if isinstance(inner, dict) and inner.get('seed') is not None:
        meta['seed'] = inner['seed']
    return ImageAnswer(
        data=image,
        request_id=task_id,
        model_version=request.model,
        credits=credits,
        cost_usd=usd,
        meta=meta,
    )
