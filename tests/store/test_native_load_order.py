"""Native libraries in one process: an ANN index, then a Parquet read, must not crash it.

Loaded after usearch's numkong kernels, pyarrow's Parquet reader segfaulted the process
(the whole suite died in test_parquet_round_trip after the ANN index test). The two tests
run here in a child process, in that order, so a crash fails this test instead of the suite.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_an_ann_search_then_a_parquet_read_in_one_process() -> None:
    # find_spec, not importorskip: importing usearch here would load its kernels into this
    # (the suite's) process ahead of pyarrow, the very order that crashes a later test
    for name in ('usearch', 'pyarrow'):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f'{name} is not installed')
    child = subprocess.run(
        [
            sys.executable,
            '-m',
            'pytest',
            '-q',
            '-p',
            'no:cacheprovider',
            'tests/catalog/test_embedding_index.py::test_ann_path_matches_exact_and_keeps_its_file',
            'tests/io/test_roundtrip.py::test_parquet_round_trip',
            '-m',
            'not postgres',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-2000:]
    assert ' passed' in child.stdout
