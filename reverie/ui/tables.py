"""What the Tables page shows: the directory tree and, per table, its schema and cell counts.

Read-only. Rows, versions and views come from the public ``Table`` handle; the pending and
error counts of computed columns come from one small ``SELECT`` over the data table's cell
states (the API has no per-column count of cell states).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reverie import Table
from reverie import types as ts
from reverie.catalog import dirs
from reverie.errors import InvalidValueError
from reverie.store.db import ERROR, PENDING

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog
    from reverie.exec.schema import ColumnSchema, TableSchema


@dataclass(frozen=True)
class Opened:
    """A table named in a URL (``dir/t`` or ``dir/t:3``): its handle and schema."""

    spec: str  # as written in URLs: 'dir/t' or 'dir/t:3'
    path: str
    version: int | None
    table: Table
    schema: TableSchema

    @property
    def read_only(self) -> bool:
        return self.schema.read_only


def open_table(catalog: Catalog, spec: str) -> Opened:
    """The table ``spec`` names; NotFoundError / InvalidValueError when there is none."""
    name, sep, version_text = spec.rpartition(':')
    if not sep:
        name, version_text = spec, ''
    if sep and not version_text.isdigit():
        raise InvalidValueError(f'{spec!r}: after ":" comes a version number.')
    path = name.replace('.', '/')
    table_id = catalog.table_id(path)
    version = int(version_text) if sep else None
    schema = catalog.schema(table_id) if version is None else catalog.schema_at(table_id, version)
    path = schema.path
    return Opened(
        f'{path}:{version}' if version is not None else path,
        path,
        version,
        Table(catalog, table_id, version),
        schema,
    )


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the Tables page lists it."""

    name: str
    type: str
    computed_with: str | None
    is_image: bool
    computed: bool
    pending: int = 0
    errors: int = 0


@dataclass(frozen=True)
class TableInfo:
    """One table, view or snapshot with its counts."""

    path: str
    kind: str
    base: str | None
    rows: int
    version: int
    columns: list[ColumnInfo]
    views: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.columns)

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.columns)

    @property
    def image_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.is_image]


def is_image(col: ColumnSchema) -> bool:
    return isinstance(col.col_type, ts.ImageType)


def state_counts(catalog: Catalog, schema: TableSchema) -> dict[str, tuple[int, int]]:
    """Per computed column: (pending cells, error cells), in one scan of the rows."""
    cols = [c for c in schema.columns if c.is_computed]
    if not cols:
        return {}
    src = schema.reads
    sums: list[Any] = []
    for c in cols:
        state = src.c[c.sql.state]
        sums.append(sa.func.sum(sa.case((state == PENDING, 1), else_=0)))
        sums.append(sa.func.sum(sa.case((state == ERROR, 1), else_=0)))
    with catalog.store.read() as conn:
        row = conn.execute(sa.select(*sums).select_from(src)).one()
    return {c.name: (int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, c in enumerate(cols)}


def table_info(catalog: Catalog, opened: Opened, *, counts: bool = True) -> TableInfo:
    """Schema, row count, versions and views of one table (``counts``: cell states too)."""
    meta = opened.table.get_metadata()
    states = state_counts(catalog, opened.schema) if counts else {}
    columns = []
    for c in opened.schema.columns:
        pending, errors = states.get(c.name, (0, 0))
        columns.append(
            ColumnInfo(
                c.name,
                str(c.col_type),
                meta['columns'][c.name]['computed_with'],
                is_image(c),
                c.is_computed,
                pending,
                errors,
            )
        )
    return TableInfo(
        opened.path,
        opened.schema.kind,
        meta['base'],
        opened.table.count() if counts else 0,
        int(meta['version']),
        columns,
        opened.table.list_views() if opened.version is None else [],
    )


@dataclass
class DirNode:
    """A directory of the tree with its tables and subdirectories."""

    path: str
    name: str
    tables: list[tuple[str, str, str]] = field(default_factory=list)  # (path, name, kind)
    dirs: list[DirNode] = field(default_factory=list)


def tree(catalog: Catalog) -> DirNode:
    """The directory tree with every table, view and snapshot in it."""
    root = DirNode('', '')
    nodes = {'': root}
    for d in sorted(dirs.list_dirs(catalog, '')):
        parent, _, name = d.rpartition('/')
        node = DirNode(d, name)
        nodes[d] = node
        nodes.get(parent, root).dirs.append(node)
    kinds = catalog.kinds()
    for path in sorted(catalog.list_tables('')):
        parent, _, name = path.rpartition('/')
        nodes.get(parent, root).tables.append((path, name, kinds.get(path, 'table')))
    return root
