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
from reverie.functions.string._method import named, string_method
from reverie.functions.udf import Function


def _flags(case: bool, flags: int) -> int:
    return flags if case else flags | re.IGNORECASE


@string_method('contains', sql_twin=sql.contains_sql)
def contains(s: str, pattern: str, case: bool = True, flags: int = 0, regex: bool = False) -> bool:
    # regex=False by default (Pixeltable: True): reverie's contains() has always meant a plain
    # substring, and stored columns must keep their meaning. See docs/divergences.md.
    if regex:
        return re.search(pattern, s, _flags(case, flags)) is not None
    return pattern in s if case else pattern.casefold() in s.casefold()


@string_method('contains_re')
def contains_re(s: str, pattern: str, flags: int = 0) -> bool:
    return re.search(pattern, s, flags) is not None


@string_method('count')
def count(s: str, pattern: str, flags: int = 0) -> int:
    return len(re.findall(pattern, s, flags))


@string_method('startswith', sql_twin=sql.startswith_sql)
def startswith(s: str, pattern: str) -> bool:
    return s.startswith(pattern)


@string_method('endswith', sql_twin=sql.endswith_sql)
def endswith(s: str, pattern: str) -> bool:
    return s.endswith(pattern)


def _position(method: str) -> Function:
    """``str.find`` / ``rfind`` / ``index`` / ``rindex`` (by name) as a string function."""

    def call(s: str, substr: str, start: int | None = 0, end: int | None = None) -> int:
        position: int = getattr(s, method)(substr, start, end)
        return position

    return string_method(method)(named(call, method))


find, rfind, index, rindex = (_position(m) for m in ('find', 'rfind', 'index', 'rindex'))


@string_method('findall')
def findall(s: str, pattern: str, flags: int = 0) -> list[Any]:
    return re.findall(pattern, s, flags)


@string_method('match')
def match(s: str, pattern: str, case: bool = True, flags: int = 0) -> bool:
    return re.match(pattern, s, _flags(case, flags)) is not None


@string_method('fullmatch')
def fullmatch(s: str, pattern: str, case: bool = True, flags: int = 0) -> bool:
    return re.fullmatch(pattern, s, _flags(case, flags)) is not None


@string_method('replace', sql_twin=sql.replace_sql)
def replace(
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


@string_method('replace_re')
def replace_re(s: str, pattern: str, repl: str, count: int = 0, flags: int = 0) -> str:
    return re.sub(pattern, repl, s, count=count, flags=flags)


@string_method('split')
def split(s: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return s.split(sep, maxsplit)


@string_method('rsplit')
def rsplit(s: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return s.rsplit(sep, maxsplit)


@string_method('splitlines')
def splitlines(s: str, keepends: bool = False) -> list[str]:
    return s.splitlines(keepends)


@string_method('partition')
def partition(s: str, sep: str = ' ') -> list[str]:
    return list(s.partition(sep))


@string_method('rpartition')
def rpartition(s: str, sep: str = ' ') -> list[str]:
    return list(s.rpartition(sep))


@string_method('format', attr='format_')
def format_(s: str, *args: Any, named: dict[str, Any] | None = None) -> str:
    return s.format(*args, **(named or {}))


@string_method('join')
def join(sep: str, elements: list[Any]) -> str:
    return sep.join(elements)


@string_method('normalize')
def normalize(s: str, form: str) -> str:
    if form not in ('NFC', 'NFKC', 'NFD', 'NFKD'):
        raise ValueError(
            f"normalize(form=...) must be 'NFC', 'NFKC', 'NFD' or 'NFKD', not {form!r}"
        )
    return unicodedata.normalize(form, s)  # type: ignore[arg-type]


@string_method('wrap')
def wrap(s: str, width: int) -> list[str]:
    return textwrap.wrap(s, width)


@string_method('fill')
def fill(s: str, width: int) -> str:
    return textwrap.fill(s, width)


def format_call(s: Any, *args: Any, **kwargs: Any) -> Expr:
    """``string.format(t.s, x, name=y)`` / ``t.s.format(...)``: keyword values go in ``named``.

    Functions take no ``**kwargs``, so the keyword values travel as one JSON argument.
    """
    return format_(s, *args, named=kwargs) if kwargs else format_(s, *args)


register_method('String', 'format', format_call)
