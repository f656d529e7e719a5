"""A computed column added while another thread's insert is being prepared: the insert must
not slip its rows in under the old columns (they would stay pending, computed by nobody)."""

from __future__ import annotations

import threading
import time

import reverie as rv


@rv.udf
def double(x: int) -> int:
    return 2 * x


def test_column_added_during_an_insert_is_computed_for_its_rows(catalog):
    t = rv.create_table('race', {'x': rv.Int})
    rows = [{'x': i} for i in range(60_000)]
    errors: list[BaseException] = []

    def insert() -> None:
        try:
            rv.get_table('race').insert(rows, print_stats=False)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    worker = threading.Thread(target=insert)
    worker.start()
    time.sleep(0.02)  # the insert is now validating its 60,000 rows
    t.add_computed_column(y=double(t.x), print_stats=False)
    worker.join(timeout=120)
    assert not errors, errors
    assert t.count() == 60_000
    assert t.where(t.y == None).count() == 0  # noqa: E711
    assert t.where(t.y != t.x * 2).count() == 0
