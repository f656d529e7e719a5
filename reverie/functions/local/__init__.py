"""A local diffusers model behind ``images.create / edit / remix``: ``model='local/<model>'``.

``<model>`` is a folder written by diffusers' ``save_pretrained`` or a Hugging Face id such
as ``black-forest-labs/FLUX.2-klein-4B`` (one set of weights for text-to-image, edit and
multi-reference remix), downloaded into the Hugging Face cache on first use.

Install: ``pip install 'reverie[local]'`` (torch, diffusers, transformers, accelerate).
Settings (``REVERIE_LOCAL_*`` or ``[local]`` in ``REVERIE_HOME/config.toml``): ``device``
(``auto``: CUDA, then Apple MPS, then CPU), ``dtype`` (``auto``: bfloat16 or float16 on a
GPU, float32 on CPU), ``cpu_offload``, ``steps``, ``megapixels``. Options per call:
``seed``, ``steps``, ``guidance_scale``. Nothing is charged. The same model can answer
``reve.*`` calls: ``reverie reve-server --backend diffusers:<model>``. See
``docs/local-model.md``.

>>> from reverie.functions import local
>>> local.provider().name
'local'
"""

from __future__ import annotations

from reverie.functions.local.backend import DiffusersBackend
from reverie.functions.local.provider import LocalProvider, provider

__all__ = ['DiffusersBackend', 'LocalProvider', 'provider']
