"""Where an answer's lag goes, for the kill-under-load measurements (imported by the child).

Imported only when ``KILL_TRACE`` names a file: it wraps (never replaces) three steps of the
real code and appends ``request id, stage, wall time`` per answer to that file:

- ``headers``: the answer's status line and headers are in (httpx response hook);
- ``received``: its whole body is read (``ReveClient._send`` returned);
- ``decoded``: JSON parsed and the image base64-decoded (``parse_result`` returned);
- ``noted``: its media file and spill note are written (``AnswerKeeper.note`` returned).

The server's ``t_end`` (request log) is the other end; ``kill_lag`` joins them.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from typing import Any

import httpx

from reverie.exec import answers
from reverie.functions.reve import client as reve_client

_out = open(os.environ['KILL_TRACE'], 'a', buffering=1)  # noqa: SIM115 (lives with the process)
_lock = threading.Lock()


def _mark(request_id: str | None, stage: str) -> None:
    line = f'{request_id}\t{stage}\t{time.time():.6f}\n'
    with _lock:
        _out.write(line)


async def _on_headers(response: httpx.Response) -> None:
    _mark(response.headers.get('X-Reve-Request-Id'), 'headers')


_init = reve_client.ReveClient.__init__


@functools.wraps(_init)
def _client_init(self: reve_client.ReveClient, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    self._http.event_hooks['response'].append(_on_headers)


_send = reve_client.ReveClient._send


@functools.wraps(_send)
async def _traced_send(self: reve_client.ReveClient, *args: Any, **kwargs: Any) -> httpx.Response:
    response = await _send(self, *args, **kwargs)
    _mark(response.headers.get('X-Reve-Request-Id'), 'received')
    return response


_parse = reve_client.parse_result


@functools.wraps(_parse)
def _traced_parse(*args: Any, **kwargs: Any) -> Any:
    result = _parse(*args, **kwargs)
    _mark(result.request_id, 'decoded')
    return result


_note = answers.AnswerKeeper.note


@functools.wraps(_note)
async def _traced_note(self: answers.AnswerKeeper, *args: Any, **kwargs: Any) -> Any:
    _LOOP_THREAD['id'] = threading.get_ident()
    noted = await _note(self, *args, **kwargs)
    _mark(noted.answer.request_id, 'noted')
    return noted


reve_client.ReveClient.__init__ = _client_init  # type: ignore[method-assign]
reve_client.ReveClient._send = _traced_send  # type: ignore[method-assign]
reve_client.parse_result = _traced_parse
answers.AnswerKeeper.note = _traced_note  # type: ignore[method-assign]


def _sample_loop(every: float = 0.002) -> None:
    """With ``KILL_PROFILE`` set: what the event loop's thread runs, sampled (a rough profile).

    Appends ``sample`` lines (innermost frame of the loop thread, and the innermost frame in
    reverie) once a second, so a kill -9 loses at most a second of samples.
    """
    import collections
    import sys

    counts: collections.Counter[str] = collections.Counter()
    last = time.monotonic()
    while True:
        time.sleep(every)
        ident = _LOOP_THREAD.get('id')
        frame = sys._current_frames().get(ident) if ident else None
        if frame is not None:
            top = f'{frame.f_code.co_filename.rsplit("/", 2)[-1]}:{frame.f_code.co_name}'
            ours = frame
            while ours is not None and '/reverie/' not in ours.f_code.co_filename:
                ours = ours.f_back
            mine = '-'
            if ours is not None:
                code = ours.f_code
                mine = f'{code.co_filename.rsplit("/", 2)[-1]}:{code.co_name}:{ours.f_lineno}'
            counts[f'{top} | {mine}'] += 1
        if time.monotonic() - last > 1 and counts:
            with _lock:
                for key, n in counts.items():
                    _out.write(f'sample\t{key}\t{n}\n')
            counts.clear()
            last = time.monotonic()


_LOOP_THREAD: dict[str, int] = {}
if os.environ.get('KILL_PROFILE'):
    threading.Thread(target=_sample_loop, daemon=True).start()
