"""The optional libraries of import/export, imported only when used.

``pip install 'reverie[pandas]'`` installs both pandas and pyarrow.
"""

from __future__ import annotations

from types import ModuleType


def require_pandas(what: str) -> ModuleType:
    """The pandas module, or ImportError saying how to install it."""
    try:
        import pandas
    except ImportError:
        raise ImportError(_missing('pandas', what)) from None
    return pandas


def require_pyarrow(what: str) -> ModuleType:
    """The pyarrow module (with ``pyarrow.parquet`` loaded), or ImportError saying how."""
    try:
        import pyarrow
        import pyarrow.parquet  # makes pyarrow.parquet reachable as an attribute
    except ImportError:
        raise ImportError(_missing('pyarrow', what)) from None
    module: ModuleType = pyarrow
    return module


def _missing(package: str, what: str) -> str:
    return f"{what} needs {package}: pip install 'reverie[pandas]' (or pip install {package})."
