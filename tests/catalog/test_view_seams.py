"""What an operation on a base table does to the paid columns of its views: the budget and
the dry run of the operation cover them too (paid calls counted from the Reve stand-in)."""

from __future__ import annotations

from pathlib import Path

import pytest

import reverie as rv
from reverie.functions import reve
from tests.catalog import _view_helpers as h

CREATE = 18  # credits of one reve.create at the stand-in's price


def _rows(n: int) -> list[dict[str, object]]:
    return [{'n': i, 'prompt': f'prompt {i}'} for i in range(n)]


def test_an_inserts_budget_reaches_the_paid_columns_of_its_views(catalog, reve_log: Path):
    """Issue 17: the view's calls ran without the insert's budget (4 sent, 72 credits)."""
    t = rv.create_table('t', {'n': rv.Int, 'prompt': rv.String})
    v = rv.create_view('v', t)
    v.add_computed_column(img=reve.create(v.prompt), print_stats=False)
    with pytest.raises(rv.RunStoppedError, match='Budget reached') as info:
        t.insert(_rows(4), budget=2 * CREATE, print_stats=False)
    assert info.value.reason == 'budget'
    assert len(h.requests(reve_log)) == 2
    assert t.count() == 4 and v.count() == 4  # the rows are in; the rest stay pending
    assert v.where(v.img == None).count() == 2  # noqa: E711
    v.recompute_columns(print_stats=False)  # `reverie resume` finishes them
    assert len(h.requests(reve_log)) == 4


def test_the_budget_is_shared_by_the_table_and_its_views(catalog, reve_log: Path):
    t = rv.create_table('t', {'n': rv.Int, 'prompt': rv.String})
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    v = rv.create_view('v', t)
    v.add_computed_column(again=reve.create(v.prompt, aspect_ratio='1:1'), print_stats=False)
    with pytest.raises(rv.RunStoppedError, match='Budget reached'):
        t.insert(_rows(2), budget=3 * CREATE, print_stats=False)
    assert len(h.requests(reve_log)) == 3  # 2 for the table, 1 for the view


def test_a_dry_run_prices_the_views_the_insert_updates(catalog, reve_log: Path):
    """Issue 17: a dry run priced the base table only (0 calls here, 2 would be made)."""
    t = rv.create_table('t', {'n': rv.Int, 'prompt': rv.String})
    v = rv.create_view('v', t.where(t.n >= 1))
    v.add_computed_column(img=reve.create(v.prompt), print_stats=False)
    estimate = t.insert(_rows(3), dry_run=True)
    assert estimate.paid_calls == 2  # row 0 stays out of the view
    assert estimate.credits_high == 2 * CREATE
    assert t.count() == 0 and h.requests(reve_log) == []


def test_a_dry_run_follows_a_paid_column_into_the_view(catalog, reve_log: Path):
    """The view edits the image the table creates: both calls of each row are priced."""
    t = rv.create_table('t', {'n': rv.Int, 'prompt': rv.String})
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    v = rv.create_view('v', t)
    v.add_computed_column(blue=reve.edit(v.img, 'make it blue'), print_stats=False)
    assert t.insert(_rows(2), dry_run=True).paid_calls == 4
    t.insert(_rows(1), print_stats=False)
    assert len(h.requests(reve_log)) == 2
    # recomputing the table's images would recompute the view's edits too
    assert t.recompute_columns(t.img, dry_run=True).paid_calls == 2
    assert t.update({'prompt': 'other'}, dry_run=True).paid_calls == 2
    assert len(h.requests(reve_log)) == 2
