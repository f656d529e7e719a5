"""``ResultSet``: the rows a query returned.

Kept column-wise and cheap to build; images are stored as media paths and opened as
``PIL.Image`` only when a value is read. ``repr`` is a text table; ``_repr_html_`` an HTML
table with small thumbnails (never full-size images).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from reverie import types as ts
from reverie.display.html import html_table
from reverie.display.text import text_table
from reverie.display.values import ImagePath, open_image


class ResultSet:
    """Rows of a query: ``rs[0]`` is a dict, ``rs['col']`` a list, ``len(rs)`` the count."""

    def __init__(
        self,
        names: Sequence[str],
        col_types: Sequence[ts.ColumnType | None],
        columns: list[list[Any]],
        pending: Sequence[Sequence[bool] | None] | None = None,
    ) -> None:
        self._names = list(names)
        self._types = list(col_types)
        self._columns = columns
        self._len = len(columns[0]) if columns else 0
        # Per column, which cells are pending (their value is None, as for a null); only
        # the renderers read it, so a pending cell looks pending, not null.
        self._pending = list(pending) if pending is not None else [None] * len(columns)

    @property
    def schema(self) -> dict[str, ts.ColumnType | None]:
        """Column name to type."""
        return dict(zip(self._names, self._types, strict=True))

    @property
    def column_names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, key: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, key: str) -> list[Any]: ...
    @overload
    def __getitem__(self, key: tuple[int, str | int]) -> Any: ...

    def __getitem__(self, key: int | str | tuple[int, str | int]) -> Any:
        if isinstance(key, str):
            try:
                idx = self._names.index(key)
            except ValueError:
                raise KeyError(f'No column {key!r}; columns are {self._names}.') from None
            return [_materialize(v) for v in self._columns[idx]]
        if isinstance(key, tuple):
            row, col = key  # col: a name, or a position as in Pixeltable
            idx = col if isinstance(col, int) else self._names.index(col)
            return _materialize(self._columns[idx][row])
        if key < 0:
            key += self._len
        if not 0 <= key < self._len:
            raise IndexError(f'row {key} out of range (the result has {self._len} rows)')
        return {
            name: _materialize(col[key])
            for name, col in zip(self._names, self._columns, strict=True)
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self._len):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResultSet):
            return NotImplemented
        return self._names == other._names and self._columns == other._columns

    __hash__ = None  # type: ignore[assignment]

    def raw_rows(self) -> list[tuple[Any, ...]]:
        """Rows as tuples, images as file paths (fast; nothing opened)."""
        return list(zip(*self._columns, strict=True)) if self._columns else []

    def to_pandas(self) -> Any:
        """A pandas DataFrame (needs ``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError('to_pandas() needs pandas: pip install pandas') from None
        data = {
            name: [_materialize(v) for v in col]
            for name, col in zip(self._names, self._columns, strict=True)
        }
        return pd.DataFrame(data, columns=self._names)

    def is_pending(self, row: int, name: str) -> bool:
        """Whether the cell is pending (not computed yet) rather than null."""
        marks = self._pending[self._names.index(name)]
        return bool(marks is not None and marks[row])

    def __repr__(self) -> str:
        return text_table(self._names, self._columns, self._len, self._pending)

    def _repr_html_(self) -> str:
        return html_table(self._names, self._columns, self._len, self._pending)


def _materialize(value: Any) -> Any:
    return open_image(value) if isinstance(value, ImagePath) else value
