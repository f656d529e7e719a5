"""``export_images``: image files plus a ``metadata.jsonl`` that Hugging Face loads as is.

``datasets.load_dataset('imagefolder', data_dir=folder)`` reads the folder: each line of
``metadata.jsonl`` names its image in ``file_name`` and carries the row's other columns.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from reverie.errors import InvalidValueError
from reverie.io.results import Collectable, collect, image_columns, image_file, raw_columns

METADATA_FILE = 'metadata.jsonl'


def export_images(
    source: Collectable,
    folder: str | os.PathLike[str],
    *,
    image_column: str | None = None,
) -> Path:
    """Write one image file per row and a ``metadata.jsonl`` with the other columns.

    Rows whose image is null are left out (an image folder has one file per row).

    Args:
        source: a Table or a query with one image column, e.g.
            ``t.select(t.scene, t.prompt)``.
        folder: where to write; created if needed, and must not hold a metadata.jsonl
            already.
        image_column: which image column names the files when the query has several
            (the others are left out).

    Returns:
        The folder.

    Examples:
        >>> rv.io.export_images(t.select(t.scene, t.prompt), 'out/scenes')  # doctest: +SKIP
    """
    out = Path(folder).expanduser()
    if (out / METADATA_FILE).exists():
        raise InvalidValueError(
            f'{str(out / METADATA_FILE)!r} exists already; choose an empty folder or remove it.'
        )
    rs = collect(source)
    columns = raw_columns(rs)
    images = image_columns(rs, columns)
    chosen = _chosen_column(images, image_column)
    others = [c for c in rs.column_names if c not in images]
    if 'file_name' in others:
        raise InvalidValueError(
            "A column named 'file_name' would clash with the image file names of "
            'metadata.jsonl; select it under another name (file_name_=t.file_name).'
        )
    out.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(len(rs))))
    lines = []
    for i, value in enumerate(columns[chosen]):
        if value is None:
            continue
        data, ext = image_file(value)
        name = f'{i:0{width}d}.{ext}'
        (out / name).write_bytes(data)
        meta = {'file_name': name, **{c: _json_value(columns[c][i]) for c in others}}
        lines.append(json.dumps(meta, ensure_ascii=False))
    (out / METADATA_FILE).write_text(''.join(line + '\n' for line in lines), encoding='utf-8')
    skipped = len(rs) - len(lines)
    note = f' ({skipped} row{"" if skipped == 1 else "s"} without an image left out)'
    print(
        f'Wrote {len(lines)} images and {METADATA_FILE} to {str(out)!r}{note if skipped else ""}.'
    )
    return out


def _chosen_column(images: list[str], image_column: str | None) -> str:
    if image_column is not None:
        if image_column not in images:
            raise InvalidValueError(
                f'{image_column!r} is not an image column of the query; its image columns '
                f'are {images}.'
            )
        return image_column
    if len(images) != 1:
        what = 'no image column' if not images else f'several image columns {images}'
        raise InvalidValueError(
            f'export_images() needs exactly one image column, got {what}; select one '
            "(t.select(t.img, t.label)) or pass image_column='...'."
        )
    return images[0]


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime.datetime | datetime.date):
        return v.isoformat()
    return v
