"""Records of the metadata store: images, logos, their neighbour lists, the change log."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from common.domain import Box, ObjectRef


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    id: int
    ref: ObjectRef
    size: int | None
    content_type: str | None
    width: int | None
    height: int | None
    status: str
    error: str | None
    detector_version: str | None
    embedder_version: str | None
    attempts: int
    created_at: str
    updated_at: str
    # Open Food Facts identity (``common.off_images``), as Robotoff stores it
    barcode: str | None = None
    off_image_id: str | None = None  # Robotoff's ``image_id``, e.g. "4"
    source_image: str | None = None  # e.g. "/324/227/210/2359/4.jpg"
    uploaded_at: str | None = None
    deleted: bool = False
    server_type: str = "off"


@dataclasses.dataclass(frozen=True)
class LogoRecord:
    id: int
    image_id: int
    box: Box
    score: float
    label: str
    detector_version: str
    annotation_type: str | None
    annotation_value: str | None
    nearest_neighbors: dict[str, Any] | None  # {"logo_ids": [...], "distances": [...], "updated_at": "..."}
    has_embedding: bool
    text: str | None = None
    box_index: int = 0  # Robotoff's ``index``: the box's rank among its image's detections


@dataclasses.dataclass(frozen=True)
class NeighbourList:
    """A logo's stored nearest neighbours, ascending distance."""

    logo_id: int
    logo_ids: tuple[int, ...]
    distances: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class VectorCheck:
    """What ``ChecksVectors.check_vectors`` found: every stored vector read back."""

    checked: int  # embedding rows read
    unreadable: list[int]  # logo ids whose vector is missing or corrupt: re-embed or re-import them
    files: list[dict[str, Any]]  # per vector file: records, live rows, holes, dead fraction

    def as_dict(self, shown: int = 1000) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "unreadable": len(self.unreadable),
            "unreadable_logo_ids": self.unreadable[:shown],
            "files": self.files,
        }


@dataclasses.dataclass(frozen=True)
class Change:
    """One entry of the embedding change log, used to catch a derived index up."""

    seq: int
    logo_id: int
    op: str  # "upsert" or "delete"


@dataclasses.dataclass(frozen=True)
class ListedObject:
    bucket: str
    name: str
    size: int | None
    updated: dt.datetime | None  # last modification, UTC
