"""The one cell codec: database values <-> Python values, media references.

- ``decoder(col_type, open_image)``: what a stored value becomes in Python (None when the
  database value already is the Python value); images go through ``open_image`` (a PIL
  image for computing, a path for display).
- ``encode_result(col_type, column, value, media)``: a computed value checked against its
  column type and converted for the database (images are written to the media store).
- ``DRIVER_NATIVE``: types whose database values the SQLite driver takes as they are, so
  writes may skip SQLAlchemy's per-row processing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.store.media import MediaStore

Decoder = Callable[[Any], Any]

# Stored as the Python value itself: nothing to convert on the way out.
_IDENTITY = (ts.StringType, ts.IntType, ts.BoolType, ts.JsonType, ts.ArrayType, ts.DateType)
# The SQLite driver stores these values as they are (images as their media reference).
DRIVER_NATIVE = (ts.StringType, ts.IntType, ts.FloatType, ts.BoolType, ts.ImageType)


def decoder(col_type: ts.ColumnType | None, open_image: Decoder) -> Decoder | None:
    """Converter from a stored value to the Python value, or None when there is nothing to do."""
    if col_type is None or isinstance(col_type, _IDENTITY):
        return None
    if isinstance(col_type, ts.ImageType):
        return image_decoder(open_image)
    return col_type.from_db


def image_decoder(open_image: Decoder) -> Decoder:
    """Decoder of a stored image reference (None stays None)."""
    return lambda ref: None if ref is None else open_image(ref)


def encode_result(col_type: ts.ColumnType, column: str, value: Any, media: MediaStore) -> Any:
    """A computed value as the database stores it; TypeError when it does not fit the column."""
    if value is None:
        return None
    if isinstance(col_type, ts.ImageType):
        if not isinstance(value, PIL.Image.Image):
            raise TypeError(f'expected an image for column {column!r}, got {type(value).__name__}')
        col_type.check_image(value)
        return media.put_image(value)
    try:
        checked = col_type.validate(value)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f'expected {col_type} for column {column!r}, got {type(value).__name__} '
            f'{_short_repr(value)} ({e})'
        ) from None
    return col_type.to_db(checked)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'
