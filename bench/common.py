"""Helpers shared by the benchmark pieces: a fresh reverie home, timing, RSS."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def rss_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == 'darwin' else peak / 1024


@contextlib.contextmanager
def fresh_home(**env: str) -> Iterator[Path]:
    """Open reverie on a brand-new temp home (SQLite + media dir) and remove it afterwards."""
    import reverie as rv

    tmp = Path(tempfile.mkdtemp(prefix='reverie-bench-'))
    saved = {k: os.environ.get(k) for k in ('REVERIE_HOME', 'REVERIE_PROGRESS', *env)}
    os.environ['REVERIE_HOME'] = str(tmp)
    os.environ['REVERIE_PROGRESS'] = '0'
    os.environ.update(env)
    try:
        url = os.environ.get('REVERIE_MEDIA_URL')  # bench/s3.py: media in a bucket
        media = {'media_url': url} if url else {'media_dir': str(tmp / 'media')}
        rv.init({'home': str(tmp), 'db_url': f'sqlite:///{tmp}/r.db', **media})
        yield tmp
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._start


@dataclass(frozen=True)
class LoggedRequest:
    """One line of the server's request log."""

    endpoint: str
    status: int
    t_start: float
    t_end: float


class ServerProcess:
    """The local Reve-compatible server in its own process, as a remote API would be.

    Running it in the benchmark's process would let its rendering compete with reverie for
    the interpreter lock and charge the server's work to reverie's figures.
    """

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self._log = log

    @property
    def requests(self) -> list[LoggedRequest]:
        if not self._log.exists():
            return []
        lines = self._log.read_text().splitlines()
        out = []
        for line in lines:
            d = json.loads(line)
            out.append(LoggedRequest(d['endpoint'], d['status'], d['t_start'], d['t_end']))
        return out

    @property
    def peak_concurrency(self) -> int:
        """Most admitted (non-429) calls in flight at once, from the log's intervals."""
        events = []
        for r in self.requests:
            if r.status != 429:
                events += [(r.t_start, 1), (r.t_end, -1)]
        peak = current = 0
        for _, step in sorted(events, key=lambda e: (e[0], e[1])):
            current += step
            peak = max(peak, current)
        return peak


def free_port() -> int:
    """A free TCP port on loopback (for a server started next)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def wait_for_port(proc: subprocess.Popen[bytes], port: int, what: str, timeout: float) -> None:
    """Wait until ``proc`` listens on ``port``; raise if it exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ''
                raise RuntimeError(f'{what} did not start' + (f': {err}' if err else '')) from None
            time.sleep(0.05)


@contextlib.contextmanager
def server_process(*flags: str) -> Iterator[ServerProcess]:
    """Start ``python -m reverie.reve_server`` on a free loopback port with ``flags``."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix='reverie-bench-server-'))
    log = tmp / 'requests.jsonl'
    cmd = [
        sys.executable,
        '-m',
        'reverie.reve_server',
        '--host',
        '127.0.0.1',
        '--port',
        str(port),
        '--request-log',
        str(log),
        *flags,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(proc, port, 'reve server', 20)
        yield ServerProcess(f'http://127.0.0.1:{port}', log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(tmp, ignore_errors=True)
