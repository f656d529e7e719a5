"""Exact SQL twins of string functions: the database computes them, on SQLite and PostgreSQL.

A twin is used only where the SQL gives Python's answer for every string, nulls included (a
None string gives None, as the function's null rule says). What that rules out:

- ``lower`` / ``upper`` have no twin: SQLite's change ASCII letters only, PostgreSQL's
  follow the collation, and neither maps ``'ß'.upper()`` to ``'SS'``, ``'İ'.lower()`` to
  two characters or a final ``'Σ'`` to ``'ς'`` as Python does. (On SQLite, Python's own
  ``str.lower`` registered on each connection would be exact; the plan of a computed
  column does not know its database yet, so they run in Python on both.)
- ``LIKE``: SQLite's is case-insensitive for ASCII and both treat ``%`` and ``_`` as
  wildcards, so ``contains`` uses ``instr`` (SQLite) / ``strpos`` (PostgreSQL) and
  ``startswith`` / ``endswith`` compare ``substr`` to the pattern.
- ``strip()`` removes every Unicode whitespace character (``str.isspace``), SQL's ``trim``
  only spaces: the twin passes Python's whitespace set as the characters to trim.
- ``replace`` with an empty pattern inserts ``repl`` between characters in Python and does
  nothing in SQL: only a non-empty literal pattern is pushed down (and ``n=-1``,
  ``regex=False``); ``contains`` only with ``case=True, regex=False``.

Arguments other than the string itself must be literals. Lengths count characters on both
databases (PostgreSQL in a UTF8 database, the default with a UTF-8 locale).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from reverie.exprs import nodes as n
from reverie.exprs.to_sql import SqlTwin, ToSql

# Every character str.strip() removes when given no characters (``str.isspace``; a test
# checks this against every code point).
WHITESPACE = (
    '\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005'
    '\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'
)
_MISSING = object()  # an argument the call does not give
_NOT_LITERAL = object()  # an argument given as an expression


def _arguments(call: n.FunctionCall) -> dict[str, n.Node]:
    """The call's argument nodes by parameter name."""
    params = getattr(call.fn, 'params', ())
    names = [p.name for p in params if p.kind == 'positional']
    return {**dict(zip(names, call.args, strict=False)), **dict(call.kwargs)}


def _literal(args: dict[str, n.Node], name: str, default: Any = _MISSING) -> Any:
    node = args.get(name)
    if node is None:
        return default
    return node.value if isinstance(node, n.Literal) else _NOT_LITERAL


def _string(call: n.FunctionCall, to_sql: ToSql) -> ColumnElement[Any] | None:
    """The SQL of the call's first argument (the string), or None."""
    return to_sql(call.args[0]) if call.args else None


class _SpelledPerDialect(FunctionElement[Any]):
    """A SQL function that SQLite and PostgreSQL spell differently."""

    inherit_cache = True
    spellings: tuple[str, str] = ('', '')  # (SQLite, PostgreSQL)


@compiles(_SpelledPerDialect)
def _spelled(element: _SpelledPerDialect, compiler: Any, **kw: Any) -> str:
    name = element.spellings[compiler.dialect.name == 'postgresql']
    return f'{name}({compiler.process(element.clauses, **kw)})'


class _Instr(_SpelledPerDialect):
    """1 + the position of the first occurrence of a substring (0 when absent)."""

    inherit_cache = True
    type = sa.BigInteger()
    spellings = ('instr', 'strpos')


class _Trim(_SpelledPerDialect):
    """``trim(s, chars)`` from both ends."""

    inherit_cache = True
    type = sa.Text()
    spellings = ('trim', 'btrim')


def _text(value: str) -> ColumnElement[Any]:
    return sa.literal(value, sa.Text())


def _int(value: int) -> ColumnElement[Any]:
    return sa.literal(value, sa.Integer())  # PostgreSQL's substr takes integer, not bigint


def len_sql(call: n.FunctionCall, to_sql: ToSql) -> ColumnElement[Any] | None:
    """``len(s)``: ``length`` counts characters on both databases."""
    s = _string(call, to_sql)
    return None if s is None else sa.func.length(s, type_=sa.BigInteger())


def startswith_sql(call: n.FunctionCall, to_sql: ToSql) -> ColumnElement[Any] | None:
    """``s.startswith(p)``: the first ``len(p)`` characters equal ``p``."""
    s, p = _string(call, to_sql), _literal(_arguments(call), 'pattern')
    if s is None or not isinstance(p, str):
        return None
    return sa.func.substr(s, 1, _int(len(p)), type_=sa.Text()) == _text(p)


def endswith_sql(call: n.FunctionCall, to_sql: ToSql) -> ColumnElement[Any] | None:
    """``s.endswith(p)``: the last ``len(p)`` characters equal ``p``."""
    s, p = _string(call, to_sql), _literal(_arguments(call), 'pattern')
    if s is None or not isinstance(p, str):
        return None
    length = sa.func.length(s, type_=sa.Integer())
    tail = sa.func.substr(s, length - _int(len(p) - 1), type_=sa.Text()) == _text(p)
    # A null s gives a null length, so the first branch is not taken and the tail is null.
    return sa.case((length < _int(len(p)), sa.false()), else_=tail)


def contains_sql(call: n.FunctionCall, to_sql: ToSql) -> ColumnElement[Any] | None:
    """``pattern in s`` (``case=True``, ``regex=False``): a substring search, not LIKE."""
    args = _arguments(call)
    s, p = _string(call, to_sql), _literal(args, 'pattern')
    plain = _literal(args, 'case', True) is True and _literal(args, 'regex', False) is False
    if s is None or not isinstance(p, str) or not plain:
        return None
    return _Instr(s, _text(p)) > 0


def replace_sql(call: n.FunctionCall, to_sql: ToSql) -> ColumnElement[Any] | None:
    """``s.replace(old, new)`` for a non-empty literal ``old``, every occurrence."""
    args = _arguments(call)
    s, old, new = _string(call, to_sql), _literal(args, 'pattern'), _literal(args, 'repl')
    every = _literal(args, 'n', -1) == -1 and _literal(args, 'regex', False) is False
    if s is None or not isinstance(old, str) or not old or not isinstance(new, str) or not every:
        return None
    return sa.func.replace(s, _text(old), _text(new), type_=sa.Text())


def _strip_twin(side: str) -> SqlTwin:
    def twin(call: n.FunctionCall, to_sql: ToSql) -> ColumnElement[Any] | None:
        s, chars = _string(call, to_sql), _literal(_arguments(call), 'chars', None)
        if s is None or not (chars is None or isinstance(chars, str)):
            return None
        if chars == '':
            return s  # nothing to strip
        text = _text(WHITESPACE if chars is None else chars)
        if side == 'both':
            return _Trim(s, text)
        return getattr(sa.func, f'{side}trim')(s, text, type_=sa.Text())  # type: ignore[no-any-return]

    return twin


strip_sql = _strip_twin('both')
lstrip_sql = _strip_twin('l')
rstrip_sql = _strip_twin('r')
