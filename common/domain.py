"""Domain types shared by every use case and adapter. Plain data, no I/O."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from common.errors import InvalidEventError


@dataclasses.dataclass(frozen=True)
class ObjectRef:
    """An object in storage; ``(bucket, name, generation)`` is the idempotency key."""

    bucket: str
    name: str
    generation: str = "0"


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """A request to process an object that is in storage: what the detect use case starts from.

    Built from a storage event (``entrypoints.storage_ref``), an upload (``pipeline.intake``)
    or a backfill; ``size`` and ``content_type`` are what storage reported, when it did.
    """

    ref: ObjectRef
    size: int | None = None
    content_type: str | None = None


@dataclasses.dataclass(frozen=True)
class Box:
    """A relative box ``[y_min, x_min, y_max, x_max]`` in [0, 1] (Robotoff's convention)."""

    y_min: float
    x_min: float
    y_max: float
    x_max: float

    def as_list(self) -> list[float]:
        return [self.y_min, self.x_min, self.y_max, self.x_max]

    @classmethod
    def from_list(cls, values: Any) -> Box:
        if not isinstance(values, (list, tuple)) or len(values) != 4:
            raise InvalidEventError(f"bounding box must be 4 numbers, got {values!r}")
        try:
            y0, x0, y1, x1 = (float(v) for v in values)
        except (TypeError, ValueError) as exc:
            raise InvalidEventError(f"bounding box must be 4 numbers, got {values!r}") from exc
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (y0, x0, y1, x1)):
            raise InvalidEventError(f"bounding box values must lie in [0, 1], got {values!r}")
        if y1 <= y0 or x1 <= x0:
            raise InvalidEventError(f"bounding box is empty: {values!r}")
        return cls(y0, x0, y1, x1)


@dataclasses.dataclass(frozen=True)
class Detection:
    """One logo found by the detector."""

    box: Box
    score: float
    label: str


@dataclasses.dataclass(frozen=True)
class Neighbour:
    logo_id: int
    distance: float


def cosine_to_distance(cosine: float) -> float:
    """Robotoff's distance ``(1 - cos) / 2`` in [0, 1]; 0 means identical."""
    return min(1.0, max(0.0, (1.0 - cosine) / 2.0))
