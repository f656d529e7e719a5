"""What the exec layer knows of a table: its columns, their SQL names, their expressions.

The catalog builds a ``TableSchema``; nothing here touches the database.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from reverie import types as ts
from reverie.errors import NotFoundError
from reverie.exprs import nodes as n
from reverie.store.db import ColumnSql


@dataclass(frozen=True)
class ColumnSchema:
    """One user column.

    Attributes:
        load_error: why a stored computed expression could not be loaded (its function
            is gone); cells of such a column become errors saying so.
        is_computed: the column has cell states (computed, or mirroring a computed column).
        mirror_of: for a column of a view or snapshot, the base column it copies.
    """

    id: int
    name: str
    col_type: ts.ColumnType
    expr: n.Node | None = None
    load_error: str | None = None
    is_computed: bool = False
    mirror_of: int | None = None

    @property
    def computes(self) -> bool:
        """Whether the engine computes this column's cells (a mirror is copied instead)."""
        return self.is_computed and self.mirror_of is None

    @functools.cached_property
    def sql(self) -> ColumnSql:
        return ColumnSql(self.id, self.is_computed)

    def ref(self, table_id: int) -> n.ColumnRef:
        """A node referring to this column."""
        return n.ColumnRef(table_id, self.id, self.name, self.col_type, self.is_computed)


@dataclass(frozen=True)
class TableSchema:
    """A table at one schema version.

    Attributes:
        version: the schema version (changes with the columns, not with the rows).
        sa_table: the data table, where writes go.
        history: the history table (row images later versions replaced).
        source: where reads come from: the data table, or the rows as they were at
            ``at_version`` (time travel).
        kind: 'table', 'view' or 'snapshot'.
        base_id: the table a view or snapshot is based on.
        views: ids of the views based on this table (making or dropping one changes
            ``version``).
        unstored: computed columns added with ``stored=False``: not in ``columns`` (no SQL
            column, no cells); reading one computes its expression.
    """

    id: int
    path: str
    version: int
    columns: tuple[ColumnSchema, ...]
    sa_table: sa.Table = field(compare=False)
    history: sa.Table | None = field(default=None, compare=False)
    source: sa.FromClause | None = field(default=None, compare=False)
    at_version: int | None = None
    kind: str = 'table'
    base_id: int | None = None
    views: tuple[int, ...] = ()  # views based on this table (they follow its writes)
    unstored: tuple[ColumnSchema, ...] = ()

    def unstored_column(self, name: str) -> ColumnSchema | None:
        """The ``stored=False`` column called ``name``, or None."""
        return next((c for c in self.unstored if c.name == name), None)

    @property
    def reads(self) -> sa.FromClause:
        """The rows queries read: the data table, or the table at ``at_version``."""
        return self.sa_table if self.source is None else self.source

    @property
    def read_only(self) -> bool:
        """Time travel and snapshots cannot be changed."""
        return self.at_version is not None or self.kind == 'snapshot'

    @property
    def name(self) -> str:
        return self.path.rpartition('/')[2]

    def column(self, name: str) -> ColumnSchema | None:
        """The column called ``name``, or None."""
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def require(self, name: str) -> ColumnSchema:
        """The column called ``name``; NotFoundError listing the columns otherwise."""
        col = self.column(name)
        if col is None:
            raise NotFoundError(
                f'Table {self.path!r} has no column {name!r}; its columns are '
                f'{", ".join(repr(c.name) for c in self.columns)}.'
            )
        return col

    def by_id(self, column_id: int) -> ColumnSchema:
        """The column with this id."""
        for c in self.columns:
            if c.id == column_id:
                return c
        raise KeyError(column_id)

    def computed(self) -> list[ColumnSchema]:
        """Computed columns, each after the columns it reads (topological order)."""
        return [c for c in self.columns if c.computes]

    def dependents(self, column_id: int) -> list[ColumnSchema]:
        """Computed columns that read ``column_id``, directly or through others."""
        found: list[ColumnSchema] = []
        frontier = {column_id}
        for c in self.computed():
            if c.expr is not None and {r.column_id for r in n.column_refs(c.expr)} & frontier:
                found.append(c)
                frontier.add(c.id)
        return found

    def sql_col(self, name: str) -> sa.Column[Any]:
        """A physical column of the data table."""
        return self.sa_table.c[name]
