"""Progress bars for long work: tqdm on a terminal, nothing otherwise."""

from __future__ import annotations

import os
import sys
from typing import Any


class Progress:
    """Counts done cells and errors; draws a bar when enabled."""

    def __init__(self, total: int, desc: str, *, enabled: bool | None) -> None:
        self.done = 0
        self.errors = 0
        self._bar: Any = None
        if progress_enabled(enabled) and total > 0:
            # tqdm costs a tenth of a second to import; only a terminal needs it.
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit='cell', leave=False, file=sys.stderr)

    def update(self, n: int = 1, *, errors: int = 0) -> None:
        """Record ``n`` finished cells, ``errors`` of which failed."""
        self.done += n
        self.errors += errors
        if self._bar is not None:
            self._bar.update(n)
            if errors:
                self._bar.set_postfix(errors=self.errors, refresh=False)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_enabled(setting: bool | None) -> bool:
    """Explicit setting, else ``REVERIE_PROGRESS``, else whether stderr is a terminal."""
    if setting is not None:
        return setting
    env = os.environ.get('REVERIE_PROGRESS')
    if env is not None and env != '':
        return env.strip().lower() not in ('0', 'false', 'no', 'off')
    return sys.stderr.isatty()
