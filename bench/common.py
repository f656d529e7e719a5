"""Helpers shared by the benchmark pieces: a fresh reverie home, timing, RSS."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
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
        rv.init(
            {'home': str(tmp), 'db_url': f'sqlite:///{tmp}/r.db', 'media_dir': str(tmp / 'media')}
        )
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
