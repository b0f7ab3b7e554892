"""Open Food Facts image identity from object names (Robotoff's barcode, image_id, source_image)."""

from __future__ import annotations

import pytest

from common.off_images import (
    ImageIdentity,
    image_identity,
    source_image_from_url_path,
    source_image_of,
    split_barcode,
)


def test_barcodes_split_as_open_food_facts_does() -> None:
    assert split_barcode("3242272102359") == ["324", "227", "210", "2359"]
    assert split_barcode("123456789") == ["123", "456", "789"]
    assert split_barcode("12345678") == ["12345678"]  # EAN-8: one folder
    with pytest.raises(ValueError):
        split_barcode("abc123")


def test_source_image_of_the_reference_example() -> None:
    assert source_image_of("3242272102359", "4") == "/324/227/210/2359/4.jpg"


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        ("324/227/210/2359/4.jpg", "", ImageIdentity("3242272102359", "4", "/324/227/210/2359/4.jpg")),
        ("data/324/227/210/2359/12.jpg", "data/", ImageIdentity("3242272102359", "12", "/324/227/210/2359/12.jpg")),
        ("12345678/1.jpg", "", ImageIdentity("12345678", "1", "/12345678/1.jpg")),
        ("123/456/789/3.jpg", "", ImageIdentity("123456789", "3", "/123/456/789/3.jpg")),
    ],
)
def test_names_in_the_layout_get_robotoffs_identity(name: str, prefix: str, expected: ImageIdentity) -> None:
    assert image_identity(name, prefix) == expected


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("photo-1.png", ""),
        ("data/324/227/210/2359/4.jpg", ""),  # the prefix is not configured: "data" is no barcode folder
        ("324/227/210/2359/4.jpg", "data/"),  # outside the configured prefix
        ("3242272102359/4.jpg", ""),  # a long barcode in one folder is not the canonical split
        ("32/42/272102359/4.jpg", ""),
        ("324/227/210/2359/4.400.jpg", ""),  # a thumbnail, not a raw image
        ("324/227/210/2359/front_fr.4.full.jpg", ""),
        ("324/227/210/2359/04.jpg", ""),
        ("324/227/210/2359/4.png", ""),
    ],
)
def test_other_names_get_slash_name_and_no_barcode(name: str, prefix: str) -> None:
    assert image_identity(name, prefix) == ImageIdentity(None, None, "/" + name)


def test_url_paths_of_product_images() -> None:
    assert source_image_from_url_path("/images/products/324/227/210/2359/4.jpg") == "/324/227/210/2359/4.jpg"
    assert source_image_from_url_path("/images/products/photo-1.png") == "/photo-1.png"
    assert source_image_from_url_path("/images/products/") is None
    assert source_image_from_url_path("/images/other/4.jpg") is None
