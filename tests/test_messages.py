"""Issue 22, "Messages and screens": advice that points at things a user has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import reverie as rv
from reverie.config import Config
from reverie.functions.images.http import require_key
from reverie.functions.images.registry import resolve_model

ROOT = Path(__file__).resolve().parent.parent


def test_a_missing_key_names_the_config_file_of_reverie_home(tmp_path, monkeypatch):
    monkeypatch.setenv('REVERIE_HOME', str(tmp_path / 'elsewhere'))
    for provider in ('openai', 'gemini', 'bfl'):
        with pytest.raises(rv.InvalidValueError) as info:
            require_key(Config.load().provider(provider), provider)
        assert str(tmp_path / 'elsewhere' / 'config.toml') in str(info.value)
        assert '~/.reverie' not in str(info.value)
    with pytest.raises(rv.InvalidValueError) as info:
        resolve_model(None, Config.load())
    assert str(tmp_path / 'elsewhere' / 'config.toml') in str(info.value)


def _tracked() -> list[Path]:
    out = subprocess.run(
        ['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / p for p in out.splitlines() if p.endswith(('.py', '.md', '.ipynb', '.toml'))]


def test_nothing_cites_a_file_a_clone_does_not_have():
    bad = re.compile(r'(?<![\w/])(DESIGN\.md|STYLE\.md|reve-api\.md)|\.\./shared/')
    found = []
    for path in _tracked():
        if path == Path(__file__).resolve():
            continue
        for n, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
            for m in bad.finditer(line):
                # docs/reve-api.md ships with the clone: 'docs/reve-api.md' and a link from
                # docs/ itself are fine.
                if m.group(1) == 'reve-api.md' and (
                    line[: m.start()].endswith('docs/') or path.parent.name == 'docs'
                ):
                    continue
                found.append(f'{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}')
    assert found == []
    assert (ROOT / 'docs' / 'reve-api.md').exists()
