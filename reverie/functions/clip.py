"""CLIP, run locally with transformers: text and image embeddings, prompt-image alignment.

Needs the ``[local]`` extra (torch, transformers). ``model_id`` is a Hugging Face id
(default ``openai/clip-vit-base-patch32``, downloaded into the Hugging Face cache on first
use) or a folder written by ``CLIPModel.save_pretrained`` holding the processor too. The
weights are loaded once per process and model; calls are batched; on a CUDA machine the
model runs on the GPU in float16, elsewhere on the CPU in float32.

Examples:
    >>> from reverie.functions import clip
    >>> t.add_embedding_index('img', string_embed=clip.embed_text,
    ...     image_embed=clip.embed_image)  # doctest: +SKIP
    >>> t.add_computed_column(alignment=clip.score(t.img, t.prompt))  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import PIL.Image

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.functions.udf import Batch, udf

DEFAULT_MODEL = 'openai/clip-vit-base-patch32'
BATCH = 32  # rows per forward pass
VECTOR = ts.Array[(None,), ts.Float]

_lock = threading.Lock()
_models: dict[str, _Clip] = {}


class _Clip:
    """One loaded CLIP model and its processor."""

    def __init__(self, model_id: str) -> None:
        try:
            import torch
            from transformers import CLIPModel, CLIPProcessor
        except ImportError:
            raise InvalidValueError(
                "CLIP needs torch and transformers: pip install 'reverie[local]'."
            ) from None
        self.torch = torch
        self.device = 'cuda' if torch.cuda.is_available() else 'cpu'
        dtype = torch.float16 if self.device == 'cuda' else torch.float32
        try:
            self.processor = CLIPProcessor.from_pretrained(model_id)
            self.model = CLIPModel.from_pretrained(model_id, dtype=dtype).to(self.device).eval()
        except OSError as e:
            raise InvalidValueError(
                f'CLIP model {model_id!r} could not be loaded ({e}). Give a Hugging Face id '
                'reachable from here (or in HF_HOME), or a folder saved with save_pretrained.'
            ) from None
        self.dtype = dtype

    def text(self, texts: list[str]) -> np.ndarray:
        with self.torch.inference_mode():
            inputs = self.processor(
                text=texts, return_tensors='pt', padding=True, truncation=True
            ).to(self.device)
            out = self.model.get_text_features(**inputs)
        return _array(out)

    def image(self, images: list[PIL.Image.Image]) -> np.ndarray:
        rgb = [im.convert('RGB') for im in images]
        with self.torch.inference_mode():
            inputs = self.processor(images=rgb, return_tensors='pt').to(self.device)
            out = self.model.get_image_features(pixel_values=inputs['pixel_values'].to(self.dtype))
        return _array(out)


def _array(out: Any) -> np.ndarray:
    tensor = out if hasattr(out, 'float') else out.pooler_output  # transformers 5 may wrap it
    return np.asarray(tensor.float().cpu().numpy(), dtype=np.float32)


def model(model_id: str = DEFAULT_MODEL) -> _Clip:
    """The loaded model (loaded on first use, once per process)."""
    with _lock:
        found = _models.get(model_id)
        if found is None:
            found = _models[model_id] = _Clip(model_id)
        return found


def _one(model_ids: list[str] | str) -> str:
    ids = {model_ids} if isinstance(model_ids, str) else set(model_ids)
    if len(ids) != 1:
        raise InvalidValueError('model_id must be the same for every row of a column.')
    return ids.pop()


def _batched(rows: list[Any], embed: Any) -> np.ndarray:
    """``embed`` over ``rows`` in forward passes of ``BATCH``: one matrix, a row per input."""
    return np.concatenate([embed(rows[i : i + BATCH]) for i in range(0, len(rows), BATCH)])


@udf(batch_size=BATCH, return_type=VECTOR)
def embed_text(text: Batch[str], *, model_id: Batch[str] = DEFAULT_MODEL) -> Batch[Any]:  # type: ignore[assignment]
    """CLIP's embedding of a text (float32, the model's projection size)."""
    return Batch(list(_batched(list(text), model(_one(model_id)).text)))


@udf(batch_size=BATCH, return_type=VECTOR)
def embed_image(
    image: Batch[PIL.Image.Image],
    *,
    model_id: Batch[str] = DEFAULT_MODEL,  # type: ignore[assignment]
) -> Batch[Any]:
    """CLIP's embedding of an image (float32, the model's projection size)."""
    return Batch(list(_batched(list(image), model(_one(model_id)).image)))


@udf(batch_size=BATCH)
def score(
    image: Batch[PIL.Image.Image],
    text: Batch[str],
    *,
    model_id: Batch[str] = DEFAULT_MODEL,  # type: ignore[assignment]
) -> Batch[float]:
    """How well an image follows a text: CLIPScore, ``max(100 * cos(image, text), 0)``.

    Rank the pictures of several models by it, or by alignment per credit with the ledger.
    """
    clip = model(_one(model_id))
    images = _batched(list(image), clip.image)
    texts = _batched(list(text), clip.text)
    images /= np.maximum(np.linalg.norm(images, axis=1, keepdims=True), 1e-12)
    texts /= np.maximum(np.linalg.norm(texts, axis=1, keepdims=True), 1e-12)
    cos = np.einsum('ij,ij->i', images, texts)
    return Batch([float(max(100.0 * c, 0.0)) for c in cos])
