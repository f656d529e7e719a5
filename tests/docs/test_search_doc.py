"""docs/search.md runs as written: its ```python blocks, in order, in one fresh Python."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / 'docs' / 'search.md').read_text(encoding='utf-8')
FENCE = re.compile(r'^```python\n(.*?)^```$', re.S | re.M)


def test_search_doc_runs_as_written(tmp_path: Path) -> None:
    script = '\n'.join(m[1] for m in FENCE.finditer(DOC))
    assert 'near_duplicates' in script and 'similarity(' in script
    env = {k: v for k, v in os.environ.items() if not k.startswith(('REVERIE_', 'REVE_'))}
    env |= {
        'REVERIE_HOME': str(tmp_path / 'home'),
        'REVERIE_PROGRESS': '0',
        'PYTHONPATH': str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, '-c', script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert '4 of 12 drafts are worth upscaling' in out
    assert 'Would make 12 paid calls (0 cached), 360 credits' in out
    assert 'Would make 4 paid calls (0 cached), 120 credits' in out
    top = out[out.index('similarity') :].splitlines()
    assert 'a fox in the snow' in top[2]  # the probe's own picture ranks first
