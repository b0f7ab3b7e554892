"""Decoding untrusted uploads, the robotoff-v1 crop corners and JPEG encoding."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from common.domain import Box
from common.errors import InvalidImageError
from common.inference.images import crop_truncated, decode_image, encode_jpeg

LIMITS = {"max_pixels": 10_000_000, "max_bytes": 10_000_000}


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = decode_image(data, **LIMITS)
    assert image.mode == "RGB"
    return image


def pixel(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(image)[y, x])


# --- mode conversions ---------------------------------------------------------------------


def test_greyscale_becomes_equal_rgb_channels() -> None:
    image = decode(encode(Image.new("L", (3, 2), 77), "PNG"))
    assert image.size == (3, 2)
    assert pixel(image, 2, 1) == (77, 77, 77)


def test_bilevel_maps_to_black_and_white() -> None:
    bits = Image.new("1", (2, 1), 0)
    bits.putpixel((1, 0), 1)
    image = decode(encode(bits, "PNG"))
    assert pixel(image, 0, 0) == (0, 0, 0)
    assert pixel(image, 1, 0) == (255, 255, 255)


def test_palette_colours_are_looked_up() -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 0), 1)
    image = decode(encode(palette, "PNG"))
    assert pixel(image, 0, 0) == (10, 20, 30)
    assert pixel(image, 1, 0) == (200, 100, 50)


def test_palette_transparency_is_composited_on_white() -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 0), 1)
    image = decode(encode(palette, "PNG", transparency=0))
    assert pixel(image, 0, 0) == (255, 255, 255)  # index 0 (black) is fully transparent
    assert pixel(image, 1, 0) == (200, 100, 50)


@pytest.mark.parametrize("alpha", [0, 128, 255])
def test_rgba_is_composited_on_white(alpha: int) -> None:
    image = decode(encode(Image.new("RGBA", (1, 1), (200, 40, 0, alpha)), "PNG"))
    a = alpha / 255
    expected = [c * a + 255 * (1 - a) for c in (200, 40, 0)]
    assert np.allclose(pixel(image, 0, 0), expected, atol=1)


def test_grey_with_alpha_is_composited_on_white() -> None:
    image = decode(encode(Image.new("LA", (1, 1), (100, 64)), "PNG"))
    a = 64 / 255
    assert np.allclose(pixel(image, 0, 0), [100 * a + 255 * (1 - a)] * 3, atol=1)


def test_cmyk_is_converted() -> None:
    cmyk = Image.new("CMYK", (3, 1), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (255, 0, 0, 0))  # pure cyan ink
    cmyk.putpixel((2, 0), (0, 0, 0, 255))  # pure black ink
    image = decode(encode(cmyk, "TIFF"))
    assert pixel(image, 0, 0) == (255, 255, 255)
    assert pixel(image, 1, 0) == (0, 255, 255)
    assert pixel(image, 2, 0) == (0, 0, 0)


def test_16_bit_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    image = decode(data)
    assert [pixel(image, x, 0)[0] for x in range(3)] == [0, 100, 255]


def test_16_bit_colour_png_is_reduced_to_8_bits() -> None:
    cv2 = pytest.importorskip("cv2")
    bgr = np.zeros((1, 1, 3), dtype=np.uint16)
    bgr[0, 0] = (65535, 257 * 100, 0)
    ok, buffer = cv2.imencode(".png", bgr)
    assert ok
    assert pixel(decode(buffer.tobytes()), 0, 0) == (0, 100, 255)


def test_32_bit_integer_image_in_16_bit_range_is_scaled() -> None:
    values = np.array([[0, 257 * 40, 65535]], dtype=np.int32)
    image = decode(encode(Image.fromarray(values), "TIFF"))
    assert [pixel(image, x, 0)[0] for x in range(3)] == [0, 40, 255]


def test_float_image_in_unit_range_is_multiplied_by_255() -> None:
    values = np.array([[0.0, 0.2, 1.0]], dtype=np.float32)
    image = decode(encode(Image.fromarray(values), "TIFF"))
    assert [pixel(image, x, 0)[0] for x in range(3)] == [0, 51, 255]


def test_float_image_outside_unit_range_is_stretched() -> None:
    values = np.array([[-10.0, -5.0, 10.0]], dtype=np.float32)
    image = decode(encode(Image.fromarray(values), "TIFF"))
    assert [pixel(image, x, 0)[0] for x in range(3)] == [0, 64, 255]  # -5 is a quarter of the way: 63.75


# --- orientation and frames ---------------------------------------------------------------


def red_corner_jpeg(orientation: int | None, exif: bytes | None = None) -> bytes:
    """60x40, white, with a red 12x12 square in the stored top-left corner."""
    image = Image.new("RGB", (60, 40), (255, 255, 255))
    image.paste((255, 0, 0), (0, 0, 12, 12))
    if exif is None:
        tags = Image.Exif()
        if orientation is not None:
            tags[0x0112] = orientation
        exif = tags.tobytes()
    return encode(image, "JPEG", quality=95, exif=exif)


def is_red(rgb: tuple[int, ...]) -> bool:
    return rgb[0] > 200 and rgb[1] < 60 and rgb[2] < 60


@pytest.mark.parametrize(
    ("orientation", "size", "red_corner"),
    [
        (None, (60, 40), (5, 5)),  # no tag: as stored
        (6, (40, 60), (34, 5)),  # rotate 90° clockwise to display: top-left goes top-right
        (8, (40, 60), (5, 54)),  # rotate 90° counter-clockwise: top-left goes bottom-left
        (3, (60, 40), (54, 34)),  # rotate 180°: top-left goes bottom-right
    ],
)
def test_exif_orientation_is_applied(
    orientation: int | None, size: tuple[int, int], red_corner: tuple[int, int]
) -> None:
    image = decode(red_corner_jpeg(orientation))
    assert image.size == size
    width, height = size
    corners = {(5, 5), (width - 6, 5), (5, height - 6), (width - 6, height - 6)}
    assert is_red(pixel(image, *red_corner))
    for corner in corners - {red_corner}:
        assert not is_red(pixel(image, *corner))


def test_corrupt_exif_does_not_lose_the_image() -> None:
    garbage = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x01\x12" * 20
    image = decode(red_corner_jpeg(None, exif=garbage))
    assert image.size == (60, 40)
    assert is_red(pixel(image, 5, 5))


def test_animated_gif_uses_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    assert pixel(decode(data), 4, 4) == (255, 0, 0)


def test_multi_page_tiff_uses_its_first_page() -> None:
    pages = [Image.new("RGB", (8, 8), colour) for colour in ((0, 200, 0), (0, 0, 255))]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert pixel(decode(data), 4, 4) == (0, 200, 0)


# --- refusals -----------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and carries garbage pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"junk") + chunk(b"IEND", b"")


def test_declared_size_above_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidImageError, match=r"5000x5000 pixels, above the limit of 10000000"):
        decode_image(png_header_only(5_000, 5_000), max_pixels=10_000_000, max_bytes=10_000_000)


def test_pillow_decompression_bomb_is_refused() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    side = int((3 * Image.MAX_IMAGE_PIXELS) ** 0.5)
    with pytest.raises(InvalidImageError, match="decompression bomb"):
        decode_image(png_header_only(side, side), max_pixels=10**12, max_bytes=10_000_000)


def test_small_pixel_limit_refuses_a_real_image() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(InvalidImageError, match="100x100"):
        decode_image(data, max_pixels=9_999, max_bytes=10_000_000)
    assert decode_image(data, max_pixels=10_000, max_bytes=10_000_000).size == (100, 100)


def test_byte_limit() -> None:
    data = encode(Image.new("RGB", (10, 10)), "PNG")
    with pytest.raises(InvalidImageError, match="above the limit"):
        decode_image(data, max_pixels=10_000, max_bytes=len(data) - 1)


def test_empty_file() -> None:
    with pytest.raises(InvalidImageError, match="empty"):
        decode(b"")


def noisy(size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_files_fail(fmt: str) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = encode(noisy((64, 64)), fmt)
    with pytest.raises(InvalidImageError):
        decode(data[: len(data) // 2])


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML"),
        (b"%PDF-1.7\n1 0 obj << >> endobj", "PDF"),
        (zip_bytes(), "ZIP"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    ],
)
def test_non_images_name_what_they_look_like(data: bytes, kind: str) -> None:
    with pytest.raises(InvalidImageError, match=rf"not a supported image format \(looks like {kind}\)"):
        decode(data)


def test_random_bytes_are_not_an_image() -> None:
    data = np.random.default_rng(1).integers(0, 255, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(InvalidImageError, match="not a supported image format"):
        decode(data)


# --- crop and encode ----------------------------------------------------------------------


def coordinate_image(width: int, height: int) -> Image.Image:
    """Red = x, green = y: a crop's first pixel tells where it was taken."""
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    return Image.fromarray(np.stack([xs, ys, np.zeros_like(xs)], axis=2).astype(np.uint8))


def test_crop_corners_are_truncated_pixels() -> None:
    image = coordinate_image(200, 100)
    crop = crop_truncated(image, Box(y_min=0.255, x_min=0.1025, y_max=0.755, x_max=0.5))
    # left = int(20.5) = 20, top = int(25.5) = 25, right = 100, bottom = int(75.5) = 75
    assert crop.size == (80, 50)
    assert pixel(crop, 0, 0)[:2] == (20, 25)
    assert pixel(crop, 79, 49)[:2] == (99, 74)


@pytest.mark.parametrize("box", [Box(0.5, 0.5, 0.501, 0.501), Box(0.999, 0.999, 1.0, 1.0)])
def test_crop_is_at_least_one_pixel(box: Box) -> None:
    crop = crop_truncated(coordinate_image(10, 10), box)
    assert crop.size == (1, 1)


def test_encode_jpeg_round_trips() -> None:
    image = Image.new("RGBA", (30, 20), (0, 120, 255, 255))
    data = encode_jpeg(image, quality=95)
    assert data[:2] == b"\xff\xd8"
    decoded = decode(data)
    assert decoded.size == (30, 20)
    assert np.allclose(pixel(decoded, 15, 10), (0, 120, 255), atol=4)
