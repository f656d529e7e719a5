"""Helpers the version tests share: UDFs found again by dotted path, full table contents."""

from __future__ import annotations

from typing import Any

import PIL.Image

import reverie as rv

# The seed ``picture`` draws with; tests change it between runs of a recompute.
SEED = {'value': 0}


@rv.udf
def plus_1000(x: int) -> int:
    """x + 1000; raises on multiples of 7 (error cells with on_error='ignore')."""
    if x % 7 == 0:
        raise ValueError(f'multiple of seven: {x}')
    return x + 1000


@rv.udf
def inverse(x: int) -> float:
    """1 / x: a ZeroDivisionError cell for x == 0."""
    return 1 / x


@rv.udf
def picture(x: int) -> PIL.Image.Image:
    """A small image of ``x``; odd x also depend on ``SEED`` (so a recompute replaces them)."""
    shade = (x * 37 + (SEED['value'] * 71 if x % 2 else 0)) % 256
    return PIL.Image.new('RGB', (8, 8), (shade, 255 - shade, x % 256))


def contents(t: rv.Table, key: str = 'k') -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and every row (images as file paths), with each computed cell's
    errortype and errormsg, sorted by ``key``."""
    meta = t.get_metadata()['columns']
    names = list(meta)
    sel: dict[str, Any] = {}
    for name in names:
        sel[name] = t[name]
        if meta[name]['computed_with'] is not None:
            sel[f'{name}__et'] = t[name].errortype
            sel[f'{name}__em'] = t[name].errormsg
    rows = t.select(**sel).collect().raw_rows()
    idx = list(sel).index(key)
    return names, sorted(rows, key=lambda r: r[idx])
