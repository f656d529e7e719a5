"""Fixtures of the UI tests: one catalog with images, errors and a ledger per module, the UI
serving it on loopback, and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip('starlette', reason='the ui extra: pip install -e ".[ui]"')
playwright_api = pytest.importorskip('playwright.sync_api', reason='pip install playwright')

from reverie.catalog.catalog import Catalog  # noqa: E402
from reverie.ui.server import Bound, serve_in_thread  # noqa: E402
from tests.ui.site import build_site  # noqa: E402

CHROMIUM_ARGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
]


def chromium_path() -> str:
    """The system Chromium (Playwright's own download is not used)."""
    for name in ('chromium', 'chromium-browser'):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get('CI', '').lower() in ('true', '1'):
        pytest.fail('Chromium is required in CI (.ci/run installs it: apt-get install chromium).')
    pytest.skip('Chromium is not installed; `apt-get install -y chromium` to run these tests.')


@pytest.fixture(scope='module')
def site(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return build_site(tmp_path_factory.mktemp('uihome'))


@pytest.fixture(scope='module')
def ui(site: Catalog) -> Iterator[Bound]:
    with serve_in_thread(site, allow_writes=True) as bound:
        yield bound


@pytest.fixture(scope='module')
def browser() -> Iterator[object]:
    executable = chromium_path()
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope='module')
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: the test's output folder, or $UI_SCREENSHOTS_DIR when set."""
    wanted = os.environ.get('UI_SCREENSHOTS_DIR')
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    return tmp_path_factory.mktemp('screenshots')


class Watched:
    """A page whose console errors and failed requests are recorded."""

    def __init__(self, page: object) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on('console', self._console)  # type: ignore[attr-defined]
        page.on('pageerror', lambda e: self.problems.append(f'page error: {e}'))  # type: ignore[attr-defined]
        page.on('requestfailed', self._failed)  # type: ignore[attr-defined]
        page.on('response', self._response)  # type: ignore[attr-defined]

    def _console(self, msg: object) -> None:
        if msg.type == 'error':  # type: ignore[attr-defined]
            self.problems.append(f'console: {msg.text}')  # type: ignore[attr-defined]

    def _failed(self, request: object) -> None:
        failure = request.failure or ''  # type: ignore[attr-defined]
        # The event stream of the Work page is cut when the page is left: not a failure.
        if '/work/events' in request.url and 'ABORTED' in failure:  # type: ignore[attr-defined]
            return
        self.problems.append(f'request failed: {request.url} {failure}')  # type: ignore[attr-defined]

    def _response(self, response: object) -> None:
        if response.status >= 400:  # type: ignore[attr-defined]
            self.problems.append(f'HTTP {response.status}: {response.url}')  # type: ignore[attr-defined]


@pytest.fixture
def watched(browser: object) -> Iterator[Watched]:
    context = browser.new_context(viewport={'width': 1400, 'height': 900})  # type: ignore[attr-defined]
    page = context.new_page()
    w = Watched(page)
    yield w
    context.close()
