"""The image backend behind the server, and the deterministic default.

The server validates requests, applies latency, credits, faults and postprocessing; a
backend only turns validated inputs into a picture. To put a real model behind the Reve
contract, implement `Backend` and pass it as `ServerOptions(backend=...)` (or
`--backend module:Class` on the command line, which calls `Class()`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PIL import Image

from reverie.reve_server import render


@runtime_checkable
class Backend(Protocol):
    """Produces the images for create, edit and remix calls.

    Methods are called from many server threads at once, so they must be thread-safe.
    Inputs are already validated: `aspect_ratio` is one of the contract's ratios
    (`'16:9'`, `'3:2'`, ...) or None when the client left it to the model, `version` is the
    resolved dated version (e.g. `'reve-edit-fast@20251030'`), and input images are decoded
    RGB or RGBA images. Return an RGB or RGBA image; the server postprocesses and encodes it.
    An exception becomes a 500 answer.
    """

    def create(self, prompt: str, aspect_ratio: str, version: str) -> Image.Image:
        """Render `prompt`; `aspect_ratio` is never None (the contract's default is 3:2)."""
        ...

    def edit(
        self, instruction: str, image: Image.Image, aspect_ratio: str | None, version: str
    ) -> Image.Image:
        """Edit `image` by `instruction`; None `aspect_ratio` means keep the image's shape."""
        ...

    def remix(
        self, prompt: str, images: list[Image.Image], aspect_ratio: str | None, version: str
    ) -> Image.Image:
        """Combine 1-6 `images` by `prompt` (`<img>N</img>` refers to `images[N]`)."""
        ...


class DeterministicBackend:
    """Draws pictures from a hash of the inputs: same inputs, identical pixels.

    Output size follows the aspect ratio at `megapixels` x 1024² pixels (16:9 at 1.0 is
    1368x768). Edit and remix blend the reference images into the drawing.
    """

    def __init__(self, megapixels: float = 1.0) -> None:
        if not megapixels > 0:
            raise ValueError(f'megapixels must be > 0, got {megapixels!r}.')
        self.megapixels = megapixels

    def __repr__(self) -> str:
        return f'<DeterministicBackend megapixels={self.megapixels:g}>'

    def _size(self, aspect_ratio: str | None, like: Image.Image | None) -> tuple[int, int]:
        if aspect_ratio is not None:
            ratio = render.ratio_of(aspect_ratio)
        else:
            ratio = like.width / like.height if like is not None else 1.0
        return render.output_size(ratio, self.megapixels)

    def create(self, prompt: str, aspect_ratio: str, version: str) -> Image.Image:
        """Draw the pattern for `prompt` and `version`."""
        size = self._size(aspect_ratio, None)
        return render.with_references(f'create|{version}|{prompt}', prompt, [], size)

    def edit(
        self, instruction: str, image: Image.Image, aspect_ratio: str | None, version: str
    ) -> Image.Image:
        """Blend `image` with the pattern for `instruction`; default shape is the image's."""
        size = self._size(aspect_ratio, image)
        return render.with_references(f'edit|{version}|{instruction}', instruction, [image], size)

    def remix(
        self, prompt: str, images: list[Image.Image], aspect_ratio: str | None, version: str
    ) -> Image.Image:
        """Tile `images` over the pattern for `prompt`; default ratio: nearest to the first."""
        if aspect_ratio is None:
            aspect_ratio = render.nearest_aspect_ratio(images[0].size)
        size = self._size(aspect_ratio, None)
        return render.with_references(f'remix|{version}|{prompt}', prompt, images, size)
