"""Crop preprocessing and the ``Embedder``: logo crops in, L2-normalised CLIP vectors out.

Preprocessing is a set of named *crop recipes*; the recipe name is stored with every embedding
so vectors made by different recipes are never compared by accident.

``robotoff-v1`` reproduces Robotoff's vectors: the crop is resized to 224×224 ignoring its
aspect ratio with OpenCV's ``INTER_LINEAR`` on 8-bit pixels (half-pixel centres, no
anti-aliasing, 11-bit fixed-point weights, results rounded back to 8 bits), then scaled to
[0, 1] and normalised with OpenAI's CLIP mean and std. Pillow's bilinear filter anti-aliases
when shrinking, so it is not used: the resize below is written in numpy to match OpenCV's
arithmetic exactly, without depending on OpenCV at run time.

The ``Embedder`` accepts both ONNX exports of CLIP: a vision-only graph (``pixel_values`` →
``image_embeds``) and Robotoff's full CLIP graph, which also needs ``input_ids`` and
``attention_mask``; it recognises which from the model's declared inputs. A model whose
``pixel_values`` is uint8 (the wrapper of ``offline.models.uint8_input``) gets the resized 8-bit
pixels and normalises them in its graph: 4× fewer bytes per crop to a remote Triton.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from PIL import Image

from common.errors import ConfigError, ModelError
from common.ports.model_session import ModelSession, TensorSpec, is_standin

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
DEFAULT_IMAGE_SIZE = 224
# CLIP's start-of-text and end-of-text tokens: the dummy text Robotoff feeds its full CLIP graph.
TEXT_TOKENS = (49406, 49407)
_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS
_COEF_SCALE = np.float32(1 << _COEF_BITS)


def _linear_taps(src_len: int, dst_len: int, *, clamp_weights: bool) -> tuple[np.ndarray, ...]:
    """Source indices and fixed-point weights of each output position, as OpenCV computes them.

    OpenCV pins the weight to the edge pixel along x (``clamp_weights``) but only clamps the
    row indices along y; with its fixed-point rounding the two give slightly different pixels.
    """
    scale = 1.0 / (dst_len / src_len)
    pos = ((np.arange(dst_len, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first.astype(np.float32)).astype(np.float32)
    if clamp_weights:
        outside = (first < 0) | (first >= src_len - 1)
        frac[outside] = 0.0
        first = np.clip(first, 0, src_len - 1)
    second = np.clip(first + 1, 0, src_len - 1)
    first = np.clip(first, 0, src_len - 1)
    w_second = np.rint(frac * _COEF_SCALE).astype(np.int32)
    w_first = np.rint((np.float32(1.0) - frac) * _COEF_SCALE).astype(np.int32)
    return first, second, w_first, w_second


def resize_linear_u8(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an ``[H, W, C]`` uint8 array like ``cv2.resize(..., INTER_LINEAR)``, bit for bit."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ValueError(f"expected an [H, W, C] uint8 array, got {pixels.dtype} {pixels.shape}")
    x0, x1, a0, a1 = _linear_taps(pixels.shape[1], width, clamp_weights=True)
    y0, y1, b0, b1 = _linear_taps(pixels.shape[0], height, clamp_weights=False)

    # the horizontal pass once per source row that any output row reads (not once per use)
    first_row, last_row = int(min(y0.min(), y1.min())), int(max(y0.max(), y1.max()))
    band = pixels[first_row : last_row + 1].astype(np.int32)
    across = (band[:, x0] * a0[None, :, None] + band[:, x1] * a1[None, :, None]) >> 4
    # OpenCV's vectorised vertical pass: drop 4 bits (above), keep the high 16 bits of each
    # product, then round away the last 2 bits.
    top = (across[y0 - first_row] * b0[:, None, None]) >> 16
    bottom = (across[y1 - first_row] * b1[:, None, None]) >> 16
    resized: np.ndarray = np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)
    return resized


def resize_robotoff_v1(crops: Sequence[Image.Image], size: int = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """Crops → uint8 ``[N, 3, size, size]``: stretched to a square (what a uint8-input model takes)."""
    batch = np.empty((len(crops), 3, size, size), dtype=np.uint8)
    for i, crop in enumerate(crops):
        pixels = np.asarray(crop.convert("RGB"), dtype=np.uint8)
        batch[i] = resize_linear_u8(pixels, size, size).transpose(2, 0, 1)
    return batch


def normalise_robotoff_v1(pixels: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 3, H, W]`` → float32: scale to [0, 1], CLIP-normalise (the uint8 wrapper runs
    the same float32 operations in the same order inside the graph)."""
    unit = pixels.astype(np.float32) / np.float32(255.0)
    normalised: np.ndarray = (unit - CLIP_MEAN[:, None, None]) / CLIP_STD[:, None, None]
    return normalised


