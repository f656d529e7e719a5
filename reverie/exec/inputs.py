"""The inputs of a row's cells: stored values decoded, failed upstream cells marked."""

from __future__ import annotations

import contextlib
from typing import Any

import PIL.Image

from reverie.exec.cells import CellResult
from reverie.exec.codec import decoder
from reverie.exec.planner import ColumnPlan, TablePlan, image_reads
from reverie.exprs import nodes as n
from reverie.store.db import ERROR, VALUE
from reverie.store.media import MediaStore

Env = dict[n.Node, Any]


class InputError:
    """Marks an input that cannot be used (a failed upstream cell, a missing file)."""

    def __init__(self, errortype: str, errormsg: str) -> None:
        self.errortype = errortype
        self.errormsg = errormsg


class Inputs:
    """Turns fetched rows into the values a plan's expressions read (``env``)."""

    def __init__(self, plan: TablePlan, media: MediaStore) -> None:
        self.plan = plan
        # An image read only for ``fileurl`` / ``localpath`` is not opened (nor downloaded).
        opened, filed = image_reads([p.column.expr for p in plan.in_python if p.column.expr])
        file_only = {r.column_id for r in filed} - {r.column_id for r in opened}
        self._decoders = [
            decoder(i.column.col_type, media.file if i.column.id in file_only else media.open)
            for i in plan.inputs
        ]

    def env(self, row: dict[str, Any]) -> Env:
        """The inputs of ``row``, keyed by the nodes that read them."""
        env: Env = {}
        for (col, ref, sql, props), decode in zip(self.plan.inputs, self._decoders, strict=True):
            raw = row[sql.value]
            for prop, key in props:
                env[prop] = row[key]
            if col.is_computed:
                state = row[sql.state]
                if state == ERROR:
                    env[ref] = InputError(
                        'UpstreamError',
                        f'column {col.name!r} failed: {row[sql.errortype]}: {row[sql.errormsg]}',
                    )
                    continue
                if state != VALUE:
                    env[ref] = None
                    continue
            if decode is None or raw is None:
                env[ref] = raw
                continue
            try:
                env[ref] = decode(raw)
            except Exception as e:
                env[ref] = InputError(
                    'MediaError', f'image of column {col.name!r} cannot be read ({e})'
                )
        return env


def input_error(plan: ColumnPlan, env: Env) -> InputError | None:
    """Why a cell cannot be computed from its inputs, or None."""
    if plan.column.load_error is not None:
        return InputError('FunctionNotFound', plan.column.load_error)
    for ref in plan.fallible:
        value = env.get(ref)
        if isinstance(value, InputError):
            return value
    return None


def set_cell(env: Env, plan: ColumnPlan, result: CellResult, value: Any) -> None:
    """Make a computed cell visible to the columns that read it."""
    if result.state == VALUE:
        env[plan.ref] = value
    else:
        env[plan.ref] = InputError(
            'UpstreamError',
            f'column {plan.column.name!r} failed: {result.errortype}: {result.errormsg}',
        )


def close_images(env: Env) -> None:
    """Close the image files a row's inputs opened."""
    for value in env.values():
        if isinstance(value, PIL.Image.Image) and getattr(value, 'fp', None) is not None:
            with contextlib.suppress(Exception):
                value.close()
