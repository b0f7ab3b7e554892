"""Bad and unusual uploads, generated: each kind is built here from first principles.

``CASES`` maps a kind to ``(file name, bytes builder, expectation)``. The expectation is either
``OK`` with the decoded (width, height) a person would expect, or ``FAIL`` with words the
recorded reason must contain (any of them) so a person can tell what was wrong.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    size: tuple[int, int] | None = None  # decodable: expected (width, height) after EXIF rotation
    reason: tuple[str, ...] = ()  # refused: the reason names one of these


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def photo(width: int = 120, height: int = 90, mode: str = "RGB") -> Image.Image:
    """A white picture with a red block in its top-left quarter."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    image.paste((220, 20, 30), (0, 0, max(1, width // 2), max(1, height // 2)))
    return image.convert(mode)


def jpeg() -> bytes:
    return _save(photo(), "JPEG", quality=90)


def png() -> bytes:
    return _save(photo(), "PNG")


def animated_gif() -> bytes:
    frames = [photo().convert("P"), Image.new("RGB", (120, 90), (0, 0, 255)).convert("P")]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def multipage_tiff() -> bytes:
    return _save(photo(), "TIFF", save_all=True, append_images=[photo(60, 40)])


def png16() -> bytes:
    ramp = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    return _save(Image.fromarray(ramp), "PNG")  # uint16 -> mode I;16


def palette_png_transparent() -> bytes:
    image = photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return _save(image, "PNG", transparency=0)


def bomb_png() -> bytes:
    """A valid PNG header declaring 100000×100000 pixels, followed by a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def corrupt_exif_jpeg() -> bytes:
    """A JPEG whose APP1 segment says "Exif" but holds garbage instead of a TIFF structure."""
    data = jpeg()
    garbage = b"Exif\x00\x00" + b"II*\x00\xff\xff\xff\x7f" + b"\x13" * 40
    app1 = b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage
    return data[:2] + app1 + data[2:]


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", jpeg())
    return out.getvalue()


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def html() -> bytes:
    return b"<!DOCTYPE html><html><body><img src='x.jpg'></body></html>"


def svg() -> bytes:
    return b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'


def random_bytes() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()


CORRUPT = ("corrupt", "truncated", "not a supported", "cannot")
NOT_IMAGE = ("not a supported image format",)

CASES: tuple[Case, ...] = (
    Case("empty file.jpg", lambda: b"", reason=("empty",)),
    Case("truncated.jpg", lambda: jpeg()[: len(jpeg()) // 2], reason=CORRUPT),
    Case("truncated.png", lambda: png()[: len(png()) // 2], reason=CORRUPT),
    Case("header only.png", lambda: png()[:40], reason=CORRUPT),
    Case("random bytes.jpg", random_bytes, reason=NOT_IMAGE),
    Case("page.html.jpg", html, reason=("HTML",)),
    Case("drawing.svg.png", svg, reason=("SVG",)),
    Case("document.pdf.jpg", pdf, reason=("PDF",)),
    Case("archive.zip.jpg", zip_file, reason=("ZIP",)),
    Case("data.json.jpg", lambda: b'{"not": "an image"}', reason=("JSON",)),
    Case("bomb.png", bomb_png, reason=("bomb", "limit")),
    Case("animated.gif", animated_gif, size=(120, 90)),
    Case("multipage.tiff", multipage_tiff, size=(120, 90)),
    Case("photo.webp", lambda: _save(photo(), "WEBP", quality=90), size=(120, 90)),
    Case("deep.png", png16, size=(64, 48)),
    Case("cmyk.jpg", lambda: _save(photo(mode="CMYK"), "JPEG"), size=(120, 90)),
    Case("palette transparent.png", palette_png_transparent, size=(120, 90)),
    Case("grey.jpg", lambda: _save(photo(mode="L"), "JPEG"), size=(120, 90)),
    Case("grey alpha.png", lambda: _save(photo(mode="LA"), "PNG"), size=(120, 90)),
    Case("rgba.png", lambda: _save(photo(mode="RGBA"), "PNG"), size=(120, 90)),
    Case(
        "float.tiff",
        lambda: _save(Image.fromarray(np.linspace(0, 1, 30 * 20, dtype=np.float32).reshape(20, 30)), "TIFF"),
        size=(30, 20),
    ),
    Case("bitmap.bmp", lambda: _save(photo(), "BMP"), size=(120, 90)),
    Case("one pixel.png", lambda: _save(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), size=(1, 1)),
    Case("wide 4000x2.png", lambda: _save(photo(4000, 2), "PNG"), size=(4000, 2)),
    Case("tall 2x4000.png", lambda: _save(photo(2, 4000), "PNG"), size=(2, 4000)),
    Case("corrupt exif.jpg", corrupt_exif_jpeg, size=(120, 90)),
)
