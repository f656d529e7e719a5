"""The ledger's catalog tables: paid calls, the answer journal, claims in flight, budgets.

What each table holds is told in ``store/ledger.py``, which reads and writes the first two;
``store/flights.py`` the claims, ``store/budgets.py`` the budgets, ``store/ledger_report.py``
what the ledger says of spend and concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from reverie.store.shared_columns import catalog_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Outcome = Literal['answered', 'failed', 'maybe_charged', 'bad_answer']
ANSWERED: Outcome = 'answered'
BAD_ANSWER: Outcome = 'bad_answer'  # charged, but the answer did not decode: never reused
FAILED: Outcome = 'failed'
MAYBE_CHARGED: Outcome = 'maybe_charged'

ledger_metadata = sa.MetaData()

calls_table = catalog_table(
    'rv_calls',
    ledger_metadata,
    sa.Column('table_id', sa.Integer, nullable=True, index=True),
    sa.Column('column_id', sa.Integer, nullable=True),
    sa.Column('row_id', sa.BigInteger, nullable=True),
    sa.Column('function', sa.Text, nullable=False),
    sa.Column('endpoint', sa.Text, nullable=False),
    sa.Column('fingerprint', sa.String(64), nullable=False, index=True),
    sa.Column('attempt', sa.Integer, nullable=False),
    sa.Column('started_at', sa.Float, nullable=False),
    sa.Column('finished_at', sa.Float, nullable=True),
    sa.Column('http_status', sa.Integer, nullable=True),
    sa.Column('request_id', sa.Text, nullable=True),
    sa.Column('model_version', sa.Text, nullable=True),
    sa.Column('credits', sa.Float, nullable=False, server_default='0'),
    sa.Column('cost_usd', sa.Float, nullable=True),
    sa.Column('outcome', sa.String(16), nullable=False),
    sa.Column('cache_hit', sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column('journal_id', sa.Integer, nullable=True),
    sa.Column('delivered', sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column('error', sa.Text, nullable=True),
    # The table version the call computes cells of (None: finishing pending cells, a query).
    sa.Column('table_version', sa.Integer, nullable=True),
    # The process that sent it (``host:pid:nonce``): others wait for its answer (single flight).
    sa.Column('owner', sa.Text, nullable=True),
    # The media file holding the answer's bytes (catalog 4): the cache reads it once the
    # journal entry is pruned.
    sa.Column('answer_ref', sa.Text, nullable=True),
    created=False,
)

journal_table = catalog_table(
    'rv_journal',
    ledger_metadata,
    sa.Column('sha256', sa.String(64), nullable=False, index=True),
    sa.Column('size', sa.BigInteger, nullable=False),
    sa.Column('media_ref', sa.Text, nullable=True),
    sa.Column('data', sa.LargeBinary, nullable=True),
)

# Single flight across processes: one row per fingerprint whose call is in flight, inserted
# before the call is sent (the primary key makes one claimant win) and deleted once its
# answer is journalled or it failed.
flights_table = sa.Table(
    'rv_flights',
    ledger_metadata,
    sa.Column('fingerprint', sa.String(64), primary_key=True),
    sa.Column('owner', sa.Text, nullable=False),
    sa.Column('claimed_at', sa.Float, nullable=False),
)

# Spend caps shared by every process on this database (``store/budgets.py``): one row per
# scope (a table, or None: all tables) and unit.
budgets_table = catalog_table(
    'rv_budgets',
    ledger_metadata,
    sa.Column('table_id', sa.Integer, nullable=True),
    sa.Column('unit', sa.String(8), nullable=False),  # 'credits' or 'usd'
    sa.Column('cap', sa.Float, nullable=False),
    sa.Column('per', sa.String(8), nullable=True),  # 'day' (UTC) or None: for ever
)

CALL_COLUMNS = tuple(
    c.name for c in calls_table.columns if c.name not in ('delivered', 'owner', 'answer_ref')
)


@dataclass(frozen=True)
class CallSite:
    """Where a paid call's answer goes: table, column and row (all None outside a table)."""

    table_id: int | None = None
    column_id: int | None = None
    row_id: int | None = None


CREDIT_PROVIDERS = ('reve', 'local')  # billed in credits (local: nothing); the rest in USD


def insert_row(conn: Connection, table: sa.Table, values: dict[str, Any]) -> int:
    """Insert one row of ``table``; its new id."""
    return int(conn.execute(sa.insert(table).values(values).returning(table.c.id)).scalar_one())


def usd_apart_in(conn: Connection) -> None:
    """Catalog 2 -> 3: rows of USD providers held dollars in ``credits``; move them.

    Their ``cost_usd`` keeps what the answer said (or takes the worst case that ``credits``
    held); ``credits`` becomes 0, so ``credits_used()`` counts Reve credits only.
    """
    c = calls_table.c
    in_credits = sa.or_(*(c.endpoint.like(f'{p}/%') for p in CREDIT_PROVIDERS))
    conn.execute(
        sa.update(calls_table)
        .where(sa.not_(in_credits))
        .values(cost_usd=sa.func.coalesce(c.cost_usd, c.credits), credits=0)
    )
