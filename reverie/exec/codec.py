"""The one cell codec: database values <-> Python values, media references.

- ``decoder(col_type, open_image)``: what a stored value becomes in Python (None when the
  database value already is the Python value); images go through ``open_image`` (a PIL
  image for computing, a path for display).
- ``encode_result(col_type, column, value, media)``: a computed value checked against its
  column type and converted for the database (images are written to the media store).
- ``DRIVER_NATIVE``: types whose database values the SQLite driver takes as they are, so
  writes may skip SQLAlchemy's per-row processing (each type's ``driver_native``).

What to do for a type is the type's own say (``db_is_python``, ``is_media``, ``from_db``,
``to_db``); this module only applies it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.store.media import MediaStore

Decoder = Callable[[Any], Any]

# The SQLite driver stores these values as they are (images as their media reference).
DRIVER_NATIVE = tuple(t for t in ts.column_type_classes() if t.driver_native)


def decoder(col_type: ts.ColumnType | None, open_image: Decoder) -> Decoder | None:
    """Converter from a stored value to the Python value, or None when there is nothing to do."""
    if col_type is None or col_type.db_is_python:
        return None
    if col_type.is_media:
        return image_decoder(open_image)
    return col_type.from_db


def image_decoder(open_image: Decoder) -> Decoder:
    """Decoder of a stored image reference (None stays None)."""
    return lambda ref: None if ref is None else open_image(ref)


def encode_result(col_type: ts.ColumnType, column: str, value: Any, media: MediaStore) -> Any:
    """A computed value as the database stores it; TypeError when it does not fit the column."""
    if value is None:
        return None
    if isinstance(col_type, ts.ImageType):  # the one media type: its check takes the image
        if not isinstance(value, PIL.Image.Image):
            raise TypeError(f'expected an image for column {column!r}, got {type(value).__name__}')
        col_type.check_image(value)
        return media.put_image(value)
    try:
        checked = col_type.validate(value)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f'expected {col_type.copy(nullable=False)} for column {column!r}, got '
            f'{type(value).__name__} '
            f'{ts.short_repr(value, 60)} ({e})'
        ) from None
    return col_type.to_db(checked)
