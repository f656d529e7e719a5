"""Links to media: ``net.presigned_url(t.img.fileurl, 3600)`` (Pixeltable's ``functions.net``).

``presigned_url(uri, expiration_seconds)`` turns the ``s3://`` URL of an image in an
object store into an https link a browser opens for ``expiration_seconds`` (signed here, so
nothing is downloaded or sent); a local folder's ``file://`` URL comes back unchanged.
"""

from __future__ import annotations

from reverie.functions.udf import udf
from reverie.store import locations


@udf
def presigned_url(uri: str, expiration_seconds: int) -> str:
    """An https link to the media at ``uri`` valid ``expiration_seconds`` (at most 7 days).

    Examples:
        >>> t.select(url=net.presigned_url(t.img.fileurl, 3600)).collect()  # doctest: +SKIP
    """
    return locations.presigned_url(uri, expiration_seconds)
