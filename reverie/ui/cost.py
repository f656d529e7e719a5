"""The Cost page: spend from the ledger of paid calls (``rv.calls()``), summed per key.

Credits and money (USD) are two columns everywhere and never added together. Outcomes:
``answered`` (charged), ``cache hit`` (free), ``maybe charged`` (sent, no answer: counted
as spent), ``bad answer`` (charged, the answer did not decode) and ``refused`` (``failed``:
nothing charged). Budgets are the caps of ``rv.set_budget`` with what each has left.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reverie.catalog.budgets import budgets
from reverie.catalog.calls import calls_query

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog

OUTCOMES = ('answered', 'cache hit', 'maybe charged', 'bad answer', 'refused')


@dataclass
class Spend:
    """Calls, credits and USD of one group; ``outcomes`` counts calls per outcome."""

    key: str
    calls: int = 0
    credits: float = 0.0
    usd: float = 0.0
    usd_calls: int = 0  # calls that reported a USD cost
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def add(self, row: dict[str, Any]) -> None:
        self.calls += 1
        self.credits += float(row['credits'] or 0)
        if row['cost_usd'] is not None:
            self.usd += float(row['cost_usd'])
            self.usd_calls += 1
        self.outcomes[outcome(row)] += 1


@dataclass
class CostReport:
    total: Spend
    tables: list[Spend]
    columns: list[Spend]
    models: list[Spend]
    days: list[Spend]
    budget: float | None  # the default budget of each run, from the settings
    caps: list[dict[str, Any]]  # rv.budgets(): table ('*': all), unit, cap, per, spent, left


def outcome(row: dict[str, Any]) -> str:
    """The outcome bucket of one ledger row."""
    if row['cache_hit']:
        return 'cache hit'
    return {
        'answered': 'answered',
        'maybe_charged': 'maybe charged',
        'bad_answer': 'bad answer',
    }.get(row['outcome'], 'refused')


def _day(row: dict[str, Any]) -> str:
    when: datetime.datetime = row['started_at']  # rv.calls() gives UTC datetimes
    return when.strftime('%Y-%m-%d')


def _model(row: dict[str, Any]) -> str:
    version = row['model_version']
    return f'{row["function"]} ({version})' if version else str(row['function'])


def _table(row: dict[str, Any]) -> str:
    return str(row['table'] or '(no table)')


def _column(row: dict[str, Any]) -> str:
    return f'{_table(row)}.{row["column"]}' if row['column'] else _table(row)


def _grouped(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> list[Spend]:
    groups: dict[str, Spend] = {}
    for row in rows:
        k = key(row)
        groups.setdefault(k, Spend(k)).add(row)
    return list(groups.values())


def cost_report(catalog: Catalog, table_id: int | None = None) -> CostReport:
    """The ledger of one table (or all), summed per table, column, model and day."""
    rows = list(calls_query(catalog, table_id).collect())
    total = Spend('total')
    for row in rows:
        total.add(row)

    def by_credits(groups: list[Spend]) -> list[Spend]:
        return sorted(groups, key=lambda s: (-s.credits, -s.usd, s.key))

    return CostReport(
        total,
        by_credits(_grouped(rows, _table)),
        by_credits(_grouped(rows, _column)),
        by_credits(_grouped(rows, _model)),
        sorted(_grouped(rows, _day), key=lambda s: s.key),
        catalog.exec.settings().budget_credits,
        list(budgets(catalog)),
    )


def bar_chart(days: list[Spend], value: Callable[[Spend], float], unit: str) -> str:
    """An inline SVG bar chart of ``value`` per day (no script, no external file)."""
    if not days:
        return ''
    width, height, pad, label_h = 640, 180, 36, 34
    top = max(value(d) for d in days) or 1.0
    bar_w = max(6.0, min(60.0, (width - 2 * pad) / len(days) - 6))
    step = (width - 2 * pad) / len(days)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + label_h}" role="img" '
        f'aria-label="{html.escape(unit)} per day" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" class="axis"/>',
        f'<text x="{pad}" y="12" class="tick">{number(top)} {html.escape(unit)}</text>',
    ]
    for i, d in enumerate(days):
        v = value(d)
        h = (height - 24) * v / top
        x = pad + i * step + (step - bar_w) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{d.key}: {number(v)} {html.escape(unit)}</title></rect>'
        )
        if len(days) <= 14 or i % max(1, len(days) // 7) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height + 16}" class="tick" '
                f'text-anchor="middle">{d.key[5:]}</text>'
            )
    parts.append('</svg>')
    return ''.join(parts)


def number(x: float) -> str:
    return f'{x:,.2f}'.rstrip('0').rstrip('.') if x % 1 else f'{x:,.0f}'
