"""A column reference (``t.col``) reuses the schema last read; running it checks it again.

A point lookup built ``t.where(t.i == k).select(t.s, t.j)`` read the schema from the
database four times (once per column named, once to run); it now reads it once, to run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from tests.child import OPEN_CATALOG, run_python


@contextmanager
def _statements(catalog: Catalog) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    sa.event.listen(catalog.store.engine, 'before_cursor_execute', count)
    try:
        yield seen
    finally:
        sa.event.remove(catalog.store.engine, 'before_cursor_execute', count)


def test_naming_columns_reads_nothing_once_the_schema_was_read(catalog: Catalog) -> None:
    t = rv.create_table('t', {'s': rv.String, 'i': rv.Int})
    t.insert([{'s': 'a', 'i': 1}, {'s': 'b', 'i': 2}], print_stats=False)
    assert t.where(t.i == 2).select(t.s).collect()['s'] == ['b']
    with _statements(catalog) as seen:
        query = t.where(t.i == 2).select(t.s, t.i)
    assert seen == []
    with _statements(catalog) as seen:
        assert query.collect()['s'] == ['b']
    assert sum('rv_tables' in s for s in seen) == 1  # the schema, read once to run


def test_a_write_of_this_process_makes_the_next_reference_read_again(catalog: Catalog) -> None:
    t = rv.create_table('t', {'s': rv.String, 'w': rv.String | None})
    t.insert(s='a', print_stats=False)
    assert hasattr(t, 'w')
    t.drop_column('w')
    assert not hasattr(t, 'w')
    t.add_column(w=rv.Int | None)
    assert t.w.col_type == rv.Int | None


def test_a_column_another_process_dropped_fails_when_run(
    catalog: Catalog, db_url: str, tmp_path: Path
) -> None:
    t = rv.create_table('t', {'s': rv.String, 'w': rv.String | None})
    t.insert(s='a', print_stats=False)
    assert t.collect()['w'] == [None]  # the schema with 'w' is read
    proc = run_python(
        OPEN_CATALOG + "rv.get_table('t').drop_column('w')\n", db_url, str(tmp_path / 'media2')
    )
    assert proc.returncode == 0, proc.stderr
    query = t.select(t.w)  # built from the schema this process read: no database read
    with pytest.raises(rv.NotFoundError, match="Column 'w' of table 't' no longer exists"):
        query.collect()
    assert not hasattr(t, 'w')  # the failed run read the schema again
