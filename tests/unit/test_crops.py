"""Crops by Open Food Facts URL: stored images from the bucket, the decoded-image cache, the box."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from common.adapters.http_images import FetchPolicy, HttpImages
from common.adapters.sqlite_store import SqliteStore
from common.domain import Box, ObjectRef
from common.errors import FetchRefused, NotFoundError
from common.pipeline.crops import CropService, DecodedImageCache, SizedCache, Source, crop_rounded
from tests.fakes import DictImageStore

OFF = "https://images.openfoodfacts.org/images/products"


def gradient(width: int = 400, height: int = 300) -> bytes:
    """A photo whose pixel (x, y) is (x % 256, y % 256, 0): a crop's corner says where it was cut."""
    xs, ys = np.meshgrid(np.arange(width) % 256, np.arange(height) % 256)
    pixels = np.stack([xs, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


class CountingImages(DictImageStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, ref: ObjectRef) -> bytes:
        self.reads += 1
        return super().get(ref)


@pytest.fixture
def service(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "meta.sqlite3", off_image_prefix="data/")
    images = CountingImages()
    for name in ("data/324/227/210/2359/4.jpg", "uploads/photo.png"):
        ref = images.put("bucket", name, gradient())
        store.upsert_image(ref, None, "image/png")
    policy = FetchPolicy(hosts=frozenset({"images.openfoodfacts.org"}))
    yield CropService(store, images, DecodedImageCache(10_000_000), HttpImages(policy), False, 10**8, 10**8)
    store.close()


def decode(jpeg: bytes) -> Image.Image:
    return Image.open(io.BytesIO(jpeg))


def test_a_stored_off_image_is_cropped_from_the_bucket(service: Any) -> None:
    crop = service.crop(f"{OFF}/324/227/210/2359/4.jpg", Box(0.1, 0.25, 0.5, 0.75))
    image = decode(crop.jpeg)
    assert image.format == "JPEG" and image.size == (200, 120)  # x 100..300, y 30..150
    red, green, _ = image.convert("RGB").getpixel((0, 0))  # type: ignore[misc]
    assert abs(red - 100) <= 3 and abs(green - 30) <= 3  # the crop starts where the box does
    assert crop.stored and crop.etag.startswith('"')


def test_any_stored_object_is_reachable_by_slash_name(service: Any) -> None:
    crop = service.crop("http://images.openfoodfacts.org/images/products/uploads/photo.png", Box(0, 0, 1, 1))
    assert decode(crop.jpeg).size == (400, 300)


def test_repeat_crops_of_one_photo_decode_it_once(service: Any) -> None:
    for box in (Box(0, 0, 0.5, 0.5), Box(0.5, 0.5, 1, 1), Box(0.2, 0.2, 0.4, 0.9)):
        service.crop(f"{OFF}/324/227/210/2359/4.jpg", box)
    assert service.images.reads == 1 and service.cache.hits == 2


def test_etags_differ_by_box_and_repeat_for_the_same_crop(service: Any) -> None:
    url = f"{OFF}/324/227/210/2359/4.jpg"
    a, b = service.crop(url, Box(0, 0, 0.5, 0.5)), service.crop(url, Box(0, 0, 0.5, 0.6))
    assert a.etag != b.etag and service.crop(url, Box(0, 0, 0.5, 0.5)).etag == a.etag


def test_an_unknown_image_is_not_found_when_fetching_is_off(service: Any) -> None:
    with pytest.raises(NotFoundError):
        service.crop(f"{OFF}/999/999/999/9999/1.jpg", Box(0, 0, 1, 1))


def test_other_hosts_go_through_the_fetch_guard(service: Any) -> None:
    service.fetch_remote = True
    with pytest.raises(FetchRefused):
        service.crop("https://127.0.0.1/images/products/uploads/photo.png", Box(0, 0, 1, 1))


def test_robotoffs_rounding_and_a_one_pixel_minimum() -> None:
    image = Image.new("RGB", (10, 10))
    box = Box(0.14, 0.15, 0.56, 0.64)
    # Robotoff hands Pillow the float corners; Pillow rounds them (x 1.5 -> 2 .. 6.4 -> 6, y 1.4 -> 1 .. 5.6 -> 6)
    assert crop_rounded(image, box).size == image.crop((1.5, 1.4, 6.4, 5.6)).size == (4, 5)
    assert crop_rounded(image, Box(0.5, 0.5, 0.51, 0.51)).size == (1, 1)
    assert crop_rounded(image, Box(0.99, 0.99, 1.0, 1.0)).size == (1, 1)


def test_the_cache_evicts_the_least_recently_used() -> None:
    cache = DecodedImageCache(max_bytes=3 * 10 * 10 * 2)  # room for two 10x10 RGB images
    loads: list[str] = []

    def loader(key: str) -> Any:
        return lambda: loads.append(key) or Image.new("RGB", (10, 10))

    for key in ("a", "b", "a", "c", "a", "b"):
        cache.get_or_load(key, loader(key))
    assert loads == ["a", "b", "c", "b"]


@pytest.fixture
def kept(service: Any) -> Any:
    """The service with room for two kept crops of the size the tests cut (a few hundred bytes)."""
    service.jpegs = SizedCache[bytes](2 * len(service.render(service.source(STORED), BOXES[0])) + 100, len)
    return service


STORED = f"{OFF}/324/227/210/2359/4.jpg"
BOXES = (Box(0, 0, 0.1, 0.1), Box(0.5, 0.5, 0.6, 0.6), Box(0.2, 0.3, 0.3, 0.4))


def test_a_kept_crop_is_the_same_jpeg_and_costs_no_decode(kept: Any) -> None:
    first = kept.crop(STORED, BOXES[0])
    kept.cache = DecodedImageCache(10_000_000)  # a decode now would show as a miss here
    again = kept.crop(STORED, BOXES[0])
    assert again.jpeg == first.jpeg and again.etag == first.etag
    assert kept.cache.misses == 0 and kept.jpegs.hits == 1


def test_kept_crops_are_bounded_least_recently_used_out(kept: Any) -> None:
    for box in (*BOXES, BOXES[0]):
        kept.crop(STORED, box)
    assert len(kept.jpegs) == 2 and kept.jpegs.hits == 0  # the first box had left when asked again
    kept.crop(STORED, BOXES[0])
    assert kept.jpegs.hits == 1


def test_a_new_generation_of_the_photo_is_cropped_anew(kept: Any) -> None:
    old = kept.crop(STORED, BOXES[1]).jpeg
    ref = kept.images.put("bucket", "data/324/227/210/2359/4.jpg", flat_photo())
    kept.store.upsert_image(ref, None, "image/png")
    new = kept.crop(STORED, BOXES[1]).jpeg
    assert new != old and decode(new).convert("RGB").getpixel((0, 0)) == (255, 255, 255)


def test_a_deleted_photo_is_not_served_from_the_kept_crops(kept: Any) -> None:
    kept.crop(STORED, BOXES[0])
    record = kept.store.image_by_source_image("/324/227/210/2359/4.jpg")
    kept.store.mark_image(record.id, "deleted")
    with pytest.raises(NotFoundError):  # fetching is off: no stored image has the URL any more
        kept.crop(STORED, BOXES[0])


def test_crops_of_fetched_photos_are_not_kept(service: Any) -> None:
    service.jpegs = SizedCache[bytes](10**6, len)
    source = Source("url:https://example.org/a.jpg", lambda: Image.new("RGB", (10, 10)), False)
    assert service.render(source, BOXES[0]) == service.render(source, BOXES[0]) and len(service.jpegs) == 0


def flat_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (255, 255, 255)).save(out, "PNG")
    return out.getvalue()
