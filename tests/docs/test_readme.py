"""The README runs as written: every ```python block, in order, each in a fresh Python.

The blocks run from the repo root (as the README says) with the two variables it names
pointing at a local Reve-compatible server, and one ``REVERIE_HOME`` shared by the blocks.
The tour's printed output must match the README's, timings aside.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reverie.reve_server import ServerOptions, serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / 'README.md').read_text(encoding='utf-8')
FENCE = re.compile(r'^```(\w*)\n(.*?)^```$', re.S | re.M)
TIMING = re.compile(r'in \d+\.\d\d s \(\d+\.\d\d rows/s\)')


def _blocks() -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in FENCE.finditer(README)]


def _python_blocks() -> list[str]:
    return [code for lang, code in _blocks() if lang == 'python']


def _printed_after(code: str) -> str | None:
    """What the README says ``code`` prints: the plain block after it, introduced by 'prints'."""
    m = re.search(re.escape(code) + r'```\n\nprints\n\n```\n(.*?)^```$', README, re.S | re.M)
    return m[1] if m else None


def test_readme_names_the_server_and_the_two_variables():
    assert 'reverie reve-server' in README
    assert 'export REVE_API_URL=http://127.0.0.1:8765' in README
    assert 'export REVE_API_KEY=' in README
    for photo in ('docs/photos/fox.jpg', 'docs/photos/cat.png'):
        assert photo in README
        assert (ROOT / photo).stat().st_size < 100_000


def test_every_python_block_runs_as_written(tmp_path):
    blocks = _python_blocks()
    assert len(blocks) >= 3
    with serve_in_thread(ServerOptions(megapixels=0.02)) as server:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(('REVERIE_', 'REVE_', 'PYTHONPATH'))
        }
        env |= {
            'REVE_API_URL': server.url,
            'REVE_API_KEY': 'papi.readme',
            'REVERIE_HOME': str(tmp_path / 'home'),
        }
        # A fresh folder that looks like the repository root (the README's relative paths
        # work), so files the blocks write never land in the repository.
        work = tmp_path / 'work'
        work.mkdir()
        (work / 'docs').symlink_to(ROOT / 'docs')
        # This checkout's package (not whichever one is installed), and the stand-ins the
        # text-model section starts.
        (work / 'reverie').symlink_to(ROOT / 'reverie')
        (work / 'tests').symlink_to(ROOT / 'tests')
        outputs = []
        for i, code in enumerate(blocks):
            proc = subprocess.run(
                [sys.executable, '-c', code],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, f'README python block {i} failed:\n{code}\n{proc.stderr}'
            outputs.append(proc.stdout)
    assert len([r for r in server.requests if r.status == 200]) == 6  # 2 rows x 3 Reve columns
    checked = 0
    for code, out in zip(blocks, outputs, strict=True):
        expected = _printed_after(code)
        if expected is not None:
            assert TIMING.sub('in T', out) == TIMING.sub('in T', expected)
            checked += 1
    assert checked == 3  # the tour, the group_by example, versions and views


@pytest.mark.parametrize('code', _python_blocks())
def test_group_by_uses_columns_the_tour_has(code):
    tour = next(c for c in _python_blocks() if "create_dir('tour')" in c)
    columns = set(re.findall(r"'(\w+)': rv\.", tour)) | set(
        re.findall(r'add_computed_column\((\w+)=', tour)
    )
    for used in re.findall(r't\.(\w+)', code if 'group_by' in code else ''):
        if used not in ('group_by', 'select', 'collect', 'order_by', 'where'):
            assert used in columns, f'{used!r} is not a column of the tour ({sorted(columns)})'
