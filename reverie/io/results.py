"""What the exporters read: the rows of a Table or a Query, and their images as files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Protocol

import PIL.Image

from reverie import types as ts
from reverie.display.resultset import ResultSet
from reverie.display.values import ImagePath
from reverie.errors import InvalidValueError
from reverie.store.media import extension_for


class Collectable(Protocol):
    """A Table or a Query: anything whose ``collect()`` gives a ResultSet."""

    def collect(self) -> ResultSet: ...


def collect(source: Collectable) -> ResultSet:
    """The rows of ``source`` (a Table, a Query or a ResultSet)."""
    if isinstance(source, ResultSet):
        return source
    if not callable(getattr(source, 'collect', None)):
        raise InvalidValueError(
            f'Expected a table or a query (e.g. t.select(t.img, t.label)), got '
            f'{type(source).__name__}.'
        )
    return source.collect()


def raw_columns(rs: ResultSet) -> dict[str, list[Any]]:
    """Column name to values, images as file paths (nothing opened)."""
    rows = rs.raw_rows()
    return {name: [r[j] for r in rows] for j, name in enumerate(rs.column_names)}


def image_columns(rs: ResultSet, columns: dict[str, list[Any]]) -> list[str]:
    """Names of the result's image columns (by type, else by value)."""
    return [
        name
        for name, col_type in rs.schema.items()
        if isinstance(col_type, ts.ImageType)
        or (col_type is None and any(_is_image(v) for v in columns[name]))
    ]


def _is_image(v: Any) -> bool:
    return isinstance(v, ImagePath | PIL.Image.Image)


def image_file(value: Any) -> tuple[bytes, str]:
    """File bytes and extension of a result image: the stored file, or a lossless PNG."""
    if isinstance(value, ImagePath):
        path = Path(value.local())
        return path.read_bytes(), path.suffix.lstrip('.')
    if isinstance(value, PIL.Image.Image):
        ext = extension_for(getattr(value, 'format', None))
        filename = getattr(value, 'filename', None)
        if ext is not None and filename:
            return Path(filename).read_bytes(), ext
        buf = io.BytesIO()
        value.save(buf, format='PNG')
        return buf.getvalue(), 'png'
    raise InvalidValueError(f'Expected an image, got {type(value).__name__}.')


def content_name(data: bytes, ext: str) -> str:
    """A file name from the content, so the same image is written once."""
    return f'{hashlib.sha256(data).hexdigest()[:32]}.{ext}'
