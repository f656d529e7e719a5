"""How one cell value is shown: short text, or a thumbnail for images."""

from __future__ import annotations

import base64
import datetime
import functools
import html
import io
import json
from collections.abc import Callable
from typing import Any

import PIL.Image

THUMBNAIL_PX = 128
TITLE_AFTER = 40  # longer HTML text carries a hover title (the stylesheet may clip it)


class ImagePath(str):
    """A stored image's file path; a ResultSet opens it as a PIL image when read.

    An object store's image is a path in its read cache, filled by ``local()`` when first
    read (``fetch``), so collecting a result downloads nothing.
    """

    fetch: Callable[[], object] | None = None

    @classmethod
    def lazy(cls, path: str, fetch: Callable[[], object]) -> ImagePath:
        """The path ``path``, which ``fetch()`` fills when it is first read."""
        value = cls(path)
        value.fetch = fetch
        return value

    def local(self) -> str:
        """The path, its file fetched into place first when it comes from an object store."""
        if self.fetch is not None:
            self.fetch()
        return str(self)


def open_image(path: str) -> PIL.Image.Image:
    """Open a stored image and read its pixels, so no file stays open."""
    img = PIL.Image.open(path.local() if isinstance(path, ImagePath) else path)
    img.load()
    return img


PENDING_TEXT = 'pending'


def full_text(value: Any, *, pending: bool = False) -> str:
    """The whole text of a value on one line; images as ``<Image WxH MODE>``."""
    if pending:
        return f'<{PENDING_TEXT}>'
    if value is None:
        return 'None'
    if isinstance(value, ImagePath):
        return _image_text(value.local())
    if isinstance(value, PIL.Image.Image):
        return f'<Image {value.width}x{value.height} {value.mode}>'
    if isinstance(value, float):
        return f'{value:.6g}'
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, datetime.datetime | datetime.date):
        text = value.isoformat()
    else:
        text = str(value)
    return text.replace('\n', ' ')


@functools.lru_cache(maxsize=4096)
def _image_text(path: str) -> str:
    try:
        with PIL.Image.open(path) as img:
            return f'<Image {img.width}x{img.height} {img.mode}>'
    except OSError:
        return '<Image missing>'


def cell_html(value: Any, *, pending: bool = False) -> str:
    """One ``<td>``: a small inline thumbnail for images, else the whole text, escaped.

    Long text is clipped by the stylesheet of :mod:`reverie.display.html`, never cut here;
    the ``title`` attribute shows all of it on hover.
    """
    if pending:
        return f'<td class="rv-pending" title="not computed yet">{PENDING_TEXT}</td>'
    if value is None:
        return '<td class="rv-null">None</td>'
    if isinstance(value, ImagePath):
        return f'<td class="rv-img">{_thumbnail_html(value.local())}</td>'
    if isinstance(value, PIL.Image.Image):
        return f'<td class="rv-img">{_encode_thumbnail(value)}</td>'
    text = html.escape(full_text(value))
    if len(text) <= TITLE_AFTER:
        return f'<td class="rv-text">{text}</td>'
    return f'<td class="rv-text" title="{text}">{text}</td>'


@functools.lru_cache(maxsize=1024)
def _thumbnail_html(path: str) -> str:
    try:
        with PIL.Image.open(path) as img:
            return _encode_thumbnail(img)
    except OSError:
        return '<i>missing image</i>'


def _encode_thumbnail(img: PIL.Image.Image) -> str:
    thumb = img.copy()
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buf = io.BytesIO()
    if thumb.mode in ('RGBA', 'LA', 'P'):
        thumb.save(buf, format='PNG', optimize=True)
        mime = 'png'
    else:
        thumb.convert('RGB').save(buf, format='JPEG', quality=80)
        mime = 'jpeg'
    data = base64.b64encode(buf.getvalue()).decode('ascii')
    return (
        f'<img src="data:image/{mime};base64,{data}" width="{thumb.width}" '
        f'height="{thumb.height}" style="max-width:{THUMBNAIL_PX}px" />'
    )
