"""Black Forest Labs FLUX.2: ``generate`` with BFL's own parameters.

Configure with ``BFL_API_KEY`` (or ``[bfl] api_key`` in ``REVERIE_HOME/config.toml``) and
optionally ``BFL_API_URL`` (default ``https://api.bfl.ai``; regional hosts such as
``https://api.eu.bfl.ai`` work too). Calls share the resource pool ``'bfl'``, 24 tasks at
once by default (BFL's cap of active tasks per account; ``[bfl] max_concurrency``).
``images.create / edit / remix`` with ``model='bfl/flux-2-pro'`` reach the same models.

>>> from reverie.functions import bfl
>>> bfl.generate.name, bfl.provider().name
('generate', 'bfl')
"""

from __future__ import annotations

from reverie.functions.bfl.client import FIELDS, BFLProvider
from reverie.functions.images.calls import native_image_function

__all__ = ['generate', 'provider']

_PROVIDER = BFLProvider()


def provider() -> BFLProvider:
    """The BFL image provider (for ``model='bfl/...'``)."""
    return _PROVIDER


generate = native_image_function(
    'bfl', name='generate', fields=FIELDS, default_model='flux-2-pro', images='input_images'
)
"""``POST /v1/{model}``: an image from ``prompt`` and up to 8 ``input_images``."""
