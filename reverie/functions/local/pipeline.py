"""The worker: a diffusers pipeline loaded once, making one image at a time.

``load(model_id, settings)`` loads the pipeline of ``model_id`` once per (model, device,
dtype, offload) and keeps it for the life of the process; ``LocalModel.generate`` runs it
under the model's lock, so two callers (computed columns, server threads) never share it
at once. Everything here blocks: callers on an event loop run it in a thread.

torch and diffusers (``pip install 'reverie[local]'``) are imported on first use, so
importing reverie, its CLI or its Reve-compatible server never imports torch.
"""

from __future__ import annotations

import importlib.util
import inspect
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import PIL.Image

from reverie.config import LocalSettings
from reverie.errors import NotFoundError, ServiceError
from reverie.functions.local import inputs
from reverie.functions.local import weights as wt

LIBRARIES = ('torch', 'diffusers', 'transformers')
INSTALL = "pip install 'reverie[local]'"
_FALLBACK_SIDE = 1024  # output side when a pipeline does not say its default size
_FALLBACK_MULTIPLE = 16  # sizes most latent pipelines accept
_MIN_INPUT_SIDE = 64  # FLUX.2 refuses smaller input images; thumbnails are scaled up


def check_libraries() -> None:
    """Refuse, without importing them, when torch / diffusers / transformers are missing."""
    missing = [name for name in LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        verb = 'is' if len(missing) == 1 else 'are'
        raise NotFoundError(
            f'The local image model needs {" and ".join(missing)}, which {verb} not installed '
            f'here. Install the extra: {INSTALL}.'
        )


@dataclass(frozen=True)
class Placement:
    """Where a pipeline runs: torch device, dtype name, and whether weights wait on the CPU."""

    device: str
    dtype: str
    cpu_offload: bool


class LocalModel:
    """A loaded pipeline; ``generate`` makes one image at a time."""

    def __init__(self, weights: wt.Weights, pipe: Any, placement: Placement) -> None:
        self.weights = weights
        self.placement = placement
        self._pipe = pipe
        self._lock = threading.Lock()
        self._accepts = set(inspect.signature(pipe.__call__).parameters)
        config = getattr(pipe, 'config', {})
        self.distilled = bool(config.get('is_distilled', False))

    def __repr__(self) -> str:
        p = self.placement
        return f'<LocalModel {self.weights.version!r} on {p.device} {p.dtype}>'

    @property
    def takes_images(self) -> bool:
        """Whether the pipeline takes input images (edit and remix need it)."""
        return 'image' in self._accepts

    @property
    def default_area(self) -> int:
        """Pixels of the model's default output (1024² for FLUX.2)."""
        side = getattr(self._pipe, 'default_sample_size', None)
        factor = getattr(self._pipe, 'vae_scale_factor', None)
        if isinstance(side, int) and isinstance(factor, int):
            return (side * factor) ** 2
        return _FALLBACK_SIDE**2

    @property
    def size_multiple(self) -> int:
        """Output width and height are multiples of this."""
        processor = getattr(self._pipe, 'image_processor', None)
        factor = getattr(getattr(processor, 'config', None), 'vae_scale_factor', None)
        return factor if isinstance(factor, int) and factor > 0 else _FALLBACK_MULTIPLE

    def default_steps(self, settings: LocalSettings) -> int | None:
        """``[local] steps``, else 4 for a step-distilled model, else the pipeline's own."""
        if settings.steps is not None:
            return settings.steps
        return 4 if self.distilled else None

    def render(
        self,
        prompt: str,
        images: list[PIL.Image.Image],
        aspect_ratio: str | None,
        settings: LocalSettings,
        *,
        megapixels: float | None = None,
        seed: int | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
    ) -> tuple[PIL.Image.Image, dict[str, Any]]:
        """Make the image a verb asks for; return it with what produced it (seed, steps...).

        ``<img>N</img>`` in ``prompt`` becomes ``image N+1``; the output has ``megapixels``
        (default ``[local] megapixels``, else the model's default) at ``aspect_ratio`` (None:
        the first image's shape, or square); ``seed`` None draws a fresh one.
        """
        megapixels = megapixels or settings.megapixels
        area = round(megapixels * 1024 * 1024) if megapixels else self.default_area
        like = images[0].size if images else None
        size = inputs.output_size(aspect_ratio, like, area, self.size_multiple)
        seed = seed if seed is not None else secrets.randbelow(2**31)
        steps = steps if steps is not None else self.default_steps(settings)
        prompt = inputs.name_references(prompt) if images else prompt
        rgb = [_at_least(img.convert('RGB'), _MIN_INPUT_SIDE) for img in images]
        image = self.generate(
            prompt, rgb, size, seed=seed, steps=steps, guidance_scale=guidance_scale
        )
        p = self.placement
        meta = {
            'prompt': prompt,
            'seed': seed,
            'steps': steps,
            'device': p.device,
            'dtype': p.dtype,
        }
        return image, meta

    def generate(
        self,
        prompt: str,
        images: list[PIL.Image.Image],
        size: tuple[int, int],
        *,
        seed: int,
        steps: int | None,
        guidance_scale: float | None = None,
    ) -> PIL.Image.Image:
        """Run the pipeline once and return its first image.

        Raises:
            ServiceError: the pipeline refused the input or failed (never retried: the
                same input fails the same way).
        """
        import torch

        if images and not self.takes_images:
            raise ServiceError(
                f'Local model {self.weights.model_id!r} ({type(self._pipe).__name__}) takes no '
                'input images, so it cannot edit or remix. Use a model that does, such as '
                'FLUX.2 [klein].',
                code='NO_IMAGE_INPUT',
            )
        width, height = size
        kwargs: dict[str, Any] = {
            'prompt': prompt,
            'width': width,
            'height': height,
            # A CPU generator: the same seed starts from the same noise on every device.
            'generator': torch.Generator(device='cpu').manual_seed(seed),
        }
        if steps is not None:
            kwargs['num_inference_steps'] = steps
        if guidance_scale is None and self.distilled:
            guidance_scale = 1.0  # a step-distilled model ignores guidance; 1.0 avoids a warning
        if guidance_scale is not None:
            kwargs['guidance_scale'] = guidance_scale
        if images:
            kwargs['image'] = images if len(images) > 1 else images[0]
        kwargs = {k: v for k, v in kwargs.items() if k in self._accepts}
        with self._lock:
            try:
                result = self._pipe(**kwargs)
            except ValueError as e:
                raise ServiceError(
                    f'Local model {self.weights.model_id!r} refused the request: {e}',
                    code='INVALID_INPUT',
                ) from None
            except torch.OutOfMemoryError:
                raise ServiceError(
                    f'Local model {self.weights.model_id!r} ran out of memory on '
                    f'{self.placement.device} at {width}x{height}. Set [local] cpu_offload = '
                    'true, a smaller [local] megapixels, or dtype = "bfloat16".',
                    code='OUT_OF_MEMORY',
                ) from None
            except RuntimeError as e:  # a kernel or shape failure: the same input fails again
                raise ServiceError(
                    f'Local model {self.weights.model_id!r} failed on {self.placement.device}: '
                    f'{type(e).__name__}: {e}',
                    code='MODEL_FAILED',
                ) from None
        image: PIL.Image.Image = result.images[0]
        return image


def _at_least(img: PIL.Image.Image, side: int) -> PIL.Image.Image:
    if min(img.size) >= side:
        return img
    scale = side / min(img.size)
    return img.resize((max(side, round(img.width * scale)), max(side, round(img.height * scale))))


_models: dict[tuple[str, Placement], LocalModel] = {}
_loading = threading.Lock()  # one load at a time: two loads of one model would double RAM


def load(model_id: str, settings: LocalSettings) -> LocalModel:
    """The loaded model for ``model_id`` on the configured device (loaded on first call)."""
    wt.check(model_id)  # a missing folder is refused before torch is imported
    check_libraries()
    placement = place(settings)
    key = (model_id, placement)
    with _loading:
        model = _models.get(key)
        if model is None:
            model = _models[key] = _load(wt.resolve(model_id), placement)
    return model


def place(settings: LocalSettings) -> Placement:
    """Resolve ``auto`` device and dtype: CUDA, then Apple MPS, then CPU (float32)."""
    import torch

    device = settings.device
    if device == 'auto':
        if torch.cuda.is_available():
            device = 'cuda'
        elif torch.backends.mps.is_available():
            device = 'mps'
        else:
            device = 'cpu'
    dtype = settings.dtype
    if dtype == 'auto':
        if device.startswith('cuda'):
            dtype = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
        elif device == 'mps':
            dtype = 'float16'
        else:
            dtype = 'float32'
    # Offloading keeps weights on the CPU and moves each part to the accelerator in turn:
    # on the CPU itself there is nothing to offload to.
    return Placement(device, dtype, settings.cpu_offload and device != 'cpu')


def _load(weights: wt.Weights, placement: Placement) -> LocalModel:
    import diffusers
    import torch

    try:
        pipe = diffusers.DiffusionPipeline.from_pretrained(
            str(weights.path), dtype=getattr(torch, placement.dtype)
        )
        if placement.cpu_offload:
            pipe.enable_model_cpu_offload(device=placement.device)
        else:
            pipe.to(placement.device)
    except (OSError, ValueError, RuntimeError, ImportError, TypeError) as e:
        raise ServiceError(
            f'Local model {weights.model_id!r} could not be loaded from {str(weights.path)!r} '
            f'on {placement.device} ({placement.dtype}): {type(e).__name__}: {e}',
            code='MODEL_LOAD_FAILED',
            stops_run=True,
        ) from None
    pipe.set_progress_bar_config(disable=True)  # reverie shows its own progress
    return LocalModel(weights, pipe, placement)
