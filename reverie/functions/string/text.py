"""String functions that transform or test a whole string: case, padding, stripping, slices.

Each equals the ``str`` method of the same name (Pixeltable's string module, which follows
pandas' ``Series.str``). None in gives None out without calling the function.
"""

from __future__ import annotations

from reverie.functions.string import sql
from reverie.functions.string._method import str_methods, string_method

# -- case and predicates: ``str`` methods without arguments --------------------------------

capitalize, casefold, lower, upper, swapcase, title = str_methods(
    str, 'capitalize casefold lower upper swapcase title'
)
isalnum, isalpha, isascii, isdecimal, isdigit, isidentifier = str_methods(
    bool, 'isalnum isalpha isascii isdecimal isdigit isidentifier'
)
islower, isnumeric, isspace, istitle, isupper = str_methods(
    bool, 'islower isnumeric isspace istitle isupper'
)

# -- length, padding, stripping --------------------------------------------------------


@string_method('len', attr='len_', sql_twin=sql.len_sql)
def len_(s: str) -> int:
    return len(s)


@string_method('center')
def center(s: str, width: int, fillchar: str = ' ') -> str:
    return s.center(width, fillchar)


@string_method('ljust')
def ljust(s: str, width: int, fillchar: str = ' ') -> str:
    return s.ljust(width, fillchar)


@string_method('rjust')
def rjust(s: str, width: int, fillchar: str = ' ') -> str:
    return s.rjust(width, fillchar)


@string_method('pad')
def pad(s: str, width: int, side: str = 'left', fillchar: str = ' ') -> str:
    # Pixeltable's meaning: side='left' is str.ljust, 'right' str.rjust, 'both' str.center.
    if side == 'left':
        return s.ljust(width, fillchar)
    if side == 'right':
        return s.rjust(width, fillchar)
    if side == 'both':
        return s.center(width, fillchar)
    raise ValueError(f"pad(side=...) must be 'left', 'right' or 'both', got {side!r}")


@string_method('zfill')
def zfill(s: str, width: int) -> str:
    return s.zfill(width)


@string_method('strip', sql_twin=sql.strip_sql)
def strip(s: str, chars: str | None = None) -> str:
    return s.strip(chars)


@string_method('lstrip', sql_twin=sql.lstrip_sql)
def lstrip(s: str, chars: str | None = None) -> str:
    return s.lstrip(chars)


@string_method('rstrip', sql_twin=sql.rstrip_sql)
def rstrip(s: str, chars: str | None = None) -> str:
    return s.rstrip(chars)


@string_method('removeprefix')
def removeprefix(s: str, prefix: str) -> str:
    return s.removeprefix(prefix)


@string_method('removesuffix')
def removesuffix(s: str, suffix: str) -> str:
    return s.removesuffix(suffix)


# -- slices and repetition ---------------------------------------------------------------


@string_method('slice', attr='slice_')
def slice_(
    s: str, start: int | None = None, stop: int | None = None, step: int | None = None
) -> str:
    return s[start:stop:step]


@string_method('slice_replace')
def slice_replace(
    s: str, start: int | None = None, stop: int | None = None, repl: str | None = None
) -> str:
    return s[:start] + (repl or '') + s[stop:]


@string_method('repeat')
def repeat(s: str, n: int) -> str:
    return s * n


@string_method('reverse')
def reverse(s: str) -> str:
    return s[::-1]
