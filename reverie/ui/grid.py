"""The grid's rows: filtered, sorted and paged by key (never OFFSET), read with small SQL.

A page is the rows after a cursor: the row id, or (sort value, row id) when sorted by a
column. Paging by key reads only the rows it shows, so page 2,000 of a million-row table
costs what page 1 does (with an index on the sort column, ``t.add_index``). Rows whose
sort value is null come after all the others, ordered by row id.

The API's ``Query`` has no row id to page by and no cell state filter, hence this module.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.store.db import ERROR, PENDING, ROWID, VALUE, VERSION

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog
    from reverie.exec.schema import ColumnSchema, TableSchema

PAGE_ROWS = 48
MAX_PAGE_ROWS = 500
_SORTABLE = (ts.StringType, ts.IntType, ts.FloatType, ts.BoolType)


@dataclass(frozen=True)
class Cell:
    """One cell as a card shows it."""

    column: str
    kind: str  # 'image', 'text', 'null', 'pending', 'error'
    text: str = ''  # the whole value as text (text kind), or the error message
    ref: str | None = None  # media reference of an image
    errortype: str | None = None


@dataclass(frozen=True)
class Card:
    rowid: int
    version: int | None
    cells: list[Cell]


@dataclass(frozen=True)
class GridParams:
    """What the grid's URL asks for: filters, sort, page."""

    filters: dict[str, str] = field(default_factory=dict)  # column -> value (f.<column>=...)
    errors: str = ''  # '' (any row), '*' (an error in any column) or a column name
    pending: str = ''
    sort: str = ''  # '' sorts by row id
    desc: bool = False
    after: str = ''  # cursor: the last row of the previous page
    limit: int = PAGE_ROWS

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> GridParams:
        limit = query.get('limit', '')
        return cls(
            filters={k[2:]: v for k, v in query.items() if k.startswith('f.') and v != ''},
            errors=query.get('errors', ''),
            pending=query.get('pending', ''),
            sort=query.get('sort', ''),
            desc=query.get('desc', '') in ('1', 'true', 'on'),
            after=query.get('after', ''),
            limit=min(int(limit), MAX_PAGE_ROWS) if limit.isdigit() and int(limit) > 0 else 48,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """URL parameters of these params with ``changes`` (a value of '' drops it)."""
        out = {f'f.{k}': v for k, v in self.filters.items()}
        out.update(
            errors=self.errors,
            pending=self.pending,
            sort=self.sort,
            desc='1' if self.desc else '',
            after=self.after,
            limit='' if self.limit == PAGE_ROWS else str(self.limit),
        )
        out.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in out.items() if v != ''}


@dataclass(frozen=True)
class Page:
    cards: list[Card]
    next_after: str | None  # cursor of the next page, None on the last one


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip('=')


def decode_cursor(text: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(text + '=' * (-len(text) % 4)))
    except (ValueError, TypeError):
        raise InvalidValueError(f'Page cursor {text!r} is not one this page made.') from None
    if not isinstance(key, list) or not key or not isinstance(key[-1], int):
        raise InvalidValueError(f'Page cursor {text!r} is not one this page made.')
    return key


def page(catalog: Catalog, schema: TableSchema, params: GridParams) -> Page:
    """One page of rows of ``schema`` (current or at a version) as cards."""
    src = schema.reads
    rowid = src.c[ROWID]
    conds = _conditions(schema, params)
    sort_col = _sort_column(schema, params.sort)
    cursor = decode_cursor(params.after) if params.after else None
    up = not params.desc
    columns = _selected(schema)
    limit = params.limit + 1  # one more: is there a next page?

    def after_id(r: int) -> Any:
        return rowid > r if up else rowid < r

    def order_id() -> Any:
        return rowid.asc() if up else rowid.desc()

    rows: list[Any]
    keys: list[list[Any]]
    with catalog.store.read() as conn:
        if sort_col is None:
            q = sa.select(*columns).where(*conds)
            if cursor is not None:
                q = q.where(after_id(int(cursor[-1])))
            rows = list(conn.execute(q.order_by(order_id()).limit(limit)).mappings())
            keys = [[found[ROWID]] for found in rows]
        else:
            value = src.c[sort_col.sql.value]
            rows, keys = [], []
            in_nulls = cursor is not None and cursor[0] is None
            if not in_nulls:
                q = sa.select(*columns).where(*conds, value.is_not(None))
                if cursor is not None:
                    v, r = cursor[0], int(cursor[-1])
                    ahead = value > v if up else value < v
                    q = q.where(sa.or_(ahead, sa.and_(value == v, after_id(r))))
                order = value.asc() if up else value.desc()
                rows = list(conn.execute(q.order_by(order, order_id()).limit(limit)).mappings())
                keys = [[r[sort_col.sql.value], r[ROWID]] for r in rows]
            if len(rows) < limit:  # the rows whose sort value is null come last
                q = sa.select(*columns).where(*conds, value.is_(None))
                if in_nulls:
                    q = q.where(after_id(int(cursor[-1])))  # type: ignore[index]
                more = conn.execute(q.order_by(order_id()).limit(limit - len(rows))).mappings()
                for found in more:
                    rows.append(found)
                    keys.append([None, found[ROWID]])
    has_next = len(rows) > params.limit
    rows, keys = rows[: params.limit], keys[: params.limit]
    cards = [_card(schema, r) for r in rows]
    return Page(cards, encode_cursor(keys[-1]) if has_next and keys else None)


