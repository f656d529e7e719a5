"""What Python evaluation does to values: three-valued logic, casts, JSON paths, image props.

``compile.py`` builds the per-node closures; these are the value-level rules they apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import PIL.Image

from reverie import types as ts


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
    """Convert ``value`` for ``astype``; None stays None."""
    if value is None:
        return None
    try:
        if isinstance(target, ts.StringType):
            if isinstance(value, dict | list):
                return json.dumps(value)
            return str(value)
        if isinstance(target, ts.IntType):
            return int(value)
        if isinstance(target, ts.FloatType):
            return float(value)
        if isinstance(target, ts.BoolType):
            return bool(value)
        if isinstance(target, ts.JsonType):
            return json.loads(value) if isinstance(value, str) else value
    except (TypeError, ValueError) as e:
        raise EvaluationError(f'cannot convert {value!r} to {target}: {e}') from None
    raise EvaluationError(f'cannot convert to {target}')


def json_path(value: Any, path: tuple[str | int, ...]) -> Any:
    """Follow keys and indexes; a missing step gives None."""
    for step in path:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        else:
            return None
    return value


def image_prop(img: Any, prop: str) -> Any:
    """``width``, ``height``, ``mode``, ``fileurl`` or ``localpath`` of an image value."""
    if img is None:
        return None
    if not isinstance(img, PIL.Image.Image):
        raise EvaluationError(f'.{prop} needs an image, got {type(img).__name__}')
    if prop == 'width':
        return img.width
    if prop == 'height':
        return img.height
    if prop == 'mode':
        return img.mode
    filename = getattr(img, 'filename', None)
    if not filename:
        return None
    path = Path(filename).resolve()
    return path.as_uri() if prop == 'fileurl' else str(path)
