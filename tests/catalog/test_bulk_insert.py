"""The bulk insert checks plain columns at once and still refuses what the row path refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

import reverie as rv
from reverie.exec.inserts import COPY_MIN_ROWS


def test_bulk_insert_keeps_values_and_nulls() -> None:
    t = rv.create_table('bulk', {'s': rv.String | None, 'i': rv.Int, 'f': rv.Float, 'b': rv.Bool})
    rows = [
        {'s': None if i % 3 == 0 else f'r{i}', 'i': i, 'f': i / 2, 'b': i % 2 == 0}
        for i in range(50)
    ]
    status = t.insert(rows, print_stats=False)
    assert status.num_rows == 50
    got = sorted(t.select(t.s, t.i, t.f, t.b).collect(), key=lambda r: r['i'])
    assert got == rows


@pytest.mark.parametrize(
    ('bad', 'words'),
    [
        ({'s': 'nul\x00', 'i': 1}, 'NUL'),
        ({'s': 'x', 'i': 2**63}, "'i'"),
        ({'s': None, 'i': 1}, 'cannot be None'),
        ({'s': 'x', 'i': 'one'}, "'i'"),
    ],
)
def test_bulk_insert_refuses_one_bad_row_by_name(bad: dict[str, object], words: str) -> None:
    t = rv.create_table('bulk_bad', {'s': rv.String, 'i': rv.Int}, if_exists='replace')
    rows = [{'s': f'r{k}', 'i': k} for k in range(20)] + [bad]
    with pytest.raises(rv.InvalidValueError, match=words) as e:
        t.insert(rows, print_stats=False)
    assert 'row 20' in str(e.value)
    assert t.count() == 0


def test_bulk_insert_of_non_ascii_strings_goes_through_validate() -> None:
    t = rv.create_table('bulk_uni', {'s': rv.String})
    t.insert([{'s': 'café'}, {'s': 'naïve'}], print_stats=False)
    assert sorted(r['s'] for r in t.collect()) == ['café', 'naïve']


def test_bulk_insert_past_the_copy_threshold_keeps_every_value(db_url: str, tmp_path: Path) -> None:
    """PostgreSQL takes a large insert through COPY; SQLite through executemany; views follow."""
    rv.init({'db_url': db_url, 'home': str(tmp_path), 'media_dir': str(tmp_path / 'media')})
    t = rv.create_table('big', {'s': rv.String | None, 'i': rv.Int, 'f': rv.Float, 'b': rv.Bool})
    v = rv.create_view('big_even', t.where(t.i % 2 == 0))
    n = COPY_MIN_ROWS + 7
    rows = [
        {'s': None if i % 5 == 0 else f"r{i} 'q' \\ \t", 'i': i, 'f': i / 4, 'b': i % 3 == 0}
        for i in range(n)
    ]
    t.insert(rows, print_stats=False)
    got = sorted(t.select(t.s, t.i, t.f, t.b).collect(), key=lambda r: r['i'])
    assert got == rows
    assert v.count() == (n + 1) // 2
