"""Image decoding for untrusted uploads, the crop recipe and JPEG encoding.

``decode_image`` turns the bytes of an upload into an 8-bit RGB ``PIL.Image``, or raises
``InvalidImageError`` with a reason a person can read (it is stored against the image):

- the size limits are checked first: bytes before parsing, declared pixels before decoding,
  so a decompression bomb is refused from its header alone;
- truncated or corrupt files fail (``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set);
- EXIF orientation is applied; a corrupt EXIF block is ignored, not fatal;
- every mode becomes RGB: transparency is composited on white, 16-bit and 32-bit integer
  images are scaled (not clipped) to 8 bits, float images in [0, 1] are scaled by 255 and
  other float ranges are stretched to their min..max;
- only the first frame of an animated or multi-page file is used.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from common.domain import Box
from common.errors import InvalidImageError

logger = logging.getLogger(__name__)

# Raster formats we accept (JPEG covers multi-picture MPO files); anything else is refused
# before a plugin guesses at it.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "PPM", "ICO", "JPEG2000", "AVIF")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"<!doctype html", "HTML"),
    (b"<html", "HTML"),
    (b"<svg", "SVG"),
    (b"{", "JSON"),
)


ORIENTATION = 0x0112  # the EXIF orientation tag


def decode_image(data: bytes, max_pixels: int, max_bytes: int) -> Image.Image:
    """Decode an upload into an RGB image, or raise ``InvalidImageError`` saying why."""
    if not data:
        raise InvalidImageError("empty file")
    if len(data) > max_bytes:
        raise InvalidImageError(f"file is {len(data)} bytes, above the limit of {max_bytes}")
    with _pillow_warnings():
        image = _open(data)
        width, height = image.size
        if width <= 0 or height <= 0:
            raise InvalidImageError(f"image declares an empty size {width}x{height}")
        if width * height > max_pixels:
            raise InvalidImageError(f"image is {width}x{height} pixels, above the limit of {max_pixels} pixels")
        _load(image)
        image = _apply_orientation(image)
    return to_rgb(image)


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's size warning is an error here; its other warnings (corrupt EXIF...) are logged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield
    for warning in caught:
        logger.info("while decoding an image: %s", warning.message)


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=_available_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(f"not a supported image format{_guess_kind(data)}") from exc
    except Exception as exc:  # plugins raise many types on malformed headers
        raise InvalidImageError(f"corrupt image header: {exc}") from exc


def _load(image: Image.Image) -> None:
    """Decode the first frame's pixels; truncated or corrupt data fails here."""
    try:
        image.seek(0)
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"refused as a decompression bomb: {exc}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # OSError, SyntaxError, ValueError, EOFError... depending on the plugin
        reason = str(exc) or type(exc).__name__
        raise InvalidImageError(f"corrupt or truncated {image.format or 'image'} data: {reason}") from exc


@functools.cache
def _available_formats() -> tuple[str, ...]:
    Image.init()
    return tuple(name for name in FORMATS if name in Image.OPEN)


def _guess_kind(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    for signature, kind in _SIGNATURES:
        if head.startswith(signature.lower()):
            return f" (looks like {kind})"
    if head.startswith(b"<?xml"):
        return " (looks like SVG)" if b"<svg" in data[:4096].lower() else " (looks like XML)"
    return ""


def _apply_orientation(image: Image.Image) -> Image.Image:
    try:
        if image.getexif().get(ORIENTATION, 1) == 1:
            return image  # upright already: no copy (exif_transpose would copy the pixels)
        return ImageOps.exif_transpose(image)
    except Exception as exc:  # a corrupt EXIF block must not lose the picture
        logger.warning("ignoring unreadable EXIF orientation: %s", exc)
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (see the module docstring for the rules)."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(image))).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise InvalidImageError(f"cannot convert {mode} image to RGB: {exc}") from exc


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale a single-channel integer or float array to 0..255."""
    if values.ndim != 2:
        raise InvalidImageError(f"unexpected pixel array shape {values.shape}")
    pixels = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
    if np.issubdtype(values.dtype, np.integer) and low >= 0 and high <= 65535:
        scaled = pixels / 257.0  # 16-bit range, 65535 -> 255
    elif np.issubdtype(values.dtype, np.floating) and low >= 0 and high <= 1:
        scaled = pixels * 255.0
    elif high > low:
        scaled = (pixels - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(pixels)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def crop_truncated(image: Image.Image, box: Box) -> Image.Image:
    """The crop the embedder sees (recipe "robotoff-v1"): corners truncated to int pixels, no
    margin, at least 1 px. ``common.pipeline.crops.crop_rounded`` is the one Robotoff's crop route serves."""
    width, height = image.size
    left = min(int(box.x_min * width), width - 1)
    top = min(int(box.y_min * height), height - 1)
    right = min(max(int(box.x_max * width), left + 1), width)
    bottom = min(max(int(box.y_max * height), top + 1), height)
    return image.crop((left, top, right, bottom))


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Encode as baseline JPEG (RGB)."""
    buffer = io.BytesIO()
    to_rgb(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
