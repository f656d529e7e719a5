"""Stand-in for the Gemini API's ``models/{model}:generateContent`` with image output.

Written from the published contract: ``x-goog-api-key`` auth (a bad key is a 400
``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``), ``contents[].parts[]`` with ``text``
and ``inline_data``/``inlineData`` parts (at most 14 images), ``generationConfig`` with
``responseModalities`` and ``imageConfig`` (``aspectRatio``, ``imageSize``), errors as
``{"error": {"code", "message", "status", "details"}}``, 429 ``RESOURCE_EXHAUSTED`` with a
``google.rpc.RetryInfo`` ``retryDelay``. Answers put the image in
``candidates[0].content.parts[].inlineData`` with ``usageMetadata``.
Prompts: ``forbidden`` -> ``promptFeedback.blockReason``; ``unsafe-output`` ->
``finishReason: IMAGE_SAFETY``; ``no-image`` -> a text-only answer.
Text models (``TEXT_MODELS``) answer text parts: ``candidates[0].content.parts[0].text`` is
``'Draw: '`` and the prompt, cut to ``generationConfig.maxOutputTokens`` words
(``finishReason: MAX_TOKENS``), with ``usageMetadata`` (``promptTokenCount``,
``candidatesTokenCount``, ``totalTokenCount``), ``modelVersion`` and ``responseId``.
Script outcomes: ``drip`` (the answer one byte every ``drip_interval`` s), ``gzip-bomb``
(``bomb``, sent with ``Content-Encoding: gzip``), ``429`` (a per-minute limit),
``quota-day`` (the daily quota used up), ``prepaid`` (429: prepaid billing credits
depleted), ``billing``, ``503``, ``reset``, ``garbage`` (text and embedding models).
``models/{model}:embedContent`` (``EMBEDDING_MODELS``) takes ``content.parts[].text``,
``taskType``, ``title``, ``outputDimensionality`` and answers ``{"embedding": {"values"}}``
(letter counts, unit length; no token count, as the real answer).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.functions.providers.base import (
    Call,
    Reply,
    Request,
    StandIn,
    b64,
    decode_image,
    letter_vector,
    png,
)

RATIOS = {
    '1:1': (1024, 1024),
    '2:3': (848, 1264),
    '3:2': (1264, 848),
    '3:4': (896, 1200),
    '4:3': (1200, 896),
    '4:5': (928, 1152),
    '5:4': (1152, 928),
    '9:16': (768, 1376),
    '16:9': (1376, 768),
    '21:9': (1584, 672),
}
MODELS = {
    'gemini-3.1-flash-image': ('512', '1K', '2K', '4K'),
    'gemini-3-pro-image': ('1K', '2K', '4K'),
}
IMAGE_TOKENS = {'512': 747, '1K': 1120, '2K': 1680, '4K': 2520}
RATES = {  # USD per million tokens: text in, image out, text out
    'gemini-3.1-flash-image': (0.25, 60.0, 1.5),
    'gemini-3-pro-image': (2.0, 120.0, 12.0),
}
TEXT_MODELS = {'gemini-2.5-flash': (0.30, 2.50)}  # USD per million tokens: in, out
TEXT_GENERATION_FIELDS = {
    'maxOutputTokens',
    'temperature',
    'topP',
    'topK',
    'candidateCount',
    'stopSequences',
    'seed',
    'responseMimeType',
}
GENERATION_FIELDS = {
    'responseModalities',
    'imageConfig',
    'temperature',
    'seed',
    'topP',
    'candidateCount',
}
_PATH = re.compile(r'^/v1beta/models/([^/:]+):generateContent$')
_EMBED_PATH = re.compile(r'^/v1beta/models/([^/:]+):embedContent$')
# Embedding models: USD per million input tokens, and the vector's own size.
EMBEDDING_MODELS = {'gemini-embedding-001': (0.15, 3072)}
EMBED_FIELDS = {'model', 'content', 'taskType', 'title', 'outputDimensionality'}
TASK_TYPES = {
    'SEMANTIC_SIMILARITY',
    'CLASSIFICATION',
    'CLUSTERING',
    'RETRIEVAL_DOCUMENT',
    'RETRIEVAL_QUERY',
    'CODE_RETRIEVAL_QUERY',
    'QUESTION_ANSWERING',
    'FACT_VERIFICATION',
}
_ids = itertools.count(1)


def _error(code: int, status: str, message: str, details: list[Any] | None = None) -> Reply:
    error: dict[str, Any] = {'code': code, 'message': message, 'status': status}
    if details:
        error['details'] = details
    return Reply.json(code, {'error': error})


class GeminiStandIn(StandIn):
    key = 'AIza-test-gemini-0123456789'
    retry_delay = '12s'
    drip_interval = 2.0
    bomb = b''  # gzip-compressed body for the ``gzip-bomb`` outcome (set by the test)

    def handle(self, request: Request) -> Reply:
        m = _PATH.match(request.path)
        embed = _EMBED_PATH.match(request.path)
        if request.method != 'POST' or (m is None and embed is None):
            return _error(404, 'NOT_FOUND', f'Path {request.path} was not found.')
        if request.headers.get('x-goog-api-key') != self.key:
            self.log(Call('POST', request.path, 400))
            return _error(
                400,
                'INVALID_ARGUMENT',
                'API key not valid. Please pass a valid API key.',
                [
                    {
                        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
                        'reason': 'API_KEY_INVALID',
                        'domain': 'googleapis.com',
                    }
                ],
            )
        body = request.json()
        if embed is not None:
            reply, charged = self._embed(embed.group(1), body)
        else:
            assert m is not None
            reply, charged = self._answer(m.group(1), body)
        self.log(
            Call('POST', request.path, reply.status, charged, _summary(body), dict(request.headers))
        )
        return reply

    def _scripted(self, outcome: str | None) -> Reply | None:
        if outcome == '429':
            return _error(
                429,
                'RESOURCE_EXHAUSTED',
                'You exceeded your current quota.',
                [
                    {
                        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
                        'violations': [
                            {'quotaMetric': 'generate_content_requests', 'quotaId': 'PerMinute'}
                        ],
                    },
                    {
                        '@type': 'type.googleapis.com/google.rpc.RetryInfo',
                        'retryDelay': self.retry_delay,
                    },
                ],
            )
        if outcome == 'quota-day':
            return _error(
                429,
                'RESOURCE_EXHAUSTED',
                'You exceeded your current quota, please check your plan and billing details.',
                [
                    {
                        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
                        'violations': [
                            {
                                'quotaMetric': 'generativelanguage.googleapis.com/'
                                'generate_content_paid_tier_requests',
                                'quotaId': 'GenerateRequestsPerDayPerProjectPerModel',
                                'quotaDimensions': {'location': 'global'},
                                'quotaValue': '250',
                            }
                        ],
                    },
                    {
                        '@type': 'type.googleapis.com/google.rpc.RetryInfo',
                        'retryDelay': '41s',
                    },
                ],
            )
        if outcome == 'prepaid':
            return _error(
                429,
                'RESOURCE_EXHAUSTED',
                'Your prepayment credits are depleted. Please go to AI Studio at '
                'https://ai.studio/projects to manage your project and billing.',
            )
        if outcome == 'billing':
            return _error(
                403,
                'PERMISSION_DENIED',
                'Billing account for project is disabled; prepayment credits are depleted.',
            )
        if outcome == '503':
            return _error(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.')
        return None

    def _text(self, model: str, body: dict[str, Any], outcome: str | None) -> tuple[Reply, float]:
        texts = ' '.join(p['text'] for c in body['contents'] for p in c['parts'] if 'text' in p)
        words = f'Draw: {texts}'.split()
        cap = body.get('generationConfig', {}).get('maxOutputTokens')
        finish = 'MAX_TOKENS' if cap is not None and len(words) > cap else 'STOP'
        words = words[:cap] if cap is not None else words
        prompt_tokens = max(1, len(texts) // 4)
        usage = {
            'promptTokenCount': prompt_tokens,
            'candidatesTokenCount': len(words),
            'totalTokenCount': prompt_tokens + len(words),
        }
        rate_in, rate_out = TEXT_MODELS[model]
        charged = (prompt_tokens * rate_in + len(words) * rate_out) / 1e6
        if outcome == 'reset':
            return Reply(0, drop=True), charged
        if outcome == 'garbage':  # an answer without its candidates
            return Reply.json(200, {'usageMetadata': usage, 'modelVersion': model}), charged
        candidate = {
            'content': {'role': 'model', 'parts': [{'text': ' '.join(words)}]},
            'finishReason': finish,
            'index': 0,
        }
        answer = {
            'candidates': [candidate],
            'usageMetadata': usage,
            'modelVersion': model,
            'responseId': f'resp-{next(_ids)}',
        }
        return Reply.json(200, answer), charged

    def _embed(self, model: str, body: dict[str, Any]) -> tuple[Reply, float]:
        if model not in EMBEDDING_MODELS:
            return _error(
                404,
                'NOT_FOUND',
                f'models/{model} is not found for API version v1beta, or is not supported '
                'for embedContent.',
            ), 0.0
        problem = _embed_problem(model, body)
        if problem is not None:
            return _error(400, 'INVALID_ARGUMENT', problem), 0.0
        outcome = self.next_outcome()
        scripted = self._scripted(outcome)
        if scripted is not None:
            return scripted, 0.0
        text = ' '.join(p['text'] for p in body['content']['parts'])
        rate, size = EMBEDDING_MODELS[model]
        charged = max(1, len(text) // 4) * rate / 1e6
        if outcome == 'reset':
            return Reply(0, drop=True), charged
        if outcome == 'garbage':
            return Reply.json(200, {'embedding': {}}), charged
        values = letter_vector(text, body.get('outputDimensionality') or size)
        return Reply.json(200, {'embedding': {'values': values}}), charged

    def _answer(self, model: str, body: dict[str, Any]) -> tuple[Reply, float]:
        if model not in MODELS and model not in TEXT_MODELS:
            return _error(
                404,
                'NOT_FOUND',
                f'models/{model} is not found for API version '
                'v1beta, or is not supported for generateContent.',
            ), 0.0
        problem = _text_problem(body) if model in TEXT_MODELS else _validate(model, body)
        if problem is not None:
            return _error(400, 'INVALID_ARGUMENT', problem), 0.0
        outcome = self.next_outcome()
        failed = self._scripted(outcome)
        if failed is not None:
            return failed, 0.0
        if model in TEXT_MODELS:
            return self._text(model, body, outcome)
        return self._image(model, body, outcome)

    def _image(self, model: str, body: dict[str, Any], outcome: str | None) -> tuple[Reply, float]:
        parts = body['contents'][0]['parts']
        texts = ' '.join(p['text'] for p in parts if 'text' in p)
        n_images = sum(1 for p in parts if 'inline_data' in p or 'inlineData' in p)
        prompt_tokens = max(1, len(texts) // 4) + 1120 * n_images
        text_in, image_rate, text_rate = RATES[model]
        usage: dict[str, Any] = {'promptTokenCount': prompt_tokens, 'thoughtsTokenCount': 200}
        answer: dict[str, Any] = {'modelVersion': model, 'responseId': f'resp-{next(_ids)}'}
        if 'forbidden' in texts:
            answer['promptFeedback'] = {'blockReason': 'PROHIBITED_CONTENT'}
            return Reply.json(200, {**answer, 'usageMetadata': usage}), 0.0
        config = body.get('generationConfig', {}).get('imageConfig', {})
        size = config.get('imageSize', '1K')
        w, h = RATIOS[config.get('aspectRatio', '1:1')]
        scale = {'512': 0.5, '1K': 1, '2K': 2, '4K': 4}[size]
        out_tokens = IMAGE_TOKENS[size]
        if 'unsafe-output' in texts:
            part: dict[str, Any] | None = None
            finish = 'IMAGE_SAFETY'
        elif 'no-image' in texts:
            part, finish, out_tokens = {'text': 'I cannot draw that.'}, 'STOP', 8
        else:
            data = png(int(w * scale), int(h * scale), texts)
            part, finish = {'inlineData': {'mimeType': 'image/png', 'data': b64(data)}}, 'STOP'
        modality = 'IMAGE' if part and 'inlineData' in part else 'TEXT'
        usage.update(
            candidatesTokenCount=out_tokens,
            totalTokenCount=prompt_tokens + out_tokens + 200,
            candidatesTokensDetails=[{'modality': modality, 'tokenCount': out_tokens}],
        )
        candidate: dict[str, Any] = {'finishReason': finish, 'index': 0}
        if part is not None:
            candidate['content'] = {'role': 'model', 'parts': [part]}
        charged = (
            prompt_tokens * text_in
            + 200 * text_rate
            + out_tokens * (image_rate if modality == 'IMAGE' else text_rate)
        ) / 1e6
        reply = Reply.json(200, {**answer, 'candidates': [candidate], 'usageMetadata': usage})
        if outcome == 'reset':
            return Reply(0, drop=True), charged
        if outcome == 'drip':
            reply.drip = self.drip_interval
        if outcome == 'gzip-bomb':
            headers = {'Content-Type': 'application/json', 'Content-Encoding': 'gzip'}
            return Reply(200, self.bomb, headers), charged
        return reply, charged


def _text_problem(body: dict[str, Any]) -> str | None:
    for name in body:
        if name not in ('contents', 'generationConfig', 'safetySettings', 'systemInstruction'):
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    contents = body.get('contents')
    if not isinstance(contents, list) or not contents:
        return '* GenerateContentRequest.contents: contents is not specified'
    for i, content in enumerate(contents):
        parts = content.get('parts') if isinstance(content, dict) else None
        if not parts or not all(isinstance(p.get('text'), str) for p in parts):
            return f'* GenerateContentRequest.contents[{i}].parts: text parts expected'
    for name in body.get('generationConfig', {}):
        if name not in TEXT_GENERATION_FIELDS:
            return (
                f'Invalid JSON payload received. Unknown name "{name}" at '
                "'generation_config': Cannot find field."
            )
    return None


def _embed_problem(model: str, body: dict[str, Any]) -> str | None:
    for name in body:
        if name not in EMBED_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    if body.get('model', f'models/{model}') != f'models/{model}':
        return f'* EmbedContentRequest.model: {body["model"]} does not match the URL.'
    parts = body.get('content', {}).get('parts') if isinstance(body.get('content'), dict) else None
    if not parts or not all(isinstance(p, dict) and isinstance(p.get('text'), str) for p in parts):
        return '* EmbedContentRequest.content: content is not specified'
    task = body.get('taskType')
    if task is not None and task not in TASK_TYPES:
        return f'Invalid value at \'task_type\': "{task}"'
    dims = body.get('outputDimensionality')
    if dims is not None and (not isinstance(dims, int) or not 1 <= dims <= 3072):
        return f'* EmbedContentRequest.output_dimensionality: {dims} is out of range'
    return None


def _validate(model: str, body: dict[str, Any]) -> str | None:
    for name in body:
        if name not in ('contents', 'generationConfig', 'safetySettings', 'systemInstruction'):
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    contents = body.get('contents')
    if not isinstance(contents, list) or not contents or not contents[0].get('parts'):
        return '* GenerateContentRequest.contents: contents is not specified'
    images = 0
    for i, part in enumerate(contents[0]['parts']):
        inline = part.get('inline_data') or part.get('inlineData')
        if inline is not None:
            images += 1
            mime = inline.get('mime_type') or inline.get('mimeType')
            if mime not in ('image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif'):
                return f'* contents.parts[{i}].inline_data.mime_type: unsupported {mime!r}'
            if decode_image(inline.get('data')) is None:
                return f'* contents.parts[{i}].inline_data.data: Unable to process input image.'
        elif not isinstance(part.get('text'), str):
            return f'* contents.parts[{i}]: a part needs text or inline_data.'
    if images > 14:
        return f'Too many images: {images}; this model takes at most 14 input images.'
    config = body.get('generationConfig', {})
    for name in config:
        if name not in GENERATION_FIELDS:
            return (
                f'Invalid JSON payload received. Unknown name "{name}" at '
                "'generation_config': Cannot find field."
            )
    if 'IMAGE' not in config.get('responseModalities', []):
        return 'responseModalities must include IMAGE for an image model.'
    image_config = config.get('imageConfig', {})
    ratio = image_config.get('aspectRatio')
    if ratio is not None and ratio not in RATIOS:
        return f'* generation_config.image_config.aspect_ratio: unsupported value {ratio!r}'
    size = image_config.get('imageSize')
    if size is not None and size not in MODELS[model]:
        return f'* generation_config.image_config.image_size: unsupported value {size!r}'
    return None


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    parts = body.get('contents', [{}])[0].get('parts', [])
    return {
        'parts': [
            ('text', p['text'])
            if 'text' in p
            else (
                'image',
                (p.get('inline_data') or p.get('inlineData') or {}).get('mime_type', '?'),
            )
            for p in parts
        ],
        'generationConfig': body.get('generationConfig'),
    }
