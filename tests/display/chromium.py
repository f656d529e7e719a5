"""Headless Chromium for the browser tests: find it, load a page, read the layout facts back.

No DevTools socket: a script added to the page writes what it measured into the DOM on
``load``, and ``--dump-dom`` prints the DOM once the page has loaded.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--hide-scrollbars',
]

# Measures the page once it has loaded (images included) and writes the facts into the DOM.
# An element is "cut" when it hides overflowing text and gives no title holding all of it;
# text in a scrolling container (overflow auto/scroll) is reachable, so it is not cut.
FACTS_SCRIPT = """
<script>
window.addEventListener('load', () => {
  const root = document.documentElement;
  const images = [...document.images].map(i => ({
    src: i.getAttribute('src').slice(0, 60), ok: i.complete && i.naturalWidth > 0}));
  const cut = [];
  let clipped = 0;
  for (const el of document.body.querySelectorAll('*')) {
    if (el.scrollWidth <= el.clientWidth + 1 || !el.textContent.trim()) continue;
    const overflow = getComputedStyle(el).overflowX;
    if (overflow !== 'hidden' && overflow !== 'clip') continue;
    if (el.getAttribute('title') === el.textContent) { clipped += 1; continue; }
    cut.push(el.tagName + '.' + el.className + ': ' + el.textContent.slice(0, 80));
  }
  const scrollers = [...document.querySelectorAll('.rv-wrap')]
    .filter(el => el.scrollWidth > el.clientWidth + 1).length;
  const facts = {width: root.clientWidth, scrollWidth: root.scrollWidth, images, cut,
                 clipped, scrollers};
  const out = document.createElement('pre');
  out.id = 'rv-facts';
  out.hidden = true;
  out.textContent = JSON.stringify(facts);
  document.body.appendChild(out);
});
</script>
"""


def find_chromium() -> str:
    """The chromium binary; skips outside CI when it is missing, fails in CI."""
    for name in ('chromium', 'chromium-browser'):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get('CI', '').lower() in ('true', '1'):
        pytest.fail('Chromium is required in CI (.ci/run installs it: apt-get install chromium).')
    pytest.skip(
        'Chromium is not installed; `apt-get install -y chromium` to run the browser tests.'
    )


def with_facts_script(page: str) -> str:
    """``page`` with the measuring script added before ``</body>``."""
    return (
        page.replace('</body>', FACTS_SCRIPT + '</body>')
        if '</body>' in page
        else (page + FACTS_SCRIPT)
    )


def _run(binary: str, url: str, profile: Path, *args: str) -> str:
    proc = subprocess.run(
        [binary, *FLAGS, f'--user-data-dir={profile}', *args, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def layout_facts(binary: str, page: Path, width: int, profile: Path) -> dict[str, Any]:
    """Load ``page`` at ``width`` px and return what the facts script measured."""
    dom = _run(
        binary,
        page.as_uri(),
        profile,
        f'--window-size={width},1000',
        '--virtual-time-budget=10000',
        '--dump-dom',
    )
    match = re.search(r'<pre id="rv-facts" hidden="">(.*?)</pre>', dom, re.S)
    assert match is not None, dom[-2000:]
    facts: dict[str, Any] = json.loads(html.unescape(match[1]))
    return facts


def screenshot(binary: str, page: Path, width: int, height: int, out: Path, profile: Path) -> Path:
    """A PNG of ``page`` at ``width`` x ``height`` px."""
    _run(binary, page.as_uri(), profile, f'--window-size={width},{height}', f'--screenshot={out}')
    assert out.stat().st_size > 0
    return out
