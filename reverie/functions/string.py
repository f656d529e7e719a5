"""String methods usable in expressions: ``t.prompt.upper()``, ``.len()``, ..."""

from __future__ import annotations

from reverie import types as ts
from reverie.functions.udf import Function, register_as_method


def _upper(s: str) -> str:
    return s.upper()


def _lower(s: str) -> str:
    return s.lower()


def _strip(s: str) -> str:
    return s.strip()


def _len(s: str) -> int:
    return len(s)


def _contains(s: str, substr: str) -> bool:
    return substr in s


def _replace(s: str, old: str, new: str) -> str:
    return s.replace(old, new)


def _startswith(s: str, prefix: str) -> bool:
    return s.startswith(prefix)


_S = ts.Required[ts.String]
upper = Function(_upper, name='upper', path=f'{__name__}.upper', param_types={'s': _S})
lower = Function(_lower, name='lower', path=f'{__name__}.lower', param_types={'s': _S})
strip = Function(_strip, name='strip', path=f'{__name__}.strip', param_types={'s': _S})
len_ = Function(_len, name='len', path=f'{__name__}.len_', param_types={'s': _S})
contains = Function(
    _contains, name='contains', path=f'{__name__}.contains', param_types={'s': _S, 'substr': _S}
)
replace = Function(
    _replace,
    name='replace',
    path=f'{__name__}.replace',
    param_types={'s': _S, 'old': _S, 'new': _S},
)
startswith = Function(
    _startswith,
    name='startswith',
    path=f'{__name__}.startswith',
    param_types={'s': _S, 'prefix': _S},
)


for _fn in (upper, lower, strip, len_, contains, replace, startswith):
    register_as_method('String', _fn)
