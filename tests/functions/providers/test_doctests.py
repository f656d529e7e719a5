"""The examples in the provider modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    'reverie.functions.images',
    'reverie.functions.images.refs',
    'reverie.functions.images.registry',
    'reverie.functions.images.http',
    'reverie.functions.images.calls',
    'reverie.functions.reve.validate',
    'reverie.functions.gemini.text',
    'reverie.functions.openai',
    'reverie.functions.gemini',
    'reverie.functions.bfl',
    'reverie.functions.reve',
]


@pytest.mark.parametrize('name', MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0
