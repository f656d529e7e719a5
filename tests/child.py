"""Run Python code in another process, as a second user of the same catalog would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OPEN_CATALOG = (
    "import reverie as rv, sys\nrv.init({'db_url': sys.argv[1], 'media_dir': sys.argv[2]})\n"
)
"""The start of a child script: the catalog at ``argv[1]`` with media under ``argv[2]``."""


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -c code args...`` from the repository root; its output, checked by the caller."""
    return subprocess.run(
        [sys.executable, '-c', code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
