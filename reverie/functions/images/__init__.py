"""The three image verbs over any model: ``create``, ``edit``, ``remix``.

``model='<provider>/<model id>'`` picks the provider: ``openai/gpt-image-2``,
``gemini/gemini-3.1-flash-image``, ``bfl/flux-2-pro``, ``reve/<version>``,
``local/<path or Hugging Face id>``. Without ``model=``, ``REVERIE_IMAGE_MODEL`` (or
``[images] model`` in ``REVERIE_HOME/config.toml``) is used. Keys and URLs of each provider:
see ``docs/providers.md``.

>>> from reverie.functions import images
>>> images.create
<images.create over openai, gemini, bfl, reve, local>
"""

from __future__ import annotations

from reverie.functions.images.verbs import create, edit, remix

__all__ = ['create', 'edit', 'remix']
