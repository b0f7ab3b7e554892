"""Labelled logo sets for the label-propagation benchmark.

- ``rendered``: logos drawn with PIL, ``kinds`` kinds (a shape, two colours, a word) and
  ``per_kind`` instances each, every instance re-photographed differently (scale, offset,
  rotation, brightness, blur, noise, JPEG), then embedded with the project's stand-in embedder
  (``offline.models.standin_embedder``: a fixed projection of the crop's colour layout, under
  which similar-looking crops are close). Several kinds share colours or shapes, so some are
  confusable.
- ``synthetic``: 512-d unit vectors, ``kinds`` kinds in pairs of siblings that share a parent
  direction (look-alike logos of one maker, from about 0.06 apart), class sizes from a heavy-tailed
  law, noise that puts same-kind neighbours at CLIP-like distances (about 0.05), and a tenth of
  the instances far noisier (bad crops).

Each kind has a type (brand or label) and a value, as annotations do.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from common.adapters.onnx_session import OnnxSession
from common.inference.embedder import Embedder
from offline.models.standin_embedder import build_vision_embedder

PALETTE = [(220, 30, 30), (30, 60, 200), (30, 160, 60), (240, 200, 20), (20, 20, 20), (240, 240, 240),
           (150, 40, 160), (250, 130, 20)]  # fmt: skip
SHAPES = ("circle", "square", "triangle", "ring", "stripes", "diamond")
HARD = 0.1  # share of synthetic instances photographed badly (blurred, cut, glare): far from their kind
WORDS = ("BIO", "ECO", "AB", "EU", "COLA", "NUT", "OK", "VEG", "MAX", "TOP", "ZEN", "FIT", "SUN", "JOY", "PUR", "ALP")


def kind_of(index: int) -> tuple[str, str]:
    """(type, value) of kind ``index``."""
    if index % 2:
        return "label", f"en:label-{index}"
    return "brand", f"brand-{index}"


def _design(index: int) -> tuple[tuple[int, int, int], tuple[int, int, int], str, str]:
    bg = PALETTE[index % len(PALETTE)]
    fg = PALETTE[(index * 3 + 1) % len(PALETTE)]
    if fg == bg:
        fg = PALETTE[(index + 4) % len(PALETTE)]
    return bg, fg, SHAPES[index % len(SHAPES)], WORDS[index % len(WORDS)]


def draw_logo(index: int, size: int = 160) -> Image.Image:
    bg, fg, shape, word = _design(index)
    image = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(image)
    m = size // 6
    box = (m, m, size - m, size - m)
    if shape == "circle":
        d.ellipse(box, fill=fg)
    elif shape == "square":
        d.rectangle(box, fill=fg)
    elif shape == "triangle":
        d.polygon([(size // 2, m), (size - m, size - m), (m, size - m)], fill=fg)
    elif shape == "ring":
        d.ellipse(box, outline=fg, width=size // 10)
    elif shape == "stripes":
        for y in range(m, size - m, size // 8):
            d.rectangle((m, y, size - m, y + size // 16), fill=fg)
    else:
        d.polygon([(size // 2, m), (size - m, size // 2), (size // 2, size - m), (m, size // 2)], fill=fg)
    d.text((size // 2 - 12, size // 2 - 6), word, fill=bg if shape != "ring" else fg)
    return image


def photograph(logo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One instance: the logo as a detector would crop it from a product photo."""
    size = logo.width
    scale = rng.uniform(0.75, 1.1)
    turned = logo.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR, expand=False, fillcolor=(200, 200, 200))
    side = max(16, int(size * scale))
    turned = turned.resize((side, side), Image.BILINEAR)
    canvas = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(150, 250, 3)))
    dx, dy = (int(v) for v in rng.integers(-size // 10, size // 10 + 1, 2))
    canvas.paste(turned, ((size - side) // 2 + dx, (size - side) // 2 + dy))
    pixels = np.asarray(canvas, dtype=np.float32) * rng.uniform(0.75, 1.2)
    pixels += rng.normal(0, rng.uniform(2, 12), pixels.shape)
    canvas = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0, 1.5))
    )
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=int(rng.integers(40, 90)))
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def rendered(kinds: int, per_kind: int, workdir: Path, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for kind in range(kinds):
        logo = draw_logo(kind)
        for _ in range(per_kind):
            crops.append(photograph(logo, rng))
            labels.append(kind)
    model = build_vision_embedder(workdir / "propagation-embedder.onnx", dim=512)
    embedder = Embedder(OnnxSession(model, threads=1), batch_size=32)
    return embedder.embed(crops), labels


def synthetic(kinds: int, instances: int, dim: int = 512, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """About ``instances`` vectors in all, over ``kinds`` kinds (sizes heavy-tailed, at least 4)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, kinds + 1) ** 0.8
    sizes = np.maximum(4, np.round(instances * weights / weights.sum())).astype(int)
    rows, labels = [], []
    for kind in range(kinds):
        parent = np.random.default_rng(seed * 1000 + kind // 2).normal(size=dim)
        centre = parent / np.linalg.norm(parent) + 0.28 * rng.normal(size=dim) / np.sqrt(dim)
        centre /= np.linalg.norm(centre)
        spread = rng.uniform(0.2, 0.5) * np.where(rng.random(sizes[kind]) < HARD, 2.2, 1.0)[:, None]
        noise = rng.normal(size=(sizes[kind], dim)) * spread / np.sqrt(dim)
        rows.append(centre + noise)
        labels += [kind] * int(sizes[kind])
    matrix = np.concatenate(rows).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True), labels
