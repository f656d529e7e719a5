"""Every page of ``reverie ui`` in headless Chromium, on a table with real images, error
cells and ledger rows: no console error and no failed request, with a screenshot each."""

from __future__ import annotations

import threading
import time

import pytest

import reverie as rv
from tests.ui.site import API_KEY, PROMPTS

PAGES = {
    'home': '/',
    'table': '/t/ui/scenes',
    'grid': '/grid/ui/scenes',
    'grid_errors': '/grid/ui/scenes?errors=caption',
    'grid_plain': '/grid/ui/plain',
    'grid_version': '/grid/ui/scenes:2',
    'grid_view': '/grid/ui/wide',
    'cell': '/cell/ui/scenes?row=1&col=scene',
    'compare': '/compare/ui/scenes?cols=scene&cols=night',
    'errors': '/errors/ui/scenes',
    'history': '/history/ui/scenes',
    'cost': '/cost',
    'cost_table': '/cost?t=ui/scenes',
    'work': '/work',
}


def _open(watched, ui, path):
    page = watched.page
    response = page.goto(ui.url.rstrip('/') + path, wait_until='load')
    assert response.status == 200, path
    page.wait_for_load_state('networkidle') if path != '/work' else page.wait_for_timeout(1500)
    return page


@pytest.mark.parametrize('name', list(PAGES))
def test_page_loads_cleanly(name, ui, watched, shots):
    page = _open(watched, ui, PAGES[name])
    broken = page.evaluate(
        '[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)'
    )
    assert broken == []
    overflow = page.evaluate('document.documentElement.scrollWidth - innerWidth')
    assert overflow <= 0, f'{name} scrolls sideways by {overflow}px'
    page.screenshot(path=str(shots / f'{name}.png'), full_page=True)
    assert watched.problems == []
    assert API_KEY not in page.content()


def test_every_page_is_linked_from_home(ui, watched):
    page = _open(watched, ui, '/')
    hrefs = set(page.eval_on_selector_all('a', 'els => els.map(e => e.getAttribute("href"))'))
    for wanted in (
        '/cost',
        '/work',
        '/t/ui/scenes',
        '/grid/ui/scenes',
        '/compare/ui/scenes',
        '/errors/ui/scenes',
        '/history/ui/scenes',
        '/grid/ui/plain',
        '/t/ui/wide',
    ):
        assert wanted in hrefs, wanted


def test_thumbnails_are_real_images_of_the_right_size(ui, watched):
    page = _open(watched, ui, '/grid/ui/plain')
    sizes = page.eval_on_selector_all(
        'img.thumb', 'els => els.map(i => [i.naturalWidth, i.naturalHeight, i.currentSrc])'
    )
    assert len(sizes) == 4
    for w, h, src in sizes:  # 640x400 originals in a 256 box
        assert (w, h) == (256, 160), src
        assert '/thumb/' in src
    page = _open(watched, ui, '/grid/ui/scenes')
    sizes = page.eval_on_selector_all(
        'img.thumb', 'els => els.map(i => [i.naturalWidth, i.naturalHeight])'
    )
    assert len(sizes) == 2 * len(PROMPTS)
    assert all(max(w, h) == 256 for w, h in sizes), sizes
    assert watched.problems == []


def test_lightbox_shows_the_full_image_and_provenance(ui, watched, shots):
    page = _open(watched, ui, '/grid/ui/scenes')
    page.click('#row-1 .thumb-link >> nth=0')
    box = page.locator('#lightbox')
    box.wait_for(state='visible')
    page.wait_for_function("document.querySelector('#lightbox img.fullimg')?.complete")
    text = box.inner_text()
    assert 'request_id' in text and 'credits' in text
    assert 'Made for version\n2' in text  # scene was added (and paid for) at version 2
    assert 'reve.create' in text or 'create(' in text
    natural = page.eval_on_selector('#lightbox img.fullimg', 'i => i.naturalWidth')
    assert natural > 256  # the full image, not a thumbnail
    page.screenshot(path=str(shots / 'lightbox.png'))
    assert watched.problems == []


def test_errors_page_lists_the_error_cells(ui, watched):
    page = _open(watched, ui, '/errors/ui/scenes')
    groups = page.eval_on_selector_all(
        '.errgroup',
        """els => els.map(g => [g.querySelector('.etype').textContent,
                               g.querySelector('.errmsg').textContent,
                               [...g.querySelectorAll('.rows a.r')].map(a => +a.textContent)])""",
    )
    robot, bad = PROMPTS.index('a bad robot in the rain') + 1, [4, 6]  # row ids count from 1
    assert groups == [
        ['ValueError', 'prompt refused: it contains "bad"', bad],
        ['RuntimeError', 'no robots today', [robot]],
    ]


