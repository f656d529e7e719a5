"""Finding a local model's weights: folders, the Hugging Face cache, and refusals offline."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import reverie as rv
from reverie.config import Config
from reverie.functions import local
from reverie.functions.images.provider import ImageRequest
from reverie.functions.local import weights
from tests.functions.local.conftest import require_libraries

COMMIT = '0123456789abcdef0123456789abcdef01234567'


def test_missing_folder_is_refused(tmp_path: Path):
    with pytest.raises(rv.InvalidValueError, match=r'does not exist.*save_pretrained'):
        weights.check(str(tmp_path / 'nowhere'))


def test_folder_without_model_index_is_refused(tmp_path: Path):
    with pytest.raises(rv.InvalidValueError, match=r'no model_index\.json.*not a diffusers'):
        weights.check(str(tmp_path))


def test_neither_folder_nor_hub_id_is_refused():
    with pytest.raises(rv.InvalidValueError, match='neither a folder nor a Hugging Face id'):
        weights.check('just-a-name')


def test_unknown_hub_id_offline_is_refused_with_the_fix(monkeypatch, tmp_path: Path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    _use_cache(monkeypatch, tmp_path / 'hub')
    with pytest.raises(rv.ServiceError) as info:
        weights.resolve('black-forest-labs/FLUX.2-klein-4B')
    message = str(info.value)
    assert "'black-forest-labs/FLUX.2-klein-4B' is not on this machine" in message
    assert 'HF_HUB_OFFLINE is set' in message
    assert '`hf download black-forest-labs/FLUX.2-klein-4B`' in message
    assert "model='local/<folder>'" in message
    assert info.value.stops_run and not info.value.retryable


def test_no_network_is_refused_with_the_fix(tmp_path: Path):
    # A separate process: huggingface_hub reads HF_ENDPOINT once, at import.
    require_libraries()
    code = (
        'from reverie.functions.local import weights\n'
        'try:\n'
        "    weights.resolve('org/not-here')\n"
        'except Exception as e:\n'
        '    print(type(e).__name__, e.stops_run, e)\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith('HF_')}
    env.update(HF_ENDPOINT='http://127.0.0.1:9', HF_HOME=str(tmp_path / 'hf'))
    out = subprocess.run(
        [sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=60
    ).stdout
    assert out.startswith('ServiceError True ')
    assert 'cannot be downloaded now (the download failed' in out
    assert '`hf download org/not-here`' in out


def test_hub_id_from_the_cache_offline(monkeypatch, local_env: Path, tmp_path: Path):
    """A downloaded model (in the Hugging Face cache) runs offline, named by its id."""
    cache = tmp_path / 'hub'
    repo = cache / 'models--tiny-org--tiny-klein'
    shutil.copytree(local_env, repo / 'snapshots' / COMMIT)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text(COMMIT)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    _use_cache(monkeypatch, cache)

    found = weights.resolve('tiny-org/tiny-klein')
    assert found.path == repo / 'snapshots' / COMMIT
    assert found.version == f'tiny-org/tiny-klein@{COMMIT}'

    request = ImageRequest('create', 'tiny-org/tiny-klein', 'a fox', options={'seed': 3})
    local.provider().check(request)
    answer = asyncio.run(local.provider().send(request, Config.load()))
    assert answer.model_version == f'tiny-org/tiny-klein@{COMMIT}'
    assert answer.image.startswith(b'\x89PNG')


def _use_cache(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    # huggingface_hub reads its cache folder once, at import; this process imported it.
    try:
        from huggingface_hub import constants
    except ImportError:
        return  # without huggingface_hub nothing is cached, and nothing can be downloaded
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(cache))
