"""A table's versions as users see them: ``history()``, ``get_versions()`` and ``revert()``.

The version log itself lives in ``store/versions.py`` and undoing a version in
``revert.py``; this module reads the log for people (with the paid calls each version
made, from the ledger) and drives a revert to its end (the views follow).
"""

from __future__ import annotations

import bisect
import datetime
from typing import Any

from reverie import types as ts
from reverie.catalog.catalog import Catalog
from reverie.catalog.paths import name_of
from reverie.catalog.propagate import propagate
from reverie.catalog.revert import revert_latest
from reverie.catalog.runs import Operation
from reverie.display.resultset import ResultSet
from reverie.store.versions import VersionRow, version_log

_COLUMNS = (
    'version',
    'created_at',
    'kind',
    'inserted',
    'updated',
    'deleted',
    'computed',
    'errors',
    'paid_calls',
)
# Versions that change rows; the others change columns (Pixeltable's change_type).
DATA_KINDS = frozenset({'insert', 'update', 'delete', 'recompute', 'sync'})
_TYPES: list[ts.ColumnType | None] = [ts.Int, ts.Timestamp, ts.String, *[ts.Int] * 6]


def history(catalog: Catalog, table_id: int, at: int | None, n: int | None) -> ResultSet:
    """``get_versions`` as a ResultSet, without the column lists."""
    versions = get_versions(catalog, table_id, at, n)
    return ResultSet(list(_COLUMNS), _TYPES, [[v[k] for v in versions] for k in _COLUMNS])


def get_versions(
    catalog: Catalog, table_id: int, at: int | None, n: int | None
) -> list[dict[str, Any]]:
    """Every version up to ``at`` (None: the latest), newest first; the ``n`` newest."""
    with catalog.store.read() as conn:
        log = version_log(conn, table_id)
    if at is not None:
        log = [v for v in log if v.version <= at]
    log = log[:n] if n is not None else log
    paid = _paid_calls_per_version(catalog, table_id, log)
    return [
        {
            'version': v.version,
            'created_at': datetime.datetime.fromtimestamp(v.created_at),
            'kind': v.kind,
            'inserted': v.inserted,
            'updated': v.updated,
            'deleted': v.deleted,
            'computed': v.computed,
            'errors': v.errors,
            'paid_calls': paid.get(v.version, 0),
            'columns': None if v.columns is None else [c['name'] for c in v.columns],
            # Pixeltable's spellings of the same facts (VersionMetadata)
            'change_type': 'data' if v.kind in DATA_KINDS else 'schema',
            'inserts': v.inserted,
            'updates': v.updated,
            'deletes': v.deleted,
        }
        for v in log
    ]


def _paid_calls_per_version(
    catalog: Catalog, table_id: int, log: list[VersionRow]
) -> dict[int, int]:
    """Paid calls (charged or maybe charged, never cache hits) of each version.

    A call made for a version's cells counts for it (unless that version was reverted and
    its number taken again since); a call made to finish pending cells counts for the
    version that was the latest when it started.
    """
    ledger = catalog.exec.ledger
    if ledger is None or not log:
        return {}
    starts = sorted((v.created_at, v.version) for v in log)
    times = [t for t, _ in starts]
    created = dict((v, t) for t, v in starts)
    counts: dict[int, int] = {}
    for when, version in ledger.report.paid_calls(table_id):
        if version is None:
            i = bisect.bisect_right(times, when) - 1
            version = starts[i][1] if i >= 0 else None
        elif version not in created or when < created[version]:
            version = None  # made for a version that was reverted
        if version is not None:
            counts[version] = counts.get(version, 0) + 1
    return counts


def revert(catalog: Catalog, table_id: int) -> None:
    """Undo the latest version of a table, bring its views in line and say what was done."""
    reverted = revert_latest(catalog, table_id)
    assert reverted is not None
    undone, files = reverted
    schema = catalog.schema(table_id)
    propagate(catalog, schema, Operation.of(catalog, None), None)
    gone = f'; {files} media file{"" if files == 1 else "s"} removed' if files else ''
    print(
        f'Reverted version {undone.version} ({undone.kind}) of {schema.kind} '
        f'{name_of(schema.path)!r}; it is now at version {undone.version - 1}{gone}.'
    )
