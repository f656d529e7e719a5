"""Helpers shared by the reliability tests: child scripts, the request log, raw DB reads."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment of a child process: the test's env minus settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('REVERIE_', 'REVE_'))}
    env['REVERIE_HOME'] = str(home)
    env['REVERIE_PROGRESS'] = '0'
    env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    env.update(extra)
    return env


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start ``python *args`` from the repository root, its output captured."""
    return subprocess.Popen(
        [PYTHON, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m reverie.cli ARGS`` and return the finished process."""
    return subprocess.run(
        [PYTHON, '-m', 'reverie.cli', *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_log(path: Path) -> list[dict[str, Any]]:
    """The server's request log, one dict per image request."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def sqlite_cells(db: Path, input_col: str, computed_col: str) -> dict[str, tuple[Any, int, Any]]:
    """Raw read of one table: {input value: (computed value, state, claim owner)}.

    Reads the SQLite file directly (no reverie code), so it sees exactly what is committed.
    """
    con = sqlite3.connect(str(db), timeout=30)
    try:
        cols = dict(
            con.execute(
                'SELECT name, id FROM rv_columns WHERE name IN (?, ?)', (input_col, computed_col)
            ).fetchall()
        )
        (table_id,) = con.execute(
            'SELECT table_id FROM rv_columns WHERE id = ?', (cols[computed_col],)
        ).fetchone()
        i, c = cols[input_col], cols[computed_col]
        rows = con.execute(
            f'SELECT c{i}, c{c}, c{c}_s, _claim_owner FROM rvt_{table_id}'
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}
    finally:
        con.close()


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        return con.execute('PRAGMA integrity_check').fetchone()[0]
    finally:
        con.close()
