"""String functions that transform or test a whole string: case, padding, stripping, slices.

Each equals the ``str`` method of the same name (Pixeltable's string module, which follows
pandas' ``Series.str``). None in gives None out without calling the function.
"""

from __future__ import annotations

from reverie.functions.string import sql
from reverie.functions.string._method import string_method

# -- case ------------------------------------------------------------------------------


def _capitalize(s: str) -> str:
    return s.capitalize()


def _casefold(s: str) -> str:
    return s.casefold()


def _lower(s: str) -> str:
    return s.lower()


def _upper(s: str) -> str:
    return s.upper()


def _swapcase(s: str) -> str:
    return s.swapcase()


def _title(s: str) -> str:
    return s.title()


capitalize = string_method(_capitalize, 'capitalize')
casefold = string_method(_casefold, 'casefold')
lower = string_method(_lower, 'lower')
upper = string_method(_upper, 'upper')
swapcase = string_method(_swapcase, 'swapcase')
title = string_method(_title, 'title')

# -- predicates ------------------------------------------------------------------------


def _isalnum(s: str) -> bool:
    return s.isalnum()


def _isalpha(s: str) -> bool:
    return s.isalpha()


def _isascii(s: str) -> bool:
    return s.isascii()


def _isdecimal(s: str) -> bool:
    return s.isdecimal()


def _isdigit(s: str) -> bool:
    return s.isdigit()


def _isidentifier(s: str) -> bool:
    return s.isidentifier()


def _islower(s: str) -> bool:
    return s.islower()


def _isnumeric(s: str) -> bool:
    return s.isnumeric()


def _isspace(s: str) -> bool:
    return s.isspace()


def _istitle(s: str) -> bool:
    return s.istitle()


def _isupper(s: str) -> bool:
    return s.isupper()


isalnum = string_method(_isalnum, 'isalnum')
isalpha = string_method(_isalpha, 'isalpha')
isascii = string_method(_isascii, 'isascii')
isdecimal = string_method(_isdecimal, 'isdecimal')
isdigit = string_method(_isdigit, 'isdigit')
isidentifier = string_method(_isidentifier, 'isidentifier')
islower = string_method(_islower, 'islower')
isnumeric = string_method(_isnumeric, 'isnumeric')
isspace = string_method(_isspace, 'isspace')
istitle = string_method(_istitle, 'istitle')
isupper = string_method(_isupper, 'isupper')

# -- length, padding, stripping --------------------------------------------------------


def _len(s: str) -> int:
    return len(s)


def _center(s: str, width: int, fillchar: str = ' ') -> str:
    return s.center(width, fillchar)


def _ljust(s: str, width: int, fillchar: str = ' ') -> str:
    return s.ljust(width, fillchar)


def _rjust(s: str, width: int, fillchar: str = ' ') -> str:
    return s.rjust(width, fillchar)


def _pad(s: str, width: int, side: str = 'left', fillchar: str = ' ') -> str:
    # Pixeltable's meaning: side='left' is str.ljust, 'right' str.rjust, 'both' str.center.
    if side == 'left':
        return s.ljust(width, fillchar)
    if side == 'right':
        return s.rjust(width, fillchar)
    if side == 'both':
        return s.center(width, fillchar)
    raise ValueError(f"pad(side=...) must be 'left', 'right' or 'both', got {side!r}")


def _zfill(s: str, width: int) -> str:
    return s.zfill(width)


def _strip(s: str, chars: str | None = None) -> str:
    return s.strip(chars)


def _lstrip(s: str, chars: str | None = None) -> str:
    return s.lstrip(chars)


def _rstrip(s: str, chars: str | None = None) -> str:
    return s.rstrip(chars)


def _removeprefix(s: str, prefix: str) -> str:
    return s.removeprefix(prefix)


def _removesuffix(s: str, suffix: str) -> str:
    return s.removesuffix(suffix)


len_ = string_method(_len, 'len', attr='len_', sql_twin=sql.len_sql)
center = string_method(_center, 'center')
ljust = string_method(_ljust, 'ljust')
rjust = string_method(_rjust, 'rjust')
pad = string_method(_pad, 'pad')
zfill = string_method(_zfill, 'zfill')
strip = string_method(_strip, 'strip', sql_twin=sql.strip_sql)
lstrip = string_method(_lstrip, 'lstrip', sql_twin=sql.lstrip_sql)
rstrip = string_method(_rstrip, 'rstrip', sql_twin=sql.rstrip_sql)
removeprefix = string_method(_removeprefix, 'removeprefix')
removesuffix = string_method(_removesuffix, 'removesuffix')

# -- slices and repetition ---------------------------------------------------------------


def _slice(
    s: str, start: int | None = None, stop: int | None = None, step: int | None = None
) -> str:
    return s[start:stop:step]


def _slice_replace(
    s: str, start: int | None = None, stop: int | None = None, repl: str | None = None
) -> str:
    return s[:start] + (repl or '') + s[stop:]


def _repeat(s: str, n: int) -> str:
    return s * n


def _reverse(s: str) -> str:
    return s[::-1]


slice_ = string_method(_slice, 'slice', attr='slice_')
slice_replace = string_method(_slice_replace, 'slice_replace')
repeat = string_method(_repeat, 'repeat')
reverse = string_method(_reverse, 'reverse')
