"""Stand-in for OpenAI's Image API (``/v1/images/generations``, ``/v1/images/edits``) and
chat completions (``/v1/chat/completions``).

Written from the published contract: Bearer auth, JSON generations, multipart edits with
``image[]`` parts (up to 16), ``b64_json`` answers with token ``usage``, errors as
``{"error": {"message", "type", "param", "code"}}``, ``x-request-id``, 429 with
``retry-after-ms`` and ``x-ratelimit-*`` headers, ``insufficient_quota``, moderation
(``moderation_blocked``). A prompt containing ``forbidden`` is refused by moderation.
Chat completions answer ``{"id", "object": "chat.completion", "created", "model",
"choices": [{"index", "message": {"role", "content", "refusal"}, "logprobs",
"finish_reason"}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"},
"system_fingerprint"}``; the reply is ``'Draw: '`` and the last user message, cut to
``max_completion_tokens`` (``finish_reason: length``).
Embeddings (``/v1/embeddings``) answer ``{"object": "list", "data": [{"object":
"embedding", "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}``
(the vector: letter counts, unit length, ``dimensions`` long when asked); unknown models are
404 ``model_not_found``, ``dimensions`` on ada-002 is 400.
Script outcomes: ``429``, ``quota``, ``500``, ``reset``, ``garbage``.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

import PIL.Image

from tests.functions.providers.base import (
    Call,
    Reply,
    Request,
    StandIn,
    b64,
    letter_vector,
    png,
    shorten,
)

# USD per million tokens, from OpenAI's pricing page for gpt-image-2.
TEXT_IN, IMAGE_IN, IMAGE_OUT = 5.00, 8.00, 30.00
OUT_TOKENS_PER_MP = {
    'low': 560,
    'medium': 2000,
    'high': 7100,
    'auto': 7100,
    'xhigh': 12000,
    'max': 20000,
}
GENERATE_FIELDS = {
    'model',
    'prompt',
    'n',
    'size',
    'quality',
    'output_format',
    'output_compression',
    'background',
    'moderation',
    'user',
    'response_format',
    'stream',
    'partial_images',
}
EDIT_FIELDS = GENERATE_FIELDS | {'input_fidelity', 'mask'}
CHAT_RATES = {'gpt-4o-mini': (0.15, 0.60)}  # USD per million tokens: prompt, completion
CHAT_FIELDS = {
    'model',
    'messages',
    'max_completion_tokens',
    'max_tokens',
    'temperature',
    'top_p',
    'n',
    'seed',
    'stop',
    'user',
    'response_format',
}
# Embedding models: USD per million input tokens, and the vector's own size.
EMBEDDING_MODELS = {
    'text-embedding-3-small': (0.02, 1536),
    'text-embedding-3-large': (0.13, 3072),
    'text-embedding-ada-002': (0.10, 1536),
}
EMBEDDING_FIELDS = {'model', 'input', 'encoding_format', 'dimensions', 'user'}
_SIZE = re.compile(r'^(\d+)x(\d+)$')
_ids = itertools.count(1)


def _qualities(model: str) -> tuple[str, ...]:
    # gpt-image-2.6 adds xhigh and max.
    newer = ('xhigh', 'max') if model.startswith('gpt-image-2.6') else ()
    return ('low', 'medium', 'high', 'auto', *newer)


def _error(
    status: int,
    message: str,
    code: str | None,
    param: str | None = None,
    kind: str = 'invalid_request_error',
    **headers: str,
) -> Reply:
    body = {'error': {'message': message, 'type': kind, 'param': param, 'code': code}}
    return Reply.json(status, body, **{'x-request-id': f'req_err{next(_ids)}', **headers})


class OpenAIStandIn(StandIn):
    """The account's request budget is advertised on every answer, as OpenAI does
    (``x-ratelimit-limit-requests``, ``-remaining-requests``, ``-reset-requests``):
    ``requests_per_period`` requests per ``period`` seconds, counted in fixed periods that
    begin at a request after the last one ended; a request past it is refused with 429 and
    ``retry-after-ms``.
    """

    key = 'sk-test-openai-0123456789'
    models = ('gpt-image-2', 'gpt-image-2.6-flare', 'gpt-image-2.6-sunburst')
    requests_per_period = 10_000
    period = 60.0

    def __init__(self, host: str = '127.0.0.1') -> None:
        super().__init__(host)
        self._period_end = 0.0
        self._period_count = 0

    def handle(self, request: Request) -> Reply:
        taken, headers = self._take_budget()
        if not taken:
            self.log(Call(request.method, request.path, 429))
            return _error(
                429,
                'Rate limit reached for requests per min (RPM).',
                'rate_limit_exceeded',
                kind='requests',
                **headers,
            )
        reply = self._handle(request)
        reply.headers = {**headers, **reply.headers}
        return reply

    def _take_budget(self) -> tuple[bool, dict[str, str]]:
        """Count one request against this period's budget; whether it fits, and the headers."""
        with self.lock:
            now = time.monotonic()
            if now >= self._period_end:
                self._period_end, self._period_count = now + self.period, 0
            taken = self._period_count < self.requests_per_period
            self._period_count += taken
            remaining = self.requests_per_period - self._period_count
            reset = self._period_end - now
        headers = {
            'x-ratelimit-limit-requests': str(self.requests_per_period),
            'x-ratelimit-remaining-requests': str(remaining),
            'x-ratelimit-reset-requests': f'{reset:.3f}s',
        }
        if not taken:
            headers['retry-after-ms'] = str(int(reset * 1000) + 1)
        return taken, headers

    def _handle(self, request: Request) -> Reply:
        if request.method == 'POST' and request.path == '/v1/chat/completions':
            return self._chat(request)
        if request.method == 'POST' and request.path == '/v1/embeddings':
            return self._embeddings(request)
        if request.method != 'POST' or request.path not in (
            '/v1/images/generations',
            '/v1/images/edits',
        ):
            return _error(404, f'Invalid URL ({request.method} {request.path})', None)
        auth = request.headers.get('authorization', '')
        if auth != f'Bearer {self.key}':
            # The real service masks the key; this one echoes it, to prove the client scrubs.
            reply = _error(401, f'Incorrect API key provided: {auth[7:]}.', 'invalid_api_key')
            self.log(Call(request.method, request.path, 401))
            return reply
        edit = request.path.endswith('/edits')
        fields, images, problem = _multipart(request) if edit else (request.json(), [], None)
        reply, charged = problem or self._answer(fields, images, edit)
        self.log(
            Call(
                request.method,
                request.path,
                reply.status,
                charged,
                shorten(
                    {**fields, 'image[]': [f'{len(i)} bytes' for i in images]} if edit else fields
                ),
                dict(request.headers),
            )
        )
        return reply

    def _chat(self, request: Request) -> Reply:
        return self._json_call(request, self._chat_answer)

    def _json_call(
        self, request: Request, answer: Callable[[dict[str, Any]], tuple[Reply, float]]
    ) -> Reply:
        """A JSON endpoint (chat, embeddings): the key checked, the answer logged."""
        if request.headers.get('authorization', '') != f'Bearer {self.key}':
            self.log(Call(request.method, request.path, 401))
            return _error(401, 'Incorrect API key provided.', 'invalid_api_key')
        fields = request.json()
        reply, charged = answer(fields)
        self.log(Call('POST', request.path, reply.status, charged, fields, dict(request.headers)))
        return reply

    def _chat_answer(self, fields: dict[str, Any]) -> tuple[Reply, float]:
        refused, outcome = self._refused(_chat_problem(fields))
        if refused is not None:
            return refused, 0.0
        user = [m for m in fields['messages'] if m.get('role') == 'user']
        words = f'Draw: {user[-1]["content"] if user else ""}'.split()
        cap = fields.get('max_completion_tokens') or fields.get('max_tokens')
        finish = 'length' if cap is not None and len(words) > cap else 'stop'
        words = words[:cap] if cap is not None else words
        prompt_tokens = sum(len(str(m.get('content', ''))) // 4 + 4 for m in fields['messages'])
        usage = {
            'prompt_tokens': prompt_tokens,
            'completion_tokens': len(words),
            'total_tokens': prompt_tokens + len(words),
        }
        rate_in, rate_out = CHAT_RATES[fields['model']]
        charged = (prompt_tokens * rate_in + len(words) * rate_out) / 1e6
        if outcome == 'reset':
            return Reply(0, drop=True), charged
        n = next(_ids)
        message = {'role': 'assistant', 'content': ' '.join(words), 'refusal': None}
        body = {
            'id': f'chatcmpl-{n}',
            'object': 'chat.completion',
            'created': 1764300000,
            'model': f'{fields["model"]}-2024-07-18',
            'choices': [
                {'index': 0, 'message': message, 'logprobs': None, 'finish_reason': finish}
            ],
            'usage': usage,
            'system_fingerprint': 'fp_standin',
        }
        if outcome == 'garbage':
            body = {'id': f'chatcmpl-{n}', 'object': 'chat.completion'}  # no choices
        return Reply.json(200, body, **{'x-request-id': f'req_{n}'}), charged

    def _embeddings(self, request: Request) -> Reply:
        return self._json_call(request, self._embedding_answer)

    def _embedding_answer(self, fields: dict[str, Any]) -> tuple[Reply, float]:
        refused, outcome = self._refused(_embedding_problem(fields))
        if refused is not None:
            return refused, 0.0
        text = str(fields['input'])
        rate, size = EMBEDDING_MODELS[fields['model']]
        tokens = max(1, len(text) // 4)
        charged = tokens * rate / 1e6
        if outcome == 'reset':
            return Reply(0, drop=True), charged
        n = next(_ids)
        item = {
            'object': 'embedding',
            'index': 0,
            'embedding': letter_vector(text, fields.get('dimensions') or size),
        }
        body: dict[str, Any] = {
            'object': 'list',
            'data': [item],
            'model': fields['model'],
            'usage': {'prompt_tokens': tokens, 'total_tokens': tokens},
        }
        if outcome == 'garbage':
            body = {'object': 'list', 'data': [], 'model': fields['model']}
        return Reply.json(200, body, **{'x-request-id': f'req_{n}'}), charged

    def _refused(self, bad: Reply | None) -> tuple[Reply | None, str | None]:
        """The refusal to send (a bad request, else a scripted failure) and the outcome."""
        if bad is not None:
            return bad, None
        outcome = self.next_outcome()
        return self._scripted(outcome), outcome

    @staticmethod
    def _scripted(outcome: str | None) -> Reply | None:
        if outcome == '429':
            return _error(
                429,
                'Rate limit reached for requests per min (RPM).',
                'rate_limit_exceeded',
                kind='requests',
                **{
                    'retry-after-ms': '1500',
                    'x-ratelimit-limit-requests': '5',
                    'x-ratelimit-remaining-requests': '0',
                    'x-ratelimit-reset-requests': '1.5s',
                },
            )
        if outcome == 'quota':
            return _error(
                429,
                'You exceeded your current quota, please check your plan and billing details.',
                'insufficient_quota',
                kind='insufficient_quota',
            )
        if outcome == '500':
            return _error(
                500, 'The server had an error processing your request.', None, kind='server_error'
            )
        return None

    def _answer(
        self, fields: dict[str, Any], images: list[bytes], edit: bool
    ) -> tuple[Reply, float]:
        refused, outcome = self._refused(self._validate(fields, images, edit))
        if refused is not None:
            return refused, 0.0
        if outcome == 'reset':
            return Reply(0, drop=True), self._cost(fields, images)
        prompt = str(fields['prompt'])
        if 'forbidden' in prompt:
            return _error(
                400,
                'Your request was rejected by the safety system.',
                'moderation_blocked',
                kind='image_generation_user_error',
            ), 0.0
        size = str(fields.get('size') or '1024x1024')
        if size == 'auto':
            size = '1024x1024'
        w, h = (int(x) for x in size.split('x'))
        quality = str(fields.get('quality') or 'auto')
        charged = self._cost(fields, images)
        usage = self._usage(fields, images)
        data = b64(png(w, h, prompt)) if outcome != 'garbage' else 'not base64!'
        body = {
            'created': 1764300000,
            'data': [{'b64_json': data}],
            'usage': usage,
            'size': size,
            'quality': quality,
            'output_format': fields.get('output_format', 'png'),
            'background': 'opaque',
        }
        return Reply.json(200, body, **{'x-request-id': f'req_{next(_ids)}'}), charged

    def _usage(self, fields: dict[str, Any], images: list[bytes]) -> dict[str, Any]:
        text = max(1, len(str(fields['prompt'])) // 4)
        image_in = 1600 * len(images)
        size = str(fields.get('size') or '1024x1024')
        m = _SIZE.match(size)
        mp = int(m.group(1)) * int(m.group(2)) / 1e6 if m else 1.05
        out = int(OUT_TOKENS_PER_MP[str(fields.get('quality') or 'auto')] * mp)
        return {
            'input_tokens': text + image_in,
            'output_tokens': out,
            'total_tokens': text + image_in + out,
            'input_tokens_details': {'text_tokens': text, 'image_tokens': image_in},
        }

    def _cost(self, fields: dict[str, Any], images: list[bytes]) -> float:
        u = self._usage(fields, images)
        d = u['input_tokens_details']
        return (
            d['text_tokens'] * TEXT_IN
            + d['image_tokens'] * IMAGE_IN
            + u['output_tokens'] * IMAGE_OUT
        ) / 1e6

    def _validate(self, fields: dict[str, Any], images: list[bytes], edit: bool) -> Reply | None:
        allowed = EDIT_FIELDS if edit else GENERATE_FIELDS
        for name in fields:
            if name not in allowed:
                return _error(400, f"Unknown parameter: '{name}'.", 'unknown_parameter', name)
        if fields.get('model') not in self.models:
            return _error(
                400,
                f"Invalid value: '{fields.get('model')}'. Value must be one of "
                f'{list(self.models)}.',
                'invalid_value',
                'model',
            )
        prompt = fields.get('prompt')
        if not isinstance(prompt, str) or not prompt or len(prompt) > 32000:
            return _error(
                400, 'Invalid prompt: must be 1 to 32000 characters.', 'invalid_value', 'prompt'
            )
        if str(fields.get('n', 1)) != '1':
            return _error(400, 'This stand-in makes one image per request.', 'invalid_value', 'n')
        size = fields.get('size')
        if size is not None and size != 'auto':
            m = _SIZE.match(str(size))
            ok = m is not None and all(int(x) % 16 == 0 for x in m.groups())
            if not ok:
                return _error(
                    400,
                    f"Invalid size '{size}': both sides must be multiples of 16.",
                    'invalid_value',
                    'size',
                )
        for name, choices in (
            ('quality', _qualities(str(fields.get('model')))),
            ('output_format', ('png', 'jpeg', 'webp')),
        ):
            if name in fields and fields[name] not in choices:
                return _error(
                    400, f"Invalid value for '{name}': {fields[name]!r}.", 'invalid_value', name
                )
        if edit:
            if not 1 <= len(images) <= 16:
                return _error(
                    400,
                    f'Expected 1 to 16 images in image[], got {len(images)}.',
                    'invalid_value',
                    'image',
                )
            for data in images:
                try:
                    with PIL.Image.open(io.BytesIO(data)) as img:
                        if img.format not in ('PNG', 'JPEG', 'WEBP'):
                            raise ValueError(img.format)
                except Exception:
                    return _error(
                        400,
                        'Invalid image file or mode for image[].',
                        'invalid_image_format',
                        'image',
                    )
        return None


def _multipart(request: Request) -> tuple[dict[str, Any], list[bytes], tuple[Reply, float] | None]:
    content_type = request.headers.get('content-type', '')
    if not content_type.startswith('multipart/form-data'):
        return {}, [], (_error(400, 'Edits need multipart/form-data.', 'invalid_request'), 0.0)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f'Content-Type: {content_type}\r\n\r\n'.encode() + request.body
    )
    fields: dict[str, Any] = {}
    images: list[bytes] = []
    for part in message.iter_parts():
        name = part.get_param('name', header='content-disposition')
        payload = part.get_payload(decode=True) or b''
        if name == 'image[]':
            images.append(payload)
        elif name == 'image':
            return (
                {},
                [],
                (
                    _error(400, "Send input images as 'image[]' parts.", 'invalid_value', 'image'),
                    0.0,
                ),
            )
        else:
            fields[str(name)] = payload.decode()
    return fields, images, None


def _chat_problem(fields: Any) -> Reply | None:
    """The 400 the chat completions endpoint gives a malformed request, or None."""
    if not isinstance(fields, dict):
        return _error(400, 'We could not parse the JSON body of your request.', None)
    for name in fields:
        if name not in CHAT_FIELDS:
            return _error(400, f'Unrecognized request argument supplied: {name}', None, name)
    if fields.get('model') not in CHAT_RATES:
        return _error(
            404,
            f'The model `{fields.get("model")}` does not exist or you do not have access to it.',
            'model_not_found',
        )
    messages = fields.get('messages')
    if not isinstance(messages, list) or not messages:
        return _error(400, "Invalid 'messages': empty array.", 'empty_array', 'messages')
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get('role') not in ('system', 'user', 'assistant'):
            return _error(400, f"Invalid value for 'messages[{i}].role'.", 'invalid_value')
    return None


def _embedding_problem(fields: dict[str, Any]) -> Reply | None:
    """What ``POST /v1/embeddings`` refuses: unknown fields or models, bad input or sizes."""
    for name in fields:
        if name not in EMBEDDING_FIELDS:
            return _error(400, f'Unrecognized request argument supplied: {name}', None)
    model = fields.get('model')
    if model not in EMBEDDING_MODELS:
        return _error(
            404,
            f'The model `{model}` does not exist or you do not have access to it.',
            'model_not_found',
        )
    text = fields.get('input')
    if not isinstance(text, str) or not text:
        return _error(400, "'$.input' is invalid. Please check the API reference.", None, 'input')
    dims = fields.get('dimensions')
    if dims is not None:
        if model == 'text-embedding-ada-002':
            return _error(
                400, 'This model does not support specifying dimensions.', None, 'dimensions'
            )
        if not isinstance(dims, int) or not 1 <= dims <= EMBEDDING_MODELS[model][1]:
            return _error(400, f'Invalid value for dimensions: {dims}.', None, 'dimensions')
    return None
