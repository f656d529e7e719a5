"""Issue 22: terminal tables fit the terminal and never cut a path or URL."""

from __future__ import annotations

import reverie as rv
from reverie.display.text import text_table


def test_short_strings_are_whole_when_the_terminal_has_room(sqlite_catalog, monkeypatch):
    monkeypatch.setenv('COLUMNS', '200')
    t = rv.create_table('t', {'s': rv.String})
    t.insert([{'s': 'a sentence of exactly sixty characters, give or take a word'}])
    assert 'give or take a word' in repr(t.collect())  # was cut at 40 characters


def test_a_table_fits_the_width_and_keeps_paths_and_urls_whole():
    url = 'file:///home/you/reverie/demo_output/reverie_home/media/ab/' + 'c' * 64 + '.png'
    path = '/tmp/some/where/' + 'd' * 60 + '.png'
    long = 'a solarpunk oasis city at dawn, ' * 4
    text = text_table(['prompt', 'url', 'path'], [[long], [url], [path]], 1, width=100)
    assert url in text and path in text
    assert 'a solar' in text and '...' in text  # the prose gave way
    narrow = text_table(['prompt', 'n'], [[long], [1]], 1, width=50)
    assert max(map(len, narrow.splitlines())) == 50
