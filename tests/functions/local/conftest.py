"""The local model's tests: a tiny pipeline built once per session, run on CPU.

Without torch / diffusers / transformers (``pip install 'reverie[local]'``) the tests that
need them skip, except in CI (``CI=true``), where they must run and so fail.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from reverie.functions.local.pipeline import LIBRARIES

MEGAPIXELS = str(64 * 64 / 1024**2)  # 64x64 images: each takes well under a second on CPU


def require_libraries() -> None:
    """Skip without the [local] extra; in CI, fail instead."""
    missing = [name for name in LIBRARIES if importlib.util.find_spec(name) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed: pip install -e '.[local]' to run these"
    if os.environ.get('CI', '').lower() in ('1', 'true', 'yes'):
        pytest.fail(f'CI must run the local model tests, but {reason}.')
    pytest.skip(reason)


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny FLUX.2 [klein] pipeline (built and saved once per session)."""
    require_libraries()
    from tests.functions.local.tiny import build_tiny_klein

    return build_tiny_klein(tmp_path_factory.mktemp('models') / 'tiny-klein')


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> Path:
    """Small outputs, CPU, 2 steps; returns the tiny model's folder."""
    monkeypatch.setenv('REVERIE_LOCAL_MEGAPIXELS', MEGAPIXELS)
    monkeypatch.setenv('REVERIE_LOCAL_DEVICE', 'cpu')
    monkeypatch.setenv('REVERIE_LOCAL_STEPS', '2')
    return tiny_model
