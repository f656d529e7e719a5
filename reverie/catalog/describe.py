"""What a table handle says about itself: its schema table and ``get_metadata()``."""

from __future__ import annotations

from typing import Any

from reverie.catalog.catalog import Catalog
from reverie.catalog.views import derivation
from reverie.exec.schema import TableSchema
from reverie.exprs.render import render
from reverie.store.versions import current_version

HEADER = ['Column Name', 'Type', 'Computed With']


def metadata(catalog: Catalog, schema: TableSchema, pinned: int | None) -> dict[str, Any]:
    """Pixeltable's ``get_metadata()``: name, path, version and each column."""
    base = None if schema.base_id is None else catalog.schema(schema.base_id).path
    if pinned is None:
        with catalog.store.read() as conn:
            version = current_version(conn, schema.id)
    return {
        'name': schema.name,
        'path': schema.path,
        'kind': schema.kind,
        'base': base,
        'is_view': schema.kind == 'view',
        'is_snapshot': schema.kind == 'snapshot',
        'is_replica': False,
        'comment': '',
        'version': version if pinned is None else pinned,
        'schema_version': schema.version,
        'columns': {
            c.name: {
                'name': c.name,
                'type_': str(c.col_type),
                'computed_with': render(c.expr) if c.expr is not None else None,
                'is_stored': c not in schema.unstored,
                'is_primary_key': False,
                'defined_in': schema.name,
            }
            for c in (*schema.columns, *schema.unstored)
        },
    }


def schema_rows(catalog: Catalog, schema: TableSchema, pinned: int | None) -> list[list[str]]:
    """Each column as [name, type, what computes it (or the base column it mirrors)]."""
    rows = [
        [c.name, str(c.col_type), render(c.expr) if c.expr is not None else (c.load_error or '')]
        for c in schema.columns
    ]
    rows += [
        [c.name, str(c.col_type), f'{render(c.expr)} (not stored)']
        for c in schema.unstored
        if c.expr is not None
    ]
    if schema.base_id is not None:
        base = catalog.schema(schema.base_id)
        names = {c.id: c.name for c in base.columns}
        for row, c in zip(rows[: len(schema.columns)], schema.columns, strict=True):
            if c.mirror_of is not None:
                row[2] = f'{base.path}.{names.get(c.mirror_of, "?")}'
    return rows


def caption(catalog: Catalog, schema: TableSchema, pinned: int | None) -> str:
    """'Table 'dir/t'', 'View 'dir/v' (of 'dir/t' where ...)', with a version if pinned."""
    if pinned is not None:
        kind = schema.kind.capitalize()  # Table, View or Snapshot
        return f"{kind} '{schema.path}' at version {pinned} (read-only)"
    if schema.base_id is None:
        return f"Table '{schema.path}'"
    d = derivation(catalog, schema)
    where = '' if d.predicate is None else f' where {render(d.predicate)}'
    of = f"'{d.base.path}'{where}"
    if schema.kind == 'snapshot':
        return f"Snapshot '{schema.path}' of {of} at version {d.base_version}"
    return f"View '{schema.path}' of {of}"
