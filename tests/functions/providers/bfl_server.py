"""Stand-in for the Black Forest Labs FLUX API: submit, poll, download.

Written from the published contract: ``POST /v1/{model}`` with the key in ``x-key``
answers ``{id, polling_url, cost, input_mp, output_mp}`` (cost in credits, 1 credit =
0.01 USD); ``GET /v1/get_result?id=`` answers ``{id, status, result, progress, details}``
with status ``Pending``, ``Ready`` (``result.sample`` is a signed URL that expires),
``Request Moderated``, ``Content Moderated``, ``Error`` or ``Task not found``. Errors are
``{"detail": ...}`` (422 validation lists ``loc``/``msg``/``type``); 402 when credits run
out; 429 past ``max_active`` active tasks (24 by default).
Prompts: ``forbidden`` -> Request Moderated; ``unsafe-output`` -> Content Moderated;
``task-error`` -> Error. Script outcomes: ``429``, ``500``, ``reset``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.functions.providers.base import Call, Reply, Request, StandIn, decode_image, png, shorten

# Credits by model: first output MP, each further MP, each input MP (bfl.ai/pricing).
PRICES = {
    'flux-2-pro': (3.0, 1.5, 1.5),
    'flux-2-max': (7.0, 3.0, 3.0),
    'flux-2-flex': (5.0, 5.0, 5.0),
    'flux-2-klein-4b': (1.4, 0.1, 0.1),
    'flux-2-klein-9b': (1.5, 0.2, 0.2),
}
FIELDS = {
    'prompt',
    'seed',
    'width',
    'height',
    'safety_tolerance',
    'output_format',
    'prompt_upsampling',
    'webhook_url',
    'webhook_secret',
    'steps',
    'guidance',
    'input_image',
    *(f'input_image_{i}' for i in range(2, 9)),
}
_SECRET = b'stand-in-signing-secret'


@dataclass
class Task:
    prompt: str
    width: int
    height: int
    polls_left: int
    done: bool = False
    ready_answers: int = 0


class BFLStandIn(StandIn):
    key = 'bfl-test-key-0123456789'

    def __init__(self, host: str = '127.0.0.1') -> None:
        super().__init__(host)
        self.tasks: dict[str, Task] = {}
        self.credits = 10_000.0
        self.max_active = 24
        self.pending_polls = 1  # polls answered Pending before Ready
        self.url_ttl = 600.0  # seconds a signed result URL stays valid
        # Ready answers per task whose URL has expired by the time it is fetched (a slow
        # client); each poll of a Ready task signs a fresh URL, as the real API does.
        self.stale_urls = 0
        self.polling_base: str | None = None  # another origin for polling_url, if set
        self._task_lock = threading.Lock()

    def handle(self, request: Request) -> Reply:
        if request.path.startswith('/delivery/'):
            return self._deliver(request)
        if request.headers.get('x-key') != self.key:
            self.log(Call(request.method, request.path, 403))
            return Reply.json(403, {'detail': 'Not authenticated'})
        if request.method == 'GET' and request.path == '/v1/get_result':
            return self._result(request)
        if request.method == 'POST' and request.path.startswith('/v1/'):
            return self._submit(request)
        return Reply.json(404, {'detail': 'Not Found'})

    def active(self) -> int:
        with self._task_lock:
            return sum(not t.done for t in self.tasks.values())

    def _submit(self, request: Request) -> Reply:
        model = request.path.removeprefix('/v1/')
        body = request.json()
        reply, charged = self._accept(model, body)
        self.log(
            Call('POST', request.path, reply.status, charged, shorten(body), dict(request.headers))
        )
        return reply

    def _accept(self, model: str, body: dict[str, Any]) -> tuple[Reply, float]:
        if model not in PRICES:
            return Reply.json(404, {'detail': 'Not Found'}), 0.0
        errors = _validate(body)
        if errors:
            return Reply.json(422, {'detail': errors}), 0.0
        outcome = self.next_outcome()
        if outcome == '429' or self.active() >= self.max_active:
            return Reply.json(
                429,
                {
                    'detail': f'You have reached the maximum number of active '
                    f'tasks ({self.max_active}).'
                },
            ), 0.0
        if outcome == '500':
            return Reply.json(500, {'detail': 'Internal Server Error'}), 0.0
        inputs = [decode_image(body[k]) for k in sorted(body) if k.startswith('input_image')]
        first = inputs[0] if inputs else None
        width = body.get('width') or (first.width if first else 1024)
        height = body.get('height') or (first.height if first else 1024)
        out_mp = math.ceil(width * height / 1e6 - 0.05)
        in_mp = sum(math.ceil(i.width * i.height / 1e6 - 0.05) or 1 for i in inputs if i)
        first_mp, extra, per_input = PRICES[model]
        credits = first_mp + max(0, out_mp - 1) * extra + in_mp * per_input
        if credits > self.credits:
            return Reply.json(
                402, {'detail': 'Insufficient credits. Please add credits to your account.'}
            ), 0.0
        self.credits -= credits
        task_id = str(uuid.uuid4())
        with self._task_lock:
            self.tasks[task_id] = Task(body['prompt'], width, height, self.pending_polls)
        base = self.polling_base or self.url
        answer = {
            'id': task_id,
            'polling_url': f'{base}/v1/get_result?id={task_id}',
            'cost': credits,
            'input_mp': in_mp,
            'output_mp': out_mp,
        }
        if outcome == 'reset':
            return Reply(0, drop=True), credits * 0.01
        return Reply.json(200, answer), credits * 0.01

    def _result(self, request: Request) -> Reply:
        task_id = request.query.get('id', '')
        self.log(Call('GET', request.path, 200, fields={'id': task_id}))
        with self._task_lock:
            task = self.tasks.get(task_id)
            if task is None:
                return Reply.json(200, {'id': task_id, 'status': 'Task not found'})
            if task.polls_left > 0:
                task.polls_left -= 1
                return Reply.json(
                    200,
                    {
                        'id': task_id,
                        'status': 'Pending',
                        'result': None,
                        'progress': 0.5,
                        'details': None,
                    },
                )
            task.done = True
            task.ready_answers += 1
            stale = task.ready_answers <= self.stale_urls
        for word, status in (
            ('forbidden', 'Request Moderated'),
            ('unsafe-output', 'Content Moderated'),
            ('task-error', 'Error'),
        ):
            if word in task.prompt:
                return Reply.json(
                    200,
                    {
                        'id': task_id,
                        'status': status,
                        'result': None,
                        'details': {'reason': status},
                    },
                )
        expires = time.time() + (-1.0 if stale else self.url_ttl)
        sig = _sign(task_id, expires)
        sample = f'{self.url}/delivery/{task_id}.png?se={expires:.3f}&sig={sig}'
        return Reply.json(
            200,
            {
                'id': task_id,
                'status': 'Ready',
                'progress': None,
                'details': None,
                'result': {'sample': sample, 'seed': 42, 'prompt': task.prompt},
            },
        )

    def _deliver(self, request: Request) -> Reply:
        task_id = request.path.removeprefix('/delivery/').removesuffix('.png')
        expires = float(request.query.get('se', '0'))
        ok = hmac.compare_digest(request.query.get('sig', ''), _sign(task_id, expires))
        self.log(Call('GET', '/delivery', 200 if ok and time.time() < expires else 403))
        if not ok or time.time() >= expires:
            body = (
                b'<Error><Code>AuthenticationFailed</Code>'
                b'<Message>Signed expiry time has passed.</Message></Error>'
            )
            return Reply(403, body, {'Content-Type': 'application/xml'})
        task = self.tasks[task_id]
        return Reply(200, png(task.width, task.height, task.prompt), {'Content-Type': 'image/png'})


def _sign(task_id: str, expires: float) -> str:
    return hmac.new(_SECRET, f'{task_id}|{expires:.3f}'.encode(), hashlib.sha256).hexdigest()[:32]


def _validate(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors = []

    def bad(field: str, msg: str, kind: str) -> None:
        errors.append({'loc': ['body', field], 'msg': msg, 'type': kind})

    for name in body:
        if name not in FIELDS:
            bad(name, 'Extra inputs are not permitted', 'extra_forbidden')
    if not isinstance(body.get('prompt'), str) or not body['prompt']:
        bad('prompt', 'Field required', 'missing')
    for side in ('width', 'height'):
        value = body.get(side)
        if value is not None and (not isinstance(value, int) or value < 64 or value % 16):
            bad(side, 'Input should be a multiple of 16 and at least 64', 'value_error')
    if body.get('output_format', 'jpeg') not in ('jpeg', 'png'):
        bad('output_format', "Input should be 'jpeg' or 'png'", 'enum')
    for name in body:
        if name.startswith('input_image') and decode_image(body[name]) is None:
            bad(name, 'Input should be a base64 image or URL', 'value_error')
    if 'input_image' not in body and any(k.startswith('input_image_') for k in body):
        bad('input_image', 'input_image_N needs input_image first', 'value_error')
    return errors
