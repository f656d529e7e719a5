"""``rv.calls()``: the ledger of paid calls as a small query (select / where / group_by).

The ledger is a catalog table, not a user table, so this is not an ``rv.Query``: ``where``
takes column=value pairs or a function of the row dict, ``group_by`` sums ``credits`` and
counts calls per group. Each method returns a new ``CallsQuery``; ``collect()`` reads.
Shown as is (a REPL, a notebook), it reads and shows the columns a person looks at first
(``SHOWN``); ``collect()`` has them all. Times are UTC datetimes.

Examples:
    >>> rv.calls('reve_demo.scenes').where(outcome='maybe_charged').collect()  # doctest: +SKIP
    >>> rv.calls().group_by('table', 'outcome').collect()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.catalog.catalog import Catalog
from reverie.display.resultset import ResultSet
from reverie.errors import InvalidValueError
from reverie.functions.paid import money
from reverie.store.db import columns_table, tables_table
from reverie.store.ledger import Ledger
from reverie.store.ledger_tables import CALL_COLUMNS

Row = dict[str, Any]
_TYPES: dict[str, ts.ColumnType] = {
    'credits': ts.Float,
    'cost_usd': ts.Float,
    'cache_hit': ts.Bool,
    'started_at': ts.Timestamp,
    'finished_at': ts.Timestamp,
}
_TIMES = ('started_at', 'finished_at')
_INT_COLUMNS = ('id', 'table_id', 'column_id', 'row_id', 'attempt', 'http_status', 'journal_id')
COLUMNS = ('table', 'column', *CALL_COLUMNS)
SHOWN = (
    'started_at',
    'table',
    'column',
    'row_id',
    'endpoint',
    'attempt',
    'outcome',
    'cache_hit',
    'credits',
    'cost_usd',
    'error',
)
"""The columns shown by default (``select()`` picks others; ``collect()`` has all)."""


@dataclass(frozen=True)
class CallsQuery:
    """Rows of the ledger of paid calls (one per attempt, cache hits included)."""

    ledger: Ledger
    names: Callable[[], dict[tuple[int | None, int | None], tuple[str, str]]]
    table_id: int | None = None
    columns: tuple[str, ...] = COLUMNS
    filters: tuple[Callable[[Row], bool], ...] = ()
    keys: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return repr(self._shown()) + self._more()

    def _repr_html_(self) -> str:
        more = self._more().strip()
        return self._shown()._repr_html_() + (f'<p>{more}</p>' if more else '')

    def _shown(self) -> ResultSet:
        """What a REPL or notebook shows: the selection, or the ``SHOWN`` columns."""
        if self.keys is None and self.columns == COLUMNS:
            return replace(self, columns=SHOWN).collect()
        return self.collect()

    def _more(self) -> str:
        if self.keys is not None or self.columns != COLUMNS:
            return ''
        rest = [c for c in COLUMNS if c not in SHOWN]
        return f'\n{len(rest)} more columns ({", ".join(rest)}): .select(...) or .collect()'

    def select(self, *names: str) -> CallsQuery:
        """Only these columns (see ``COLUMNS``)."""
        _check(names)
        return replace(self, columns=tuple(names) or COLUMNS)

    def where(self, predicate: Callable[[Row], bool] | None = None, **equal: Any) -> CallsQuery:
        """Rows where ``predicate(row)`` holds and each ``column=value`` matches."""
        _check(tuple(equal))
        tests = list(self.filters)
        if predicate is not None:
            tests.append(predicate)
        for name, value in equal.items():
            tests.append(_equals(name, value))
        return replace(self, filters=tuple(tests))

    def group_by(self, *names: str) -> CallsQuery:
        """One row per group: the keys, ``calls`` (attempts), ``credits`` and ``cost_usd``.

        Credits (Reve) and USD (OpenAI, Gemini, BFL) are summed apart, never together.
        """
        _check(names)
        return replace(self, keys=tuple(names))

    def collect(self) -> ResultSet:
        """Read the ledger now."""
        rows = self._rows()
        if self.keys is not None:
            return _grouped(rows, self.keys)
        cols = list(self.columns)
        return ResultSet(cols, [_type(c) for c in cols], [[r[c] for r in rows] for c in cols])

    def total(self) -> str:
        """What the matching rows cost, each unit apart: ``72 credits, $0.36``."""
        rows = self._rows()
        credits = sum(float(r['credits'] or 0) for r in rows)
        usd = sum(float(r['cost_usd'] or 0) for r in rows)
        return f'{money(credits, "credits")}, {money(usd, "usd")}'

    def _rows(self) -> list[Row]:
        names = self.names()
        rows = []
        for raw in self.ledger.report.rows(self.table_id):
            table, column = names.get((raw['table_id'], raw['column_id']), (None, None))
            row = {'table': table, 'column': column, **_readable(raw)}
            if all(test(row) for test in self.filters):
                rows.append(row)
        return rows

    def count(self) -> int:
        """Number of ledger rows that match."""
        return len(self.collect())


def _readable(raw: Row) -> Row:
    """A ledger row with its times as UTC datetimes (the ledger keeps epoch seconds)."""
    for name in _TIMES:
        if raw.get(name) is not None:
            raw[name] = datetime.datetime.fromtimestamp(float(raw[name]), datetime.UTC)
    return raw


def _equals(name: str, value: Any) -> Callable[[Row], bool]:
    return lambda row: bool(row[name] == value)


def _grouped(rows: list[Row], keys: tuple[str, ...]) -> ResultSet:
    groups: dict[tuple[Any, ...], list[float]] = {}
    for row in rows:
        acc = groups.setdefault(tuple(row[k] for k in keys), [0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += float(row['credits'] or 0)
        acc[2] += float(row['cost_usd'] or 0)
    names = [*keys, 'calls', 'credits', 'cost_usd']
    columns: list[list[Any]] = [[] for _ in names]
    for key, (calls, credits, usd) in groups.items():
        for i, value in enumerate([*key, int(calls), credits, usd]):
            columns[i].append(value)
    types = [*(_type(k) for k in keys), ts.Int, ts.Float, ts.Float]
    return ResultSet(names, types, columns)


def _type(name: str) -> ts.ColumnType:
    if name in _INT_COLUMNS:
        return ts.Int
    return _TYPES.get(name, ts.String)


def _check(names: tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise InvalidValueError(
            f'rv.calls() has no column(s) {", ".join(map(repr, unknown))}; columns are '
            f'{", ".join(COLUMNS)}.'
        )


def calls_query(catalog: Catalog, table_id: int | None) -> CallsQuery:
    """The ledger of ``catalog`` (of one table when ``table_id`` is given)."""
    assert catalog.exec.ledger is not None

    def names() -> dict[tuple[int | None, int | None], tuple[str, str]]:
        with catalog.store.read() as conn:
            tables = dict(conn.execute(sa.select(tables_table.c.id, tables_table.c.path)).all())
            cols = conn.execute(
                sa.select(columns_table.c.table_id, columns_table.c.id, columns_table.c.name)
            ).all()
        return {(t, c): (tables.get(t, f'<dropped table {t}>'), name) for t, c, name in cols}

    return CallsQuery(catalog.exec.ledger, names, table_id)
