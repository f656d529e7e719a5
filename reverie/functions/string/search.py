"""String functions that search, match, split, replace or format.

Substring searches equal the ``str`` methods; pattern searches use Python's ``re`` (with
``case=False`` adding ``re.IGNORECASE``). None in gives None out without calling.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import Any

from reverie.exprs.expr import Expr, register_method
from reverie.functions.string import sql
from reverie.functions.string._method import string_method


def _flags(case: bool, flags: int) -> int:
    return flags if case else flags | re.IGNORECASE


def _contains(s: str, pattern: str, case: bool = True, flags: int = 0, regex: bool = False) -> bool:
    # regex=False by default (Pixeltable: True): reverie's contains() has always meant a plain
    # substring, and stored columns must keep their meaning. See docs/divergences.md.
    if regex:
        return re.search(pattern, s, _flags(case, flags)) is not None
    return pattern in s if case else pattern.casefold() in s.casefold()


def _contains_re(s: str, pattern: str, flags: int = 0) -> bool:
    return re.search(pattern, s, flags) is not None


def _count(s: str, pattern: str, flags: int = 0) -> int:
    return len(re.findall(pattern, s, flags))


def _startswith(s: str, pattern: str) -> bool:
    return s.startswith(pattern)


def _endswith(s: str, pattern: str) -> bool:
    return s.endswith(pattern)


def _find(s: str, substr: str, start: int | None = 0, end: int | None = None) -> int:
    return s.find(substr, start, end)


def _rfind(s: str, substr: str, start: int | None = 0, end: int | None = None) -> int:
    return s.rfind(substr, start, end)


def _index(s: str, substr: str, start: int | None = 0, end: int | None = None) -> int:
    return s.index(substr, start, end)


def _rindex(s: str, substr: str, start: int | None = 0, end: int | None = None) -> int:
    return s.rindex(substr, start, end)


def _findall(s: str, pattern: str, flags: int = 0) -> list[Any]:
    return re.findall(pattern, s, flags)


def _match(s: str, pattern: str, case: bool = True, flags: int = 0) -> bool:
    return re.match(pattern, s, _flags(case, flags)) is not None


def _fullmatch(s: str, pattern: str, case: bool = True, flags: int = 0) -> bool:
    return re.fullmatch(pattern, s, _flags(case, flags)) is not None


def _replace(
    s: str,
    pattern: str,
    repl: str,
    n: int = -1,
    case: bool = True,
    flags: int = 0,
    regex: bool = False,
) -> str:
    if regex:
        return re.sub(pattern, repl, s, count=max(n, 0), flags=_flags(case, flags))
    return s.replace(pattern, repl, n)


def _replace_re(s: str, pattern: str, repl: str, count: int = 0, flags: int = 0) -> str:
    return re.sub(pattern, repl, s, count=count, flags=flags)


def _split(s: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return s.split(sep, maxsplit)


def _rsplit(s: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return s.rsplit(sep, maxsplit)


def _splitlines(s: str, keepends: bool = False) -> list[str]:
    return s.splitlines(keepends)


def _partition(s: str, sep: str = ' ') -> list[str]:
    return list(s.partition(sep))


def _rpartition(s: str, sep: str = ' ') -> list[str]:
    return list(s.rpartition(sep))


def _format(s: str, *args: Any, named: dict[str, Any] | None = None) -> str:
    return s.format(*args, **(named or {}))


def _join(sep: str, elements: list[Any]) -> str:
    return sep.join(elements)


def _normalize(s: str, form: str) -> str:
    if form not in ('NFC', 'NFKC', 'NFD', 'NFKD'):
        raise ValueError(
            f"normalize(form=...) must be 'NFC', 'NFKC', 'NFD' or 'NFKD', not {form!r}"
        )
    return unicodedata.normalize(form, s)  # type: ignore[arg-type]


def _wrap(s: str, width: int) -> list[str]:
    return textwrap.wrap(s, width)


def _fill(s: str, width: int) -> str:
    return textwrap.fill(s, width)


contains = string_method(_contains, 'contains', sql_twin=sql.contains_sql)
contains_re = string_method(_contains_re, 'contains_re')
count = string_method(_count, 'count')
startswith = string_method(_startswith, 'startswith', sql_twin=sql.startswith_sql)
endswith = string_method(_endswith, 'endswith', sql_twin=sql.endswith_sql)
find = string_method(_find, 'find')
rfind = string_method(_rfind, 'rfind')
index = string_method(_index, 'index')
rindex = string_method(_rindex, 'rindex')
findall = string_method(_findall, 'findall')
match = string_method(_match, 'match')
fullmatch = string_method(_fullmatch, 'fullmatch')
replace = string_method(_replace, 'replace', sql_twin=sql.replace_sql)
replace_re = string_method(_replace_re, 'replace_re')
split = string_method(_split, 'split')
rsplit = string_method(_rsplit, 'rsplit')
splitlines = string_method(_splitlines, 'splitlines')
partition = string_method(_partition, 'partition')
rpartition = string_method(_rpartition, 'rpartition')
format_ = string_method(_format, 'format', attr='format_')


def format_call(s: Any, *args: Any, **kwargs: Any) -> Expr:
    """``string.format(t.s, x, name=y)`` / ``t.s.format(...)``: keyword values go in ``named``.

    Functions take no ``**kwargs``, so the keyword values travel as one JSON argument.
    """
    return format_(s, *args, named=kwargs) if kwargs else format_(s, *args)


register_method('String', 'format', format_call)
join = string_method(_join, 'join')
normalize = string_method(_normalize, 'normalize')
wrap = string_method(_wrap, 'wrap')
fill = string_method(_fill, 'fill')
