"""Issue 22: ``rv.calls()`` shown in a REPL or notebook is readable, with real timestamps."""

from __future__ import annotations

import datetime

import reverie as rv
from reverie.catalog.calls import COLUMNS, SHOWN
from reverie.catalog.catalog import Catalog
from reverie.functions import reve


def test_calls_show_a_readable_selection_with_timestamps(catalog: Catalog, service) -> None:
    service()
    t = rv.create_table('shown', {'prompt': rv.String})
    t.insert([{'prompt': 'a fox'}], print_stats=False)
    t.add_computed_column(img=reve.create(t.prompt, aspect_ratio='1:1'), print_stats=False)
    calls = rv.calls(t)
    text = repr(calls)
    header = text.splitlines()[1]
    assert [h.strip() for h in header.strip('|').split('|')] == list(SHOWN)
    assert 'fingerprint' not in header and 'journal_id' not in header
    assert 'e+09' not in text  # times were epoch floats: 1.79662e+09
    assert f'{len(COLUMNS) - len(SHOWN)} more columns' in text
    started = calls.collect()['started_at'][0]
    assert isinstance(started, datetime.datetime) and started.tzinfo is not None
    assert abs(started - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(minutes=5)
    html = calls._repr_html_()
    assert '<table' in html and 'fingerprint' not in html.split('more columns')[0]
    assert 'outcome' in html
    # An explicit selection is shown as chosen; collect() keeps every column.
    assert 'fingerprint' in repr(calls.select('fingerprint'))
    assert len(calls.collect().schema) == len(COLUMNS)
