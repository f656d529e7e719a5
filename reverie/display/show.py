"""Show an object once: rich display in IPython (HTML in a notebook), else print its text."""

from __future__ import annotations

import importlib
import sys


def show(obj: object) -> None:
    """Display ``obj`` in IPython (its ``_repr_html_`` in a notebook) or print its ``repr``."""
    ipython = sys.modules.get('IPython')
    if ipython is not None and ipython.get_ipython() is not None:
        importlib.import_module('IPython.display').display(obj)
        return
    print(repr(obj))