def preprocess_robotoff_v1(crops: Sequence[Image.Image], size: int = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """Crops → float32 ``[N, 3, size, size]``: stretch to a square, scale to [0, 1], CLIP-normalise."""
    return normalise_robotoff_v1(resize_robotoff_v1(crops, size))


@dataclasses.dataclass(frozen=True)
class CropRecipe:
    """A named way to turn crops into the model's ``pixel_values``: ``resize`` gives the 8-bit
    pixels a uint8-input model takes, ``normalise`` the float input of a plain export."""

    name: str
    resize: Callable[[Sequence[Image.Image], int], np.ndarray]
    normalise: Callable[[np.ndarray], np.ndarray]

    def preprocess(self, crops: Sequence[Image.Image], size: int) -> np.ndarray:
        return self.normalise(self.resize(crops, size))


CROP_RECIPES: Mapping[str, CropRecipe] = {
    "robotoff-v1": CropRecipe("robotoff-v1", resize_robotoff_v1, normalise_robotoff_v1),
}


def _fixed(dim: int | str | None) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _find(specs: Sequence[TensorSpec], name: str) -> TensorSpec | None:
    return next((spec for spec in specs if spec.name == name), None)


def _check_inputs(inputs: Sequence[TensorSpec]) -> tuple[TensorSpec, list[TensorSpec]]:
    """The ``pixel_values`` spec and, for the full CLIP export, the two text input specs."""
    pixels = _find(inputs, "pixel_values")
    if pixels is None:
        raise ModelError(f"embedder has no 'pixel_values' input (inputs: {[s.name for s in inputs]})")
    if pixels.dtype not in ("float32", "float16", "uint8"):
        raise ModelError(f"embedder input 'pixel_values' must be float32, float16 or uint8, got {pixels.dtype}")
    text = [spec for spec in (_find(inputs, "input_ids"), _find(inputs, "attention_mask")) if spec is not None]
    if len(text) == 1:
        raise ModelError("embedder declares only one of 'input_ids' and 'attention_mask'")
    for spec in text:
        if spec.dtype != "int64":
            raise ModelError(f"embedder input {spec.name!r} must be int64, got {spec.dtype}")
    unknown = {s.name for s in inputs} - {"pixel_values", "input_ids", "attention_mask"}
    if unknown:
        raise ModelError(f"embedder declares unexpected inputs {sorted(unknown)}")
    return pixels, text


class Embedder:
    """Embeds logo crops with a CLIP image tower behind any ``ModelSession``."""

    def __init__(self, session: ModelSession, *, batch_size: int, crop_recipe: str = "robotoff-v1") -> None:
        if batch_size < 1:
            raise ConfigError(f"embedder batch size must be at least 1, got {batch_size}")
        if crop_recipe not in CROP_RECIPES:
            raise ConfigError(f"unknown crop recipe {crop_recipe!r}: expected one of {', '.join(CROP_RECIPES)}")
        self._session = session
        self._recipe = CROP_RECIPES[crop_recipe]
        limit = session.max_batch_size
        self._batch_size = min(batch_size, limit) if limit > 0 else batch_size
        self._pixels, self._text_specs = _check_inputs(session.inputs())
        self._image_size = self._image_size_of(self._pixels)
        self._dim = self._check_outputs(session.outputs())

    @property
    def version(self) -> str:
        return self._session.version

    @property
    def standin(self) -> bool:
        return is_standin(self._session.metadata())

    @property
    def recipe(self) -> str:
        return self._recipe.name

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def full_clip(self) -> bool:
        """True for Robotoff's full CLIP export, which needs dummy text inputs."""
        return len(self._text_specs) == 2

    @property
    def sends_uint8(self) -> bool:
        """True when the model takes 8-bit pixels and normalises them itself (``offline.models.uint8_input``)."""
        return self._pixels.dtype == "uint8"

    @property
    def dim(self) -> int:
        if self._dim is None:
            probe = np.zeros((1, 3, self._image_size, self._image_size), dtype=np.float32)
            self._dim = int(self._run(probe).shape[1])
        return self._dim

    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        """L2-normalised float32 ``[N, dim]``, one row per crop, in order."""
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._embed_batch(batch) for batch in self._batches(crops)]
        return np.concatenate(parts, axis=0)

    def _batches(self, crops: Sequence[Image.Image]) -> Iterator[Sequence[Image.Image]]:
        for start in range(0, len(crops), self._batch_size):
            yield crops[start : start + self._batch_size]

    def _embed_batch(self, crops: Sequence[Image.Image]) -> np.ndarray:
        pixels = self._recipe.resize(crops, self._image_size)
        vectors = self._run(pixels if self.sends_uint8 else self._recipe.normalise(pixels))
        if vectors.shape[0] != len(crops):
            raise ModelError(f"embedder returned {vectors.shape[0]} vectors for {len(crops)} crops")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0.0):
            raise ModelError("embedder returned a zero or non-finite vector; it cannot be normalised")
        unit: np.ndarray = (vectors / norms).astype(np.float32)
        return unit

    def _run(self, pixel_values: np.ndarray) -> np.ndarray:
        feeds = {self._pixels.name: pixel_values.astype(self._pixels.dtype, copy=False)}
        feeds.update(self._text_feeds(pixel_values.shape[0]))
        (vectors,) = self._session.run(["image_embeds"], feeds)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ModelError(f"image_embeds must be [N, D], got shape {vectors.shape}")
        return vectors

    def _text_feeds(self, n: int) -> dict[str, np.ndarray]:
        feeds: dict[str, np.ndarray] = {}
        for spec in self._text_specs:
            seq_len = _fixed(spec.shape[-1]) if spec.shape else None
            pad = max(0, (seq_len or len(TEXT_TOKENS)) - len(TEXT_TOKENS))
            if spec.name == "input_ids":
                row = list(TEXT_TOKENS) + [TEXT_TOKENS[-1]] * pad
            else:
                row = [1] * len(TEXT_TOKENS) + [0] * pad
            feeds[spec.name] = np.array([row] * n, dtype=np.int64)
        return feeds

    @staticmethod
    def _image_size_of(pixels: TensorSpec) -> int:
        if len(pixels.shape) < 3:
            return DEFAULT_IMAGE_SIZE
        channels, height, width = (_fixed(d) for d in pixels.shape[-3:])
        if channels not in (None, 3):
            raise ModelError(f"embedder input 'pixel_values' must have 3 channels, got shape {pixels.shape}")
        if height and width and height != width:
            raise ModelError(f"embedder input 'pixel_values' must be square, got shape {pixels.shape}")
        return height or width or DEFAULT_IMAGE_SIZE

    @staticmethod
    def _check_outputs(outputs: Sequence[TensorSpec]) -> int | None:
        embeds = _find(outputs, "image_embeds")
        if embeds is None:
            raise ModelError(f"embedder has no 'image_embeds' output (outputs: {[s.name for s in outputs]})")
        return _fixed(embeds.shape[-1]) if embeds.shape else None
