"""A column computed by SQL reads the data table only in its UPDATEs: no full scan to find
the row id range (a lone min() and max() each come from the B-tree's end) and, with no
progress bar, no count of pending cells."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import reverie as rv


@pytest.fixture
def statements(sqlite_catalog: Any) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine runs, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(sa.engine.Engine, 'before_cursor_execute', listen)
    yield seen
    sa.event.remove(sa.engine.Engine, 'before_cursor_execute', listen)


def _full_scans(db: sqlite3.Connection, seen: list[tuple[str, Any]], table: str) -> list[str]:
    """The SELECTs among ``seen`` that SQLite answers by reading every row of ``table``."""
    scans = []
    for statement, params in seen:
        if statement.lstrip().upper().startswith('SELECT') and table in statement:
            plan = db.execute(f'EXPLAIN QUERY PLAN {statement}', params).fetchall()
            if any(str(row[-1]).startswith(f'SCAN {table}') for row in plan):
                scans.append(statement)
    return scans


def test_adding_a_sql_column_scans_the_table_only_to_update_it(statements, tmp_path: Path):
    t = rv.create_table('t', {'a': rv.Int, 'b': rv.Int})
    t.insert([{'a': i, 'b': 3 * i} for i in range(2000)], print_stats=False)
    db = sqlite3.connect(tmp_path / 'reverie.db')
    (table,) = db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'rvt_%'").fetchone()
    statements.clear()
    t.add_computed_column(y=t.a * 2 + t.b, print_stats=False)
    assert any(s.startswith(f'UPDATE {table} SET') for s, _ in statements)
    assert _full_scans(db, statements, table) == []
    assert t.where(t.y == 5 * 7).count() == 1
    assert t.where(t.y == t.a * 2 + t.b).count() == 2000
