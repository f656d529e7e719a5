"""``reverie.__all__`` is sorted and complete."""

from __future__ import annotations
import __future__

import types

import reverie


def test_all_is_sorted():
    assert reverie.__all__ == sorted(reverie.__all__)


def test_all_names_importable():
    for name in reverie.__all__:
        assert getattr(reverie, name) is not None, name


def test_no_unlisted_public_names():
    public = {
        name
        for name, value in vars(reverie).items()
        if not name.startswith('_')
        # submodules appear as attributes once imported; ``annotations`` is the __future__ flag
        and not (isinstance(value, types.ModuleType) and name not in reverie.__all__)
        and not isinstance(value, __future__._Feature)
    }
    assert public == set(reverie.__all__)


def test_star_import_gives_exactly_all():
    ns: dict[str, object] = {}
    exec('from reverie import *', ns)
    ns.pop('__builtins__')
    assert set(ns) == set(reverie.__all__)
