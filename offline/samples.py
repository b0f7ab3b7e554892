"""Generated product-like photos: packages carrying a few recurring logos.

Used by ``make run`` when no folder is named, and by tests. Eight logo designs recur across
products at different sizes and positions, so a logo's true neighbours are known: the other
placements of the same design (``design`` in the sidecar ``labels.json``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

Colour = tuple[int, int, int]

DESIGNS: list[tuple[str, str, Colour, Colour]] = [
    # name, shape, fill, ink
    ("bio-leaf", "ellipse", (46, 160, 67), (255, 255, 255)),
    ("fair-trade", "circle", (20, 20, 20), (0, 170, 220)),
    ("red-brand", "rect", (210, 30, 40), (255, 255, 255)),
    ("sun-label", "circle", (250, 200, 0), (200, 60, 0)),
    ("blue-wave", "rect", (20, 60, 170), (240, 240, 255)),
    ("purple-star", "diamond", (120, 40, 160), (255, 230, 120)),
    ("orange-dot", "ellipse", (240, 120, 20), (40, 20, 10)),
    ("teal-seal", "diamond", (0, 130, 130), (255, 255, 255)),
]


def draw_logo(design: int, size: int) -> Image.Image:
    name, shape, fill, ink = DESIGNS[design]
    logo = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    box = (2, 2, size - 3, size - 3)
    if shape == "circle":
        draw.ellipse(box, fill=fill, outline=ink, width=max(2, size // 16))
    elif shape == "ellipse":
        draw.ellipse((2, size // 6, size - 3, size - size // 6), fill=fill)
    elif shape == "rect":
        draw.rounded_rectangle(box, radius=size // 8, fill=fill)
    else:
        half = size // 2
        draw.polygon([(half, 2), (size - 3, half), (half, size - 3), (2, half)], fill=fill)
    font = ImageFont.load_default(size=max(8, size // 5))
    text = name.split("-")[0].upper()
    draw.text((size / 2, size / 2), text, fill=ink, font=font, anchor="mm")
    draw.rectangle((size // 4, int(size * 0.68), size * 3 // 4, int(size * 0.72)), fill=ink)
    return logo


Label = dict[str, object]


def draw_product(rng: random.Random, width: int = 640, height: int = 800) -> tuple[Image.Image, list[Label]]:
    base: Colour = tuple(rng.randint(215, 250) for _ in range(3))  # type: ignore[assignment]
    image = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 4):  # soft vertical gradient, like lit packaging
        shade = int(12 * y / height)
        draw.line([(0, y), (width, y)], fill=tuple(max(0, c - shade) for c in base), width=4)
    for line in range(rng.randint(4, 9)):  # ingredient-like text lines
        y = height - 60 - line * 14
        draw.line([(40, y), (rng.randint(200, width - 40), y)], fill=(170, 170, 170), width=3)
    logos: list[dict[str, object]] = []
    taken: list[tuple[int, int, int, int]] = []
    for _ in range(rng.randint(1, 3)):
        design = rng.randrange(len(DESIGNS))
        size = rng.randint(90, 200)
        for _attempt in range(20):
            x, y = rng.randint(10, width - size - 10), rng.randint(10, height - size - 120)
            rect = (x, y, x + size, y + size)
            if all(rect[2] < t[0] or rect[0] > t[2] or rect[3] < t[1] or rect[1] > t[3] for t in taken):
                break
        else:
            continue
        taken.append(rect)
        image.paste(draw_logo(design, size), (x, y), draw_logo(design, size))
        logos.append(
            {"design": DESIGNS[design][0], "box": [y / height, x / width, (y + size) / height, (x + size) / width]}
        )
    return image.filter(ImageFilter.GaussianBlur(0.6)), logos


def write_samples(out: Path, count: int, seed: int = 0) -> list[Path]:
    """Write ``count`` JPEG photos and ``labels.json`` (true logo boxes and designs)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    labels: dict[str, list[dict[str, object]]] = {}
    paths = []
    for i in range(count):
        image, logos = draw_product(rng)
        path = out / f"product-{i:04d}.jpg"
        image.save(path, quality=90)
        labels[path.name] = logos
        paths.append(path)
    (out / "labels.json").write_text(json.dumps(labels, indent=1))
    return paths
