"""The UI's own reads (keyset paging, cell-state counts, error groups, work) on SQLite and
PostgreSQL, through HTTP and through the modules themselves."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.ui import grid, work
from reverie.ui.errors_view import error_groups
from reverie.ui.server import serve_in_thread
from reverie.ui.tables import open_table, table_info
from tests.ui.site import square


@rv.udf
def parity(n: int) -> str:
    if n % 3 == 0:
        raise ValueError('multiples of three are refused')
    return 'even' if n % 2 == 0 else 'odd'


@pytest.fixture
def table(catalog):
    rv.create_dir('d')
    t = rv.create_table(
        'd/nums', {'n': rv.Int, 'label': rv.String | None, 'photo': rv.Image | None}
    )
    rows = [
        {'n': i, 'label': None if i % 4 == 0 else f'label {i % 5}', 'photo': None}
        for i in range(1, 31)
    ]
    rows[0]['photo'] = square((200, 50, 50), (300, 200), 'one')
    t.insert(rows)
    t.add_computed_column(kind=parity(t.n), on_error='ignore')
    return t


def _all_pages(catalog, schema, **query):
    params = grid.GridParams.parse({**query, 'limit': '7'})
    seen = []
    while True:
        page = grid.page(catalog, schema, params)
        seen += [c.rowid for c in page.cards]
        if page.next_after is None:
            return seen
        params = grid.GridParams.parse({**query, 'limit': '7', 'after': page.next_after})


@pytest.mark.parametrize('desc', ['', '1'], ids=['asc', 'desc'])
def test_keyset_paging_visits_every_row_once_in_order(catalog, table, desc):
    schema = open_table(catalog, 'd/nums').schema
    assert _all_pages(catalog, schema, desc=desc) == sorted(range(1, 31), reverse=bool(desc))
    by_label = _all_pages(catalog, schema, sort='label', desc=desc)
    labelled = sorted(
        (i for i in range(1, 31) if i % 4), key=lambda i: (f'label {i % 5}', i), reverse=bool(desc)
    )
    nulls = sorted((i for i in range(1, 31) if i % 4 == 0), reverse=bool(desc))
    assert by_label == labelled + nulls  # rows without a value come last
    errors = _all_pages(catalog, schema, errors='kind')
    assert errors == [i for i in range(1, 31) if i % 3 == 0]
    assert _all_pages(catalog, schema, **{'f.label': 'LABEL 2'}) == [
        i for i in range(1, 31) if i % 4 and i % 5 == 2
    ]
    assert _all_pages(catalog, schema, **{'f.n': '7'}) == [7]


def test_counts_groups_and_work(catalog, table):
    opened = open_table(catalog, 'd/nums')
    info = table_info(catalog, opened)
    assert info.rows == 30
    assert {c.name: (c.pending, c.errors) for c in info.columns if c.computed} == {'kind': (0, 10)}
    (group,) = error_groups(catalog, opened.schema)
    assert (group.column, group.errortype, group.count) == ('kind', 'ValueError', 10)
    assert group.rows == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    snap = work.snapshot(catalog)
    assert [(w.table, w.column, w.done, w.pending, w.errors) for w in snap.columns] == [
        ('d/nums', 'kind', 30, 0, 10)
    ]
    assert snap.claims == []
    # A worker on another host holding rows 1-5 (what exec/cells.py writes when it claims).
    data = opened.schema.sa_table
    with catalog.store.begin() as conn:
        conn.execute(
            sa.update(data)
            .where(data.c._rowid <= 5)
            .values(_claim_owner='gpu-box-7:4242:ab12cd34', _claim_until=time.time() + 60)
        )
    (claim,) = work.snapshot(catalog).claims
    assert (claim.table, claim.host, claim.pid, claim.rows) == ('d/nums', 'gpu-box-7', '4242', 5)
    assert 50 < claim.lease_left_s <= 60


def test_every_page_answers(catalog, table):
    with serve_in_thread(catalog) as bound, httpx.Client(base_url=bound.url) as client:
        for path in [
            '/',
            '/t/d/nums',
            '/grid/d/nums',
            '/grid/d/nums?sort=label&desc=1',
            '/grid/d/nums:1',
            '/grid/d/nums?pending=*',
            '/cell/d/nums?row=1&col=photo',
            '/cell/d/nums?row=3&col=kind',
            '/compare/d/nums',
            '/errors/d/nums',
            '/estimate/d/nums?col=kind',
            '/history/d/nums',
            '/cost',
            '/work',
        ]:
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:300])
        thumb = client.get('/grid/d/nums').text.split('src="/thumb/')[1].split('"')[0]
        r = client.get('/thumb/' + thumb.replace('&amp;', '&'))
        assert r.status_code == 200 and r.headers['content-type'] == 'image/webp'
        assert client.get('/grid/d/nums?f.n=abc').status_code == 400
        assert client.get('/grid/d/nope').status_code == 404
        assert client.get('/grid/d/nums:99').status_code == 404