def test_filters_sort_and_paging(ui, watched):
    page = _open(watched, ui, '/grid/ui/scenes?f.prompt=fox')
    assert page.locator('.card').count() == 1
    page = _open(watched, ui, '/grid/ui/scenes?sort=prompt&limit=4')
    first = page.eval_on_selector_all('.card', 'els => els.map(e => e.id)')
    assert len(first) == 4
    page.click('a.more-rows')  # htmx appends the next page in place
    page.wait_for_function("document.querySelectorAll('.card').length == 6")
    prompts = page.eval_on_selector_all(
        '.card .cell:first-of-type .text', 'els => els.map(e => e.textContent)'
    )
    assert prompts == sorted(PROMPTS)
    assert watched.problems == []


def test_compare_steps_with_the_keyboard_and_stores_a_mark(ui, watched, shots, site):
    page = _open(watched, ui, '/compare/ui/scenes?cols=scene&cols=night&mark=pick')
    assert page.get_attribute('#compare', 'data-row') == '1'
    page.keyboard.press('ArrowRight')
    page.wait_for_url('**row=2**')
    page.keyboard.press('j')
    page.wait_for_url('**row=3**')
    page.keyboard.press('ArrowLeft')
    page.wait_for_url('**row=2**')
    page.keyboard.press('2')  # the second column, 'night'
    page.locator('#confirm-mark').wait_for(state='visible')
    page.screenshot(path=str(shots / 'compare_confirm.png'))
    page.keyboard.press('Enter')
    page.locator('#mark-result').wait_for()
    assert 'Marked night' in page.inner_text('#mark-status')
    t = rv.get_table('ui/scenes')
    marks = t.select(t.pick).collect()['pick']
    assert marks == [None, 'night', None, None, None, None]
    page.reload()
    assert page.locator('figure.preferred').get_attribute('data-col') == 'night'
    assert watched.problems == []


def test_cost_totals_equal_the_ledger(ui, watched, site):
    rows = list(rv.calls().collect())
    page = _open(watched, ui, '/cost')
    assert int(page.inner_text('#total-calls')) == len(rows) > 0
    credits = sum(float(r['credits'] or 0) for r in rows)
    assert float(page.inner_text('#total-credits').replace(',', '')) == pytest.approx(credits)
    # USD (other providers) is its own column, never added to the credits.
    usd = [float(r['cost_usd']) for r in rows if r['cost_usd'] is not None]
    assert len(usd) > 0 and sum(usd) > 0
    assert float(page.inner_text('#total-usd').replace(',', '')) == pytest.approx(
        sum(usd), abs=0.005
    )
    assert page.locator('svg.chart').count() == 2  # credits and USD, one chart each
    answered = page.inner_text('[data-outcome="answered"]')
    assert int(answered) == sum(
        1 for r in rows if r['outcome'] == 'answered' and not r['cache_hit']
    )
    bad = page.inner_text('[data-outcome="bad answer"]')  # charged, the image did not decode
    assert int(bad) == sum(1 for r in rows if r['outcome'] == 'bad_answer') == 1


def test_live_progress_moves_while_a_backfill_runs(ui, watched, shots, site):
    @rv.udf
    def slow_len(label: str) -> int:
        time.sleep(0.08)
        return len(label)

    t = rv.create_table('ui/backlog', {'label': rv.String})
    t.insert([{'label': f'item {i}'} for i in range(40)])
    page = _open(watched, ui, '/work')
    backfill = threading.Thread(target=lambda: t.add_computed_column(n=slow_len(t.label)))
    backfill.start()
    seen = set()
    row = '[data-key="ui/backlog.n"] .done'
    deadline = time.time() + 30
    while time.time() < deadline and backfill.is_alive():
        if page.locator(row).count():
            seen.add(int(page.inner_text(row)))
        page.wait_for_timeout(250)
    backfill.join()
    page.wait_for_function(
        f"document.querySelector('{row}')?.textContent.trim() == '40'", timeout=10_000
    )
    page.screenshot(path=str(shots / 'work_after.png'), full_page=True)
    assert len({s for s in seen if 0 < s < 40}) >= 1, seen  # seen part-way, not only 0 and 40
    assert watched.problems == []


def test_recompute_error_cells_after_confirming_the_estimate(ui, watched, site):
    page = _open(watched, ui, '/errors/ui/scenes')
    page.click('.errgroup >> nth=0 >> button.action')
    confirm = page.locator('.confirm')
    confirm.wait_for()
    assert 'Would make 0 paid calls' in confirm.inner_text()  # a UDF: free
    page.click('.confirm button.go')
    page.locator('.confirm-box .ok').wait_for()
    assert 'Recomputed' in page.inner_text('.confirm-box .ok')
    assert watched.problems == []
