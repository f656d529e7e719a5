"""What Python evaluation does to values: three-valued logic, casts, JSON paths, image props.

``compile.py`` builds the per-node closures; these are the value-level rules they apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import PIL.Image

from reverie import types as ts
from reverie.exprs import nodes as n
from reverie.store.media import StoredFile


class EvaluationError(Exception):
    """An expression could not be computed for a row (e.g. division by zero)."""


def three_valued(op: str, values: list[Any]) -> bool | None:
    if op == 'and':
        if any(v is False for v in values):
            return False
        return None if any(v is None for v in values) else True
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def cast_value(value: Any, target: ts.ColumnType) -> Any:
    """Convert ``value`` for ``astype``; None stays None where the target is ``T | None``."""
    if value is None:
        if not target.nullable:
            raise EvaluationError(f'the value is None, which cannot become {target}')
        return None
    try:
        return target.cast(value)
    except (TypeError, ValueError) as e:
        raise EvaluationError(f'cannot convert {value!r} to {target}: {e}') from None


def json_path(value: Any, path: tuple[str | int | n.JsonSlice, ...]) -> Any:
    """Follow keys, indexes, slices and ``'*'``; a missing step gives None.

    After a slice or ``'*'`` the rest of the path applies to each element, so
    ``t.meta['items']['*']['name']`` is the list of every item's name.
    """
    for i, step in enumerate(path):
        if isinstance(step, n.JsonSlice) or step == n.JSON_STAR:
            if not isinstance(value, list):
                return None
            if isinstance(step, n.JsonSlice):
                value = value[step.start : step.stop : step.step]
            return [json_path(v, path[i + 1 :]) for v in value]
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        else:
            return None
    return value


def image_prop(img: Any, prop: str) -> Any:
    """``width``, ``height``, ``size``, ``mode``, ``fileurl`` or ``localpath`` of an image."""
    if img is None:
        return None
    if isinstance(img, StoredFile):
        if prop == 'fileurl':
            return img.url
        if prop == 'localpath':
            return str(img.local_path().resolve())
        img = img.open()
    if not isinstance(img, PIL.Image.Image):
        raise EvaluationError(f'.{prop} needs an image, got {type(img).__name__}')
    if prop == 'width':
        return img.width
    if prop == 'height':
        return img.height
    if prop == 'size':
        return [img.width, img.height]
    if prop == 'mode':
        return img.mode
    url = getattr(img, 'reverie_url', None)  # set by the media store that opened it
    if prop == 'fileurl' and url:
        return str(url)  # file:// of a folder, s3:// of a bucket
    filename = getattr(img, 'filename', None)
    if not filename:
        return None
    path = Path(filename).resolve()  # a bucket's image: its copy in the read cache
    return path.as_uri() if prop == 'fileurl' else str(path)
