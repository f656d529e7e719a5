"""Database side of computing cells: which rows are pending, read their inputs, write results.

Results are written in small batches, each its own transaction; writing a row's results
also gives up this process's claim on it (``owner_id``; claims and leases: ``worker.py``).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from reverie.exec.codec import DRIVER_NATIVE
from reverie.exec.schema import ColumnSchema, TableSchema
from reverie.store.db import CLAIM_OWNER, CLAIM_UNTIL, PENDING, ROWID, VALUE, ColumnSql, Store
from reverie.store.ledger import Ledger

OWNER = f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}'


def owner_id() -> str:
    """This process's claim owner id (recomputed after fork)."""
    global OWNER
    _host, pid, _ = OWNER.split(':')
    if int(pid) != os.getpid():
        OWNER = f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}'
    return OWNER


def pending_condition(schema: TableSchema) -> sa.ColumnElement[bool]:
    """SQL: the row has at least one pending computed cell."""
    states = [schema.sql_col(c.sql.state) == PENDING for c in schema.computed()]
    return sa.or_(*states) if states else sa.false()


def rowid_condition(rowid: sa.ColumnElement[Any], rowids: Sequence[int]) -> Any:
    """SQL: the row is one of ``rowids`` (a range test when there are many: an insert's rows)."""
    if len(rowids) <= 500:
        return rowid.in_(list(rowids))
    return rowid.between(min(rowids), max(rowids))


def fetch_rows(
    store: Store, schema: TableSchema, rowids: Sequence[int], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """The given physical columns (and the row id) of the given rows."""
    t = schema.sa_table
    names = [ROWID, *(c for c in columns if c != ROWID)]
    query = sa.select(*(t.c[c] for c in names)).where(t.c[ROWID].in_(list(rowids)))
    with store.read() as conn:
        result = conn.execute(query.order_by(t.c[ROWID]))
        return [dict(zip(names, r, strict=True)) for r in result]


@dataclass
class CellResult:
    """One computed cell, ready to write."""

    rowid: int
    column: ColumnSchema
    state: int
    value: Any = None
    errortype: str | None = None
    errormsg: str | None = None
    meta: dict[str, Any] | None = None


def _write_values_sqlite(
    conn: sa.Connection, table: str, sql: ColumnSql, values: Sequence[tuple[Any, int]]
) -> None:
    """Value cells, ``(value, rowid)``, of a pending column (no error or meta to clear)."""
    if values:
        conn.exec_driver_sql(
            f'UPDATE {table} SET {sql.value} = ?, {sql.state} = {VALUE} WHERE {ROWID} = ?', values
        )


def _write_plain_sqlite(
    conn: sa.Connection, table: str, sql: ColumnSql, results: Sequence[CellResult]
) -> None:
    # Cells being computed are pending, and a pending cell has no error or meta (resets clear
    # them), so a plain value needs only its value and state written.
    values = [(r.value, r.rowid) for r in results if r.state == VALUE and r.meta is None]
    others = [r for r in results if not (r.state == VALUE and r.meta is None)]
    _write_values_sqlite(conn, table, sql, values)
    if others:
        conn.exec_driver_sql(
            f'UPDATE {table} SET {sql.value} = ?, {sql.state} = ?, {sql.errortype} = ?, '
            f'{sql.errormsg} = ?, {sql.cellmeta} = ? WHERE {ROWID} = ?',
            [
                (
                    r.value,
                    r.state,
                    r.errortype,
                    r.errormsg,
                    None if r.meta is None else json.dumps(r.meta),
                    r.rowid,
                )
                for r in others
            ],
        )


def write_results(
    store: Store,
    schema: TableSchema,
    results: Sequence[CellResult],
    done_rows: Sequence[int],
    call_ids: Sequence[int] = (),
) -> None:
    """Write cells (one UPDATE per column, executemany) and release finished rows, atomically.

    ``call_ids``: ledger rows whose journalled answers these cells take (paid-call layer).
    """
    with store.begin() as conn:
        write_results_in(conn, store, schema, results, done_rows)
        Ledger.mark_delivered_in(conn, call_ids)


def write_results_in(
    conn: sa.Connection,
    store: Store,
    schema: TableSchema,
    results: Sequence[CellResult],
    done_rows: Sequence[int],
    plain_values: dict[int, list[tuple[Any, int]]] | None = None,
) -> None:
    """``write_results`` inside a transaction the caller holds.

    ``plain_values`` are more value cells, ``(value, rowid)`` per column id, with no meta.
    """
    t = schema.sa_table
    by_column: dict[int, list[CellResult]] = {}
    for r in results:
        by_column.setdefault(r.column.id, []).append(r)
    for column_id, values in (plain_values or {}).items():
        if not values:
            continue
        col = schema.by_id(column_id)
        if store.is_sqlite:
            _write_values_sqlite(conn, t.name, col.sql, values)
        else:
            by_column.setdefault(column_id, []).extend(
                CellResult(rid, col, VALUE, value) for value, rid in values
            )
    for results_of_col in by_column.values():
        sql = results_of_col[0].column.sql
        if store.is_sqlite and isinstance(results_of_col[0].column.col_type, DRIVER_NATIVE):
            _write_plain_sqlite(conn, t.name, sql, results_of_col)
            continue
        stmt = (
            sa.update(t)
            .where(t.c[ROWID] == sa.bindparam('_rid'))
            .values(
                {
                    sql.value: sa.bindparam('_val', type_=t.c[sql.value].type),
                    sql.state: sa.bindparam('_s'),
                    sql.errortype: sa.bindparam('_et'),
                    sql.errormsg: sa.bindparam('_em'),
                    sql.cellmeta: sa.bindparam('_m', type_=sa.JSON(none_as_null=True)),
                }
            )
        )
        conn.execute(
            stmt,
            [
                {
                    '_rid': r.rowid,
                    '_val': r.value,
                    '_s': r.state,
                    '_et': r.errortype,
                    '_em': r.errormsg,
                    '_m': r.meta,
                }
                for r in results_of_col
            ],
        )
    if done_rows and store.is_sqlite:
        me = owner_id()
        conn.exec_driver_sql(
            f'UPDATE {t.name} SET {CLAIM_OWNER} = NULL, {CLAIM_UNTIL} = NULL '
            f'WHERE {ROWID} = ? AND {CLAIM_OWNER} = ?',
            [(rid, me) for rid in done_rows],
        )
    elif done_rows:
        conn.execute(
            sa.update(t)
            .where(sa.and_(t.c[ROWID].in_(list(done_rows)), t.c[CLAIM_OWNER] == owner_id()))
            .values({CLAIM_OWNER: None, CLAIM_UNTIL: None})
        )
