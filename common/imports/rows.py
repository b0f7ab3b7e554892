"""Robotoff's logos as an import reads them, one row at a time, and the checks of one row.

``SourceLogo`` is one ``logo_annotation`` with its image and embedding beside it, as a source
that reads row by row (the ``export-logos`` JSONL) gives it; ``common.imports.batch`` holds the
batch a source yields and the check of a whole batch at once. No I/O here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

from common.domain import Box

EMBEDDING_DIM = 512
EMBEDDING_BYTES = 4 * EMBEDDING_DIM  # raw little-endian float32, as Robotoff stores them
ROBOTOFF_EMBEDDER = "robotoff:clip-vit-base-patch32"
ROBOTOFF_RECIPE = "robotoff-v1"


# Not frozen: an import builds these per row, and a frozen dataclass's ``__init__`` (one
# ``object.__setattr__`` a field) costs 3.5x a plain one: 9.5 against 2.7 µs for ``SourceLogo``.
@dataclasses.dataclass(slots=True)
class SourceLogo:
    """One Robotoff ``logo_annotation`` row, its image and its embedding (if any)."""

    logo_id: int
    position: int  # where the source resumes after this row (logo id, or JSONL line number)
    source_image: str  # "/324/227/210/2359/4.jpg"
    index: int
    bounding_box: Any
    score: Any
    image_id: int | None = None  # Robotoff's image.id (absent from a JSONL export)
    barcode: str | None = None
    off_image_id: str | None = None  # Robotoff's image.image_id ("4")
    uploaded_at: dt.datetime | None = None
    width: int | None = None
    height: int | None = None
    deleted: bool = False
    server_type: str = "off"
    label: str = "object"
    detector_version: str = "robotoff:universal_logo_detector"
    annotation_type: str | None = None
    annotation_value: str | None = None
    annotation_value_tag: str | None = None
    taxonomy_value: str | None = None
    username: str | None = None
    completed_at: dt.datetime | None = None
    nearest_neighbors: Any = None
    text: str | None = None
    embedding: bytes | memoryview | None = None
    embedding_error: str | None = None  # the source's embedding was refused unread (its size, say)
    error: str | None = None  # the source could not read this row (e.g. a malformed JSONL line)


@dataclasses.dataclass(slots=True)
class ImageRow:
    key: str  # the object name in the bucket
    robotoff_id: int | None
    barcode: str | None
    off_image_id: str | None
    source_image: str
    uploaded_at: dt.datetime | None
    width: int | None
    height: int | None
    deleted: bool
    server_type: str
    detector_version: str


def object_name(source_image: str, prefix: str) -> str:
    """The object's name in the bucket: ``prefix`` + the path without its leading slash."""
    return prefix + source_image.lstrip("/")


def off_image_id(source_image: str) -> str | None:
    """Robotoff's image id ("4") read back from ``/324/227/210/2359/4.jpg``."""
    stem = source_image.rsplit("/", 1)[-1].split(".", 1)[0]
    return stem or None


def embedding_size_error(size: int) -> str:
    return f"embedding is {size} bytes, expected {EMBEDDING_BYTES} ({EMBEDDING_DIM} float32)"


def check_box(values: Any) -> tuple[Box | None, str | None]:
    """Robotoff's ``[y_min, x_min, y_max, x_max]``, clipped to [0, 1]; a reason when unusable."""
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        return None, f"bounding box must be 4 numbers, got {str(values)[:80]}"
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None, f"bounding box must be 4 numbers, got {str(values)[:80]}"
    if not all(math.isfinite(v) for v in numbers):
        return None, f"bounding box has non-finite values: {numbers}"
    y0, x0, y1, x1 = (min(1.0, max(0.0, v)) for v in numbers)
    if y1 <= y0 or x1 <= x0:
        return None, f"bounding box is empty once clipped to the image: {numbers}"
    return Box(y0, x0, y1, x1), None


def check_score(value: Any) -> tuple[float | None, str | None]:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None, f"score is not a number: {str(value)[:40]}"
    if not math.isfinite(score):
        return None, f"score is not finite: {score}"
    return score, None