def _selected(schema: TableSchema) -> list[Any]:
    src = schema.reads
    names = [ROWID] + ([VERSION] if VERSION in src.c else [])
    for c in schema.columns:
        names.append(c.sql.value)
        if c.is_computed:
            names += [c.sql.state, c.sql.errortype, c.sql.errormsg]
    return [src.c[n] for n in names]


def _card(schema: TableSchema, row: Mapping[str, Any]) -> Card:
    return Card(
        int(row[ROWID]),
        int(row[VERSION]) if VERSION in row else None,
        [cell_of(c, row) for c in schema.columns],
    )


def cell_of(col: ColumnSchema, row: Mapping[str, Any]) -> Cell:
    """A column's cell in a row read with its SQL column names."""
    sql = col.sql
    if col.is_computed:
        state = row[sql.state]
        if state == PENDING:
            return Cell(col.name, 'pending')
        if state == ERROR:
            return Cell(col.name, 'error', row[sql.errormsg] or '', errortype=row[sql.errortype])
        assert state == VALUE
    value = row[sql.value]
    if value is None:
        return Cell(col.name, 'null')
    if isinstance(col.col_type, ts.ImageType):
        return Cell(col.name, 'image', ref=str(value))
    return Cell(col.name, 'text', show_value(col.col_type, value))


def show_value(col_type: ts.ColumnType, value: Any) -> str:
    """A stored value as text, whole."""
    if isinstance(col_type, ts.JsonType | ts.ArrayType) and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str):
        return value
    value = col_type.from_db(value)
    return str(value)


def _sort_column(schema: TableSchema, name: str) -> ColumnSchema | None:
    if not name:
        return None
    col = schema.require(name)
    if not isinstance(col.col_type, _SORTABLE):
        raise InvalidValueError(f'Column {name!r} ({col.col_type}) cannot be sorted here.')
    return col


def scalar_columns(schema: TableSchema) -> list[str]:
    """Columns the grid can sort by and filter by value (String, Int, Float, Bool)."""
    return [c.name for c in schema.columns if isinstance(c.col_type, _SORTABLE)]


def _conditions(schema: TableSchema, params: GridParams) -> list[Any]:
    src = schema.reads
    conds: list[Any] = []
    for name, text in params.filters.items():
        col = schema.require(name)
        conds.append(_value_filter(col, src.c[col.sql.value], text))
    for state, which in ((ERROR, params.errors), (PENDING, params.pending)):
        if not which:
            continue
        cols = (
            [c for c in schema.columns if c.is_computed]
            if which == '*'
            else [schema.require(which)]
        )
        if not all(c.is_computed for c in cols):
            raise InvalidValueError(f'Column {which!r} is not computed: it has no cell states.')
        conds.append(sa.or_(sa.false(), *(src.c[c.sql.state] == state for c in cols)))
    return conds


def _value_filter(col: ColumnSchema, value: Any, text: str) -> Any:
    t = col.col_type
    if text == 'null':
        return value.is_(None)
    if isinstance(t, ts.StringType):
        return sa.func.lower(value).contains(text.lower(), autoescape=True)
    try:
        if isinstance(t, ts.BoolType):
            return value == {'true': True, 'false': False}[text.lower()]
        if isinstance(t, ts.IntType):
            return value == int(text)
        if isinstance(t, ts.FloatType):
            return value == float(text)
    except (KeyError, ValueError):
        raise InvalidValueError(f'Column {col.name!r} is {t}; {text!r} is not one.') from None
    raise InvalidValueError(
        f'Column {col.name!r} ({t}) cannot be filtered by value; filter by "null" only.'
    )


def neighbours(
    catalog: Catalog, schema: TableSchema, rowid: int, params: GridParams
) -> tuple[int | None, int | None]:
    """Row ids before and after ``rowid`` in row id order, among rows the filters keep."""
    src = schema.reads
    rid = src.c[ROWID]
    conds = _conditions(schema, params)
    with catalog.store.read() as conn:
        prev = conn.execute(
            sa.select(rid).where(*conds, rid < rowid).order_by(rid.desc()).limit(1)
        ).scalar()
        nxt = conn.execute(
            sa.select(rid).where(*conds, rid > rowid).order_by(rid.asc()).limit(1)
        ).scalar()
    return (None if prev is None else int(prev)), (None if nxt is None else int(nxt))


def row(catalog: Catalog, schema: TableSchema, rowid: int) -> Mapping[str, Any] | None:
    """One row by id, with every SQL column of ``schema`` (cell meta included)."""
    src = schema.reads
    names = [c for c in src.c if c.name not in ('_claim_owner', '_claim_until')]
    with catalog.store.read() as conn:
        found = conn.execute(sa.select(*names).where(src.c[ROWID] == rowid)).mappings().first()
    return None if found is None else dict(found)


def first_row(catalog: Catalog, schema: TableSchema, params: GridParams) -> int | None:
    """The first row id the filters keep."""
    src = schema.reads
    rid = src.c[ROWID]
    with catalog.store.read() as conn:
        found = conn.execute(
            sa.select(rid).where(*_conditions(schema, params)).order_by(rid).limit(1)
        ).scalar()
    return None if found is None else int(found)
