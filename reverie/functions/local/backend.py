"""The local model behind the Reve contract: ``reverie reve-server --backend diffusers:<model>``.

``DiffusersBackend`` has the methods of ``reverie.reve_server.Backend`` (create, edit,
remix returning a PIL image), so the Reve-compatible server answers ``reve.*`` calls with
the model's images. The server finds it by the ``diffusers:`` prefix and imports this
module only then, so a server with the default backend never imports torch.
"""

from __future__ import annotations

import PIL.Image

from reverie.config import Config, LocalSettings
from reverie.functions.local import pipeline as pl


class DiffusersBackend:
    """Images from a diffusers pipeline (a folder or a Hugging Face id), loaded at once.

    Args:
        model: the pipeline folder or Hugging Face id (as after ``local/`` in ``model=``).
        megapixels: output size; None for the model's default (1 MP for FLUX.2).
        settings: device, dtype, offload and steps; default ``[local]`` of the config.
        seed: fixed seed for every image (reproducible answers); None for a fresh one each.
    """

    def __init__(
        self,
        model: str,
        megapixels: float | None = None,
        settings: LocalSettings | None = None,
        seed: int | None = None,
    ) -> None:
        self.settings = settings or Config.load().local
        self.megapixels = megapixels or self.settings.megapixels
        self.seed = seed
        # Load now: a server that cannot load its model should say so before it listens.
        self.model = pl.load(model, self.settings)

    def __repr__(self) -> str:
        return f'<DiffusersBackend {self.model.weights.version!r}>'

    def create(self, prompt: str, aspect_ratio: str, version: str) -> PIL.Image.Image:
        """Text to image at ``aspect_ratio``."""
        return self._render(prompt, [], aspect_ratio)

    def edit(
        self, instruction: str, image: PIL.Image.Image, aspect_ratio: str | None, version: str
    ) -> PIL.Image.Image:
        """Edit ``image`` by ``instruction``; None ``aspect_ratio`` keeps its shape."""
        return self._render(instruction, [image], aspect_ratio)

    def remix(
        self, prompt: str, images: list[PIL.Image.Image], aspect_ratio: str | None, version: str
    ) -> PIL.Image.Image:
        """Combine ``images`` by ``prompt`` (``<img>N</img>`` becomes ``image N+1``)."""
        return self._render(prompt, images, aspect_ratio)

    def _render(
        self, prompt: str, images: list[PIL.Image.Image], aspect_ratio: str | None
    ) -> PIL.Image.Image:
        image, _ = self.model.render(
            prompt, images, aspect_ratio, self.settings, megapixels=self.megapixels, seed=self.seed
        )
        return image
