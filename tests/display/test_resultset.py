"""What the user reads: text tables in a terminal, HTML with small thumbnails in a notebook."""

from __future__ import annotations

import base64
import re

import PIL.Image
import pytest

import reverie as rv


@pytest.fixture
def photos(catalog):
    t = rv.create_table('photos', {'title': rv.String, 'n': rv.Int, 'img': rv.Image | None})
    big = PIL.Image.effect_noise((512, 384), 64).convert('RGB')  # noisy, so it compresses badly
    t.insert(
        [
            {'title': 'noise <b>', 'n': 1, 'img': big},
            {'title': 'x' * 100, 'n': 2, 'img': None},
        ],
        print_stats=False,
    )
    return t


def test_repr_is_a_text_table(photos, monkeypatch):
    monkeypatch.setenv('COLUMNS', '60')  # a narrow terminal
    text = repr(photos.select(photos.title, photos.n, photos.img).collect())
    assert 'title' in text and 'n' in text and 'img' in text
    assert '<Image 512x384 RGB>' in text
    assert 'noise <b>' in text
    assert 'x' * 20 + '...' in text  # long text is cut short to fit
    assert max(map(len, text.splitlines())) <= 60


def test_repr_html_has_small_thumbnail(photos, tmp_path):
    rs = photos.collect()
    html = rs._repr_html_()
    stored = next((tmp_path / 'media').rglob('*.png')).stat().st_size
    assert html.count('<img') == 1
    assert 'noise &lt;b&gt;' in html
    match = re.search(
        r'<img src="data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"',
        html,
    )
    assert match is not None
    assert (int(match[3]), int(match[4])) == (128, 96)
    thumb = base64.b64decode(match[2])
    assert len(thumb) < 40_000
    assert len(html) < stored / 10  # never the full image


def test_table_repr_describes_schema(photos):
    @rv.udf
    def shout(s: str) -> str:
        return s.upper()

    photos.add_computed_column(loud=shout(photos.title), print_stats=False)
    text = repr(photos)
    assert "Table 'photos'" in text
    assert 'Column Name' in text and 'Computed With' in text
    assert 'loud' in text and 'shout(title)' in text
    html = photos._repr_html_()
    assert '<table class="rv-table reverie-schema">' in html and '<pre>' not in html
    assert '<td class="rv-text">shout(title)</td>' in html


def test_query_repr_describes_it_without_running_it(photos):
    calls = []

    @rv.udf
    def spy(n: int) -> int:
        calls.append(n)
        return n

    query = photos.select(photos.img, k=spy(photos.n)).where(photos.n > 0).limit(1)
    text = repr(query)
    assert "Query on table 'photos'" in text
    assert 'select:   img, k=spy(n)' in text and 'where:    n > 0' in text
    assert 'limit:    1' in text
    assert '<pre>' in query._repr_html_()
    assert calls == []  # looking at a query never runs it (nor pays for it)
    assert '<Image 512x384 RGB>' in repr(query.collect())
    assert '<img' in query.collect()._repr_html_()
    assert calls
