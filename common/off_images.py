"""Open Food Facts image identity: barcode, image id and ``source_image`` from an object name.

Open Food Facts keeps a product's raw photos at ``/{barcode split}/{image_id}.jpg`` under
``https://images.openfoodfacts.org/images/products`` (and in the public ``openfoodfacts-images``
bucket under ``data/``). A digits-only barcode of 9 or more digits is split as
``^(...)(...)(...)(.*)$`` (``3242272102359`` → ``324/227/210/2359``); a shorter one is one folder.
Robotoff stores ``barcode`` (``"3242272102359"``), ``image_id`` (``"4"``) and ``source_image``
(``"/324/227/210/2359/4.jpg"``) for each image.

``image_identity(name, prefix)`` gives exactly those for an object whose name, after the optional
``prefix`` (``LOGO_ANN_OFF_IMAGE_PREFIX``, for example ``data/``), follows that layout, split
canonically. Any other object gets ``source_image = "/" + name`` and no barcode or image id, so
``https://images.openfoodfacts.org/images/products{source_image}`` names every stored image.
"""

from __future__ import annotations

import dataclasses
import re

SPLIT = re.compile(r"^(...)(...)(...)(.*)$")
RAW_IMAGE = re.compile(r"^((?:\d+/)+)(\d+)\.jpg$")
PRODUCTS_PATH = "/images/products"


@dataclasses.dataclass(frozen=True)
class ImageIdentity:
    barcode: str | None
    image_id: str | None
    source_image: str


def split_barcode(barcode: str) -> list[str]:
    """The folders of a digits-only barcode, as Open Food Facts lays them out."""
    if not barcode.isdigit():
        raise ValueError(f"not a digits-only barcode: {barcode!r}")
    match = SPLIT.fullmatch(barcode)
    return [part for part in match.groups() if part] if match else [barcode]


def source_image_of(barcode: str, image_id: str) -> str:
    """``/324/227/210/2359/4.jpg`` for barcode ``3242272102359`` and image ``4``."""
    return "/" + "/".join([*split_barcode(barcode), f"{image_id}.jpg"])


def image_identity(name: str, prefix: str = "") -> ImageIdentity:
    """The identity Robotoff would store for the object ``name`` (see the module docstring)."""
    plain = ImageIdentity(None, None, "/" + name)
    if prefix and not name.startswith(prefix):
        return plain
    match = RAW_IMAGE.fullmatch(name[len(prefix) :])
    if match is None:
        return plain
    folders = match.group(1).rstrip("/").split("/")
    barcode, image_id = "".join(folders), match.group(2)
    if split_barcode(barcode) != folders or str(int(image_id)) != image_id:
        return plain  # not the canonical split (or "04.jpg"): not a path Open Food Facts makes
    return ImageIdentity(barcode, image_id, source_image_of(barcode, image_id))


def source_image_from_url_path(path: str) -> str | None:
    """``/324/227/210/2359/4.jpg`` from ``/images/products/324/227/210/2359/4.jpg``, else None."""
    if not path.startswith(PRODUCTS_PATH + "/") or len(path) <= len(PRODUCTS_PATH) + 1:
        return None
    return path[len(PRODUCTS_PATH) :]
