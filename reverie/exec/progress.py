"""Progress bars for long work, wherever the user is looking.

- a Jupyter kernel with ipywidgets: tqdm's notebook bar;
- a Jupyter kernel without ipywidgets: a plain-text bar (the notebook redraws it in place);
- a terminal: tqdm's terminal bar on stderr;
- anything else (pipes, files, ``REVERIE_PROGRESS=0``): no bar.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any, Literal

BarKind = Literal['notebook', 'text', 'terminal', 'off']


class Progress:
    """Counts done cells and errors; draws a bar when enabled."""

    def __init__(self, total: int, desc: str, *, enabled: bool | None) -> None:
        self.done = 0
        self.errors = 0
        self._bar: Any = None
        kind = bar_kind(enabled) if total > 0 else 'off'
        if kind != 'off':
            self._bar = _make_bar(kind, total, desc)

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


def bar_kind(
    setting: bool | None,
    *,
    kernel: bool | None = None,
    widgets: bool | None = None,
    tty: bool | None = None,
) -> BarKind:
    """Which bar to draw: the explicit setting, else ``REVERIE_PROGRESS``, else where we run.

    ``kernel``, ``widgets`` and ``tty`` default to what this process sees.
    """
    env = os.environ.get('REVERIE_PROGRESS', '').strip().lower()
    if setting is False or (setting is None and env in _OFF):
        return 'off'
    kernel = in_kernel() if kernel is None else kernel
    if kernel:
        widgets = importlib.util.find_spec('ipywidgets') is not None if widgets is None else widgets
        return 'notebook' if widgets else 'text'
    tty = sys.stderr.isatty() if tty is None else tty
    if setting is True or env not in ('', *_OFF) or tty:
        return 'terminal'
    return 'off'


def in_kernel() -> bool:
    """Whether this process is a Jupyter (IPython) kernel."""
    ipython = sys.modules.get('IPython')
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return type(shell).__name__ == 'ZMQInteractiveShell'  # the shell ipykernel runs


_OFF = ('0', 'false', 'no', 'off')


def _make_bar(kind: BarKind, total: int, desc: str) -> Any:
    # tqdm costs a tenth of a second to import; only a visible bar needs it.
    if kind == 'notebook':
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(total=total, desc=desc, unit='cell', leave=False)
    from tqdm import tqdm

    if kind == 'text':
        # A kernel's stderr is no terminal; the notebook still honours '\r', so the
        # bar redraws in place. Fixed width and a slower refresh keep the output small.
        return tqdm(total=total, desc=desc, unit='cell', file=sys.stderr, ncols=80, mininterval=0.5)
    return tqdm(total=total, desc=desc, unit='cell', leave=False, file=sys.stderr)
