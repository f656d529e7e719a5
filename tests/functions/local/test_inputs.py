"""Prompt wording, output sizes and options of the local model (no torch needed)."""

from __future__ import annotations

import doctest
import importlib

import pytest

import reverie as rv
from reverie.config import Config, LocalSettings
from reverie.functions.local import inputs


@pytest.mark.parametrize('name', ['reverie.functions.local', 'reverie.functions.local.inputs'])
def test_doctests(name: str):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0


@pytest.mark.parametrize(
    ('prompt', 'expected'),
    [
        pytest.param('<img>0</img> and <IMG> 11 </IMG>', 'image 1 and image 12', id='spaces'),
        pytest.param('no tags', 'no tags', id='none'),
        pytest.param('<img>x</img>', '<img>x</img>', id='not-a-number'),
    ],
)
def test_name_references(prompt: str, expected: str):
    assert inputs.name_references(prompt) == expected


@pytest.mark.parametrize('ratio', inputs.ASPECT_RATIOS)
def test_sizes_keep_the_area_and_the_multiple(ratio: str):
    w, h = inputs.output_size(ratio, None, 1024 * 1024, 16)
    assert w % 16 == 0 and h % 16 == 0
    assert 0.95 < w * h / 1024**2 < 1.05
    rw, rh = (int(x) for x in ratio.split(':'))
    assert abs(w / h - rw / rh) < 0.05


def test_options():
    assert inputs.parse_options({'seed': 3, 'steps': 8, 'guidance_scale': 2}) == inputs.Options(
        3, 8, 2.0
    )
    with pytest.raises(rv.InvalidValueError, match='seed must be an integer'):
        inputs.parse_options({'seed': True})
    with pytest.raises(rv.InvalidValueError, match='guidance_scale'):
        inputs.parse_options({'guidance_scale': -1})


def test_settings_from_environment_and_file(monkeypatch, tmp_path):
    home = tmp_path / 'home'
    home.mkdir()
    (home / 'config.toml').write_text('[local]\ndevice = "cuda:1"\nsteps = 8\ncpu_offload = true\n')
    monkeypatch.setenv('REVERIE_HOME', str(home))
    monkeypatch.setenv('REVERIE_LOCAL_DTYPE', 'bfloat16')
    assert Config.load().local == LocalSettings('cuda:1', 'bfloat16', True, 8, None)
    monkeypatch.setenv('REVERIE_LOCAL_DTYPE', 'int4')
    with pytest.raises(rv.InvalidValueError, match=r'\[local\] dtype must be one of'):
        Config.load()
    monkeypatch.setenv('REVERIE_LOCAL_DTYPE', 'auto')
    monkeypatch.setenv('REVERIE_LOCAL_STEPS', '0')
    with pytest.raises(rv.InvalidValueError, match=r'\[local\] steps must be a positive'):
        Config.load()
