"""In IPython and Jupyter, a reverie error shows the user's lines, not reverie's insides.

A bad value or a misspelt name is the caller's to fix; the frames inside ``reverie/``
between the cell and the ``raise`` only hide the message. The handler keeps the cell's
frames (and those of the user's own functions) and drops ours.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

from reverie.errors import Error

PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def install_traceback_filter() -> None:
    """Register the handler with the running IPython shell, if any.

    Only when no handler is registered yet, so a user's own handler is never replaced.
    """
    ipython = sys.modules.get('IPython')
    shell: Any = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    handled: Any = getattr(shell, 'custom_exceptions', None)
    if handled:
        return
    shell.set_custom_exc((Error,), _show_without_internal_frames)


def user_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` without the frames of reverie's own files (itself when nothing would be left)."""
    kept: list[types.TracebackType] = []
    walk = tb
    while walk is not None:
        if not walk.tb_frame.f_code.co_filename.startswith(PACKAGE_DIR):
            kept.append(walk)
        walk = walk.tb_next
    if not kept:
        return tb
    trimmed: types.TracebackType | None = None
    for t in reversed(kept):
        trimmed = types.TracebackType(trimmed, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return trimmed


def _show_without_internal_frames(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: types.TracebackType | None,
    tb_offset: int | None = None,
) -> None:
    shell.showtraceback((etype, value, user_frames(tb)), tb_offset=tb_offset)
