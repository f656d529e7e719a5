"""``images.*`` without ``model=`` take the open catalog's ``[images] model``."""

from __future__ import annotations

from pathlib import Path

import pytest

import reverie as rv
from reverie.functions import images


def test_the_default_model_is_the_open_catalogs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: it was read from the process's default home, not the catalog rv.init opened."""
    monkeypatch.setenv('HOME', str(tmp_path / 'user'))  # the process's default: no config
    home = tmp_path / 'project'
    home.mkdir()
    (home / 'config.toml').write_text("[images]\nmodel = 'reve/latest'\n")
    rv.init({'home': str(home)})
    expr = images.create('a fox on a bicycle')
    assert expr.node.fn.path.endswith('.reve_create')  # type: ignore[attr-defined]
