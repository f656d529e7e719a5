"""Check and convert rows before anything is written.

Every value is validated against its column type; images are read and decoded (several
at once, in threads) and only then written to the media store. A bad value raises
``InvalidValueError`` naming the table, column, row and expected type.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.exec.inserts import PlainRows
from reverie.exec.loop import threads
from reverie.exec.memory import gc_paused
from reverie.exec.schema import TableSchema
from reverie.store.images import CheckedImage, ImageInputError, load_image_input
from reverie.store.media import MediaStore

_IMAGE_WORKERS = 8


@dataclass
class PreparedRows:
    """Rows ready to insert, and the rows refused.

    The common insert keeps its rows as tuples (``PlainRows``, no dict per row); ``rows``
    gives them keyed by SQL column name.
    """

    checked: list[dict[str, Any]] | PlainRows
    rejected: list[tuple[int, InvalidValueError]]

    @property
    def rows(self) -> list[dict[str, Any]]:
        if isinstance(self.checked, PlainRows):
            return self.checked.dicts()
        return self.checked


def required_hint(col_type: ts.ColumnType) -> str:
    """Why a column refuses None, and how to declare one that takes it."""
    return (
        f'it is {col_type}, which is required (a bare type is; declare it '
        f'rv.{col_type.copy(nullable=True)} to allow None).'
    )


def prepare_rows(
    schema: TableSchema,
    rows: Sequence[dict[str, Any]],
    media: MediaStore,
    *,
    skip_bad: bool,
    partial: bool = False,
) -> PreparedRows:
    """Validate ``rows``; raise on the first bad one unless ``skip_bad``.

    ``partial``: the rows hold the columns an update sets, not whole rows (a required
    column may be left out).
    """
    writable = {c.name: c for c in schema.columns if not c.is_computed}
    # name -> (column, SQL name, is image, plain type, validate, to_db): looked up once
    plan = {
        c.name: (
            c,
            c.sql.value,
            isinstance(c.col_type, ts.ImageType),
            ts.PLAIN_PYTHON_TYPES.get(type(c.col_type)),
            c.col_type.validate,
            None if type(c.col_type).to_db is ts.ColumnType.to_db else c.col_type.to_db,
        )
        for c in writable.values()
    }
    computed = {c.name for c in schema.columns if c.is_computed}
    required = [] if partial else [c for c in writable.values() if not c.col_type.nullable]
    table = schema.name
    good: list[tuple[int, dict[str, Any]]] = []
    rejected: list[tuple[int, InvalidValueError]] = []
    pending_images: list[tuple[dict[str, Any], str, Any, int, str]] = []
    fast = _plain_columns(plan, required, rows)
    if fast is not None:
        return PreparedRows(fast, [])

    for i, row in enumerate(rows):
        try:
            good.append((i, _prepare_row(i, row, plan, table, computed, required, pending_images)))
        except InvalidValueError as e:
            if not skip_bad:
                raise
            rejected.append((i, e))

    bad_rows = _load_images(schema, pending_images, media, skip_bad)
    rejected.extend(bad_rows)
    bad_ids = {i for i, _ in bad_rows}
    return PreparedRows(
        [r for i, r in good if i not in bad_ids], sorted(rejected, key=lambda x: x[0])
    )


def _prepare_row(
    i: int,
    row: Any,
    plan: dict[str, tuple[Any, str, bool, type | None, Any, Any]],
    table: str,
    computed: set[str],
    required: list[Any],
    pending_images: list[tuple[dict[str, Any], str, Any, int, str]],
) -> dict[str, Any]:
    """Row ``i`` as SQL values; its images are queued in ``pending_images`` to load later."""
    if not isinstance(row, dict):
        raise InvalidValueError(
            f'Row {i} of the insert into {table!r} is a {type(row).__name__}; pass a '
            'dict of column name to value.'
        )
    out: dict[str, Any] = {}
    for name, value in row.items():
        entry = plan.get(name)
        if entry is None:
            raise _unknown_column(table, name, i, computed, list(plan))
        col, key, is_image, plain, validate, to_db = entry
        if type(value) is plain and ts.plain_value_ok(value):
            out[key] = value  # the common case, without the validator's call
        elif value is None:
            if not col.col_type.nullable:
                raise InvalidValueError(
                    f'Column {name!r} (table {table!r}, row {i}) cannot be None: '
                    f'{required_hint(col.col_type)}'
                )
            out[key] = None
        elif is_image:
            pending_images.append((out, key, value, i, name))
        else:
            try:
                out[key] = validate(value) if to_db is None else to_db(validate(value))
            except (TypeError, ValueError):
                out[key] = convert_value(col.col_type, value, table, name, i)
    for col in required:
        if col.name not in row:
            raise InvalidValueError(
                f'Column {col.name!r} (table {table!r}, row {i}) is missing; every row '
                f'needs a value for it: {required_hint(col.col_type)}'
            )
    return out


def _plain_columns(
    plan: dict[str, tuple[Any, str, bool, type | None, Any, Any]],
    required: list[Any],
    rows: Sequence[dict[str, Any]],
) -> PlainRows | None:
    """The common insert, checked column by column.

    Every row a dict with the same keys, every column plain values (None only where
    nullable) that pass unchanged: the rows as tuples in the order of their SQL names. None
    means check row by row (which also names the first bad value).
    """
    if not rows or type(rows[0]) is not dict:
        return None
    names = list(rows[0])
    if not names or any(n not in plan or plan[n][2] or plan[n][3] is None for n in names):
        return None
    if any(c.name not in rows[0] for c in required):
        return None
    # Same type, same size and every name present: the same keys (a missing one raises).
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(names)}:
        return None
    with gc_paused():  # 100k new tuples would run the collector over every live row
        try:
            for name in names:
                col, _, _, plain, _, _ = plan[name]
                assert plain is not None  # checked above
                values = [r[name] for r in rows]
                vtypes = set(map(type, values))
                if vtypes == {plain}:
                    ok = ts.plain_column_ok(plain, values)
                elif vtypes == {plain, type(None)} and col.col_type.nullable:
                    ok = ts.plain_column_ok(plain, [v for v in values if v is not None])
                else:
                    ok = vtypes == {type(None)} and col.col_type.nullable
                if not ok:
                    return None
        except KeyError:
            return None
        if len(names) == 1:
            tuples = [(v,) for v in values]
        else:
            tuples = list(map(operator.itemgetter(*names), rows))
    return PlainRows([plan[n][1] for n in names], tuples)


def convert_value(col_type: ts.ColumnType, value: Any, table: str, column: str, row: int) -> Any:
    """Validate one non-image value and convert it for the database."""
    try:
        return col_type.to_db(col_type.validate(value))
    except TypeError as e:
        raise InvalidValueError(
            f'Column {column!r} (table {table!r}, row {row}) expects '
            f'{col_type.copy(nullable=False)}, got '
            f'{type(value).__name__} {_short(value)}. {_hint(col_type, e)}'
        ) from None
    except ValueError as e:
        raise InvalidValueError(
            f'Column {column!r} (table {table!r}, row {row}) expects {e}; got {_short(value)}.'
        ) from None


def _hint(col_type: ts.ColumnType, e: TypeError) -> str:
    if isinstance(col_type, ts.ImageType):
        return 'Pass a file path, URL, bytes or PIL image.'
    wanted = str(e)
    article = 'an' if wanted[:1].lower() in 'aeiou' else 'a'
    if col_type.nullable:
        return f'Pass {article} {wanted} (or None for a missing value).'
    return f'Pass {article} {wanted}.'


def _short(value: Any) -> str:
    return ts.short_repr(value)


def _unknown_column(
    table: str, name: Any, row: int, computed: set[str], known: list[str]
) -> InvalidValueError:
    if name in computed:
        return InvalidValueError(
            f'Column {name!r} (table {table!r}, row {row}) is computed; it cannot be given '
            'a value on insert.'
        )
    return InvalidValueError(
        f'Table {table!r} has no column {name!r} (row {row}); its columns are '
        f'{", ".join(map(repr, known))}. Add it first with t.add_column({name}=rv.String | None).'
    )


def _load_images(
    schema: TableSchema,
    pending: list[tuple[dict[str, Any], str, Any, int, str]],
    media: MediaStore,
    skip_bad: bool,
) -> list[tuple[int, InvalidValueError]]:
    """Read, check and store every image; returns the rows refused (when skip_bad)."""
    if not pending:
        return []
    table = schema.name

    def check(item: tuple[dict[str, Any], str, Any, int, str]) -> CheckedImage | InvalidValueError:
        _, _, value, i, name = item
        col = schema.column(name)
        assert col is not None and isinstance(col.col_type, ts.ImageType)
        try:
            checked = load_image_input(value, allow_private_urls=media.allow_private_urls)
        except TypeError:
            return InvalidValueError(
                f'Column {name!r} (table {table!r}, row {i}) expects Image, got '
                f'{type(value).__name__} {_short(value)}. Pass a file path, URL, bytes or PIL '
                'image.'
            )
        except ImageInputError as e:
            return InvalidValueError(
                f'Column {name!r} (table {table!r}, row {i}): {e}. Pass a readable PNG, JPEG or '
                'WebP image (path, URL, bytes or PIL image).'
            )
        size_ok = col.col_type.size is None or (checked.width, checked.height) == col.col_type.size
        mode_ok = col.col_type.mode is None or checked.mode == col.col_type.mode
        if not (size_ok and mode_ok):
            return InvalidValueError(
                f'Column {name!r} (table {table!r}, row {i}) expects {col.col_type}, got an image '
                f'of size {(checked.width, checked.height)} and mode {checked.mode!r}. Resize or '
                'convert it first.'
            )
        return checked

    if len(pending) == 1:
        results = [check(pending[0])]
    else:
        results = list(threads('reverie-images', _IMAGE_WORKERS).map(check, pending))
    bad: dict[int, InvalidValueError] = {}
    for item, result in zip(pending, results, strict=True):
        if isinstance(result, InvalidValueError):
            if not skip_bad:
                raise result
            bad.setdefault(item[3], result)
    # Only now, with every image checked, write files: a refused insert leaves nothing behind.
    # Each put fsyncs its file, so several run at once (threads wait on the disk, not the GIL).
    to_store = [
        (out, key, result)
        for (out, key, _, i, _), result in zip(pending, results, strict=True)
        if i not in bad and isinstance(result, CheckedImage)
    ]

    def store(item: tuple[dict[str, Any], str, CheckedImage]) -> str:
        return media.put(item[2].data, item[2].ext)

    if len(to_store) > 1:
        refs = list(threads('reverie-images', _IMAGE_WORKERS).map(store, to_store))
    else:
        refs = [store(item) for item in to_store]
    for (out, key, _), ref in zip(to_store, refs, strict=True):
        out[key] = ref
    return sorted(bad.items())
