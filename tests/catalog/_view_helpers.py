"""UDFs and row readers the view and snapshot tests share.

The UDFs count their calls in module-level lists (one entry per call), so a test can tell
which rows were computed. They live in a module of their own so that a child process finds
them again by dotted path (``tests.catalog._view_helpers.times10``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import reverie as rv
from reverie.store.db import ROWID

CALLS: list[int] = []  # one entry (the input) per call of times10
SALTED: list[int] = []  # one entry per call of salted
SALT = [1]  # what salted() adds; tests change it to make recompute_columns change values


@rv.udf
def times10(a: int) -> int:
    """10 * a, counted in CALLS."""
    CALLS.append(a)
    return a * 10


@rv.udf
def salted(a: int) -> int:
    """a + SALT[0], counted in SALTED."""
    SALTED.append(a)
    return a + SALT[0]


@rv.udf
def is_odd(a: int) -> bool:
    """A filter only Python can evaluate."""
    return a % 2 == 1


@rv.udf
def gated(a: int) -> bool:
    """``a >= 0``. With $GATE_MARK set, the call for a == 0 touches that file, then waits
    (up to 60 s) for the file $GATE_GO: a test's way to act while a sync is under way."""
    mark = os.environ.get('GATE_MARK')
    if mark and a == 0:
        Path(mark).touch()
        deadline = time.monotonic() + 60
        while not Path(os.environ['GATE_GO']).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return a >= 0


def reset_calls() -> None:
    CALLS.clear()
    SALTED.clear()


def stored(table: rv.Table, *names: str) -> dict[int, tuple[Any, ...]]:
    """Rows of ``table`` (at its pinned version, if any) by row id: the cells of ``names``.

    A computed (or mirrored computed) column gives (value, state, errortype, errormsg); a
    stored one its value. Read straight from SQL, so base and view rows compare exactly.
    """
    schema = table._schema()
    src = schema.reads
    cols: list[Any] = []
    for name in names:
        c = schema.require(name)
        cols.append(src.c[c.sql.value])
        if c.is_computed:
            cols += [src.c[c.sql.state], src.c[c.sql.errortype], src.c[c.sql.errormsg]]
    with table._catalog.store.read() as conn:
        rows = conn.execute(sa.select(src.c[ROWID], *cols)).all()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def values(table: rv.Table, *names: str) -> dict[int, tuple[Any, ...]]:
    """Like ``stored`` but only the values of ``names`` (no cell states)."""
    schema = table._schema()
    src = schema.reads
    cols = [src.c[schema.require(name).sql.value] for name in names]
    with table._catalog.store.read() as conn:
        rows = conn.execute(sa.select(src.c[ROWID], *cols)).all()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def requests(log: Path) -> list[tuple[str, str]]:
    """(endpoint kind, prompt or instruction) of each request the Reve stand-in was paid for."""
    entries = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return [(e['endpoint'], e.get('prompt') or e.get('edit_instruction')) for e in entries]
