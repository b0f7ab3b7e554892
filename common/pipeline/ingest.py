"""Ingest local files: each goes through the upload use case (``common.pipeline.intake``).

Names are content-addressed (``<sha256 prefix>/<file name>``), so ingesting the same file
again reuses the stored object and changes nothing. A transient failure (a dependency down)
is recorded against the file, and against its image by the use case, and the next file goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.errors import TransientError
from common.pipeline.intake import Intake, object_name
from common.ports.metadata_store import MetadataStore

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp"}
FAILED = "failed"

__all__ = ["FAILED", "IMAGE_SUFFIXES", "ingest_file", "iter_files", "object_name"]


def iter_files(paths: list[str]) -> Iterator[Path]:
    """Files named, and the image files under folders named (sorted, recursive)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, _, files in sorted(os.walk(path)):
                for name in sorted(files):
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        yield Path(root) / name
        else:
            yield path


def ingest_file(path: Path, intake: Intake, store: MetadataStore) -> dict[str, Any]:
    """Process one file; returns the CLI's JSON line for it.

    ``status`` is "failed" when it failed, with ``retry: true`` when the failure was transient
    (ingesting the file again can succeed).
    """
    record: dict[str, Any] = {"path": str(path), "image_id": None, "status": FAILED, "error": None, "logos": []}
    try:
        data = path.read_bytes()
    except OSError as exc:
        record["error"] = f"cannot read file: {exc.strerror or exc}"
        return record
    try:
        done = intake.submit(data, path.name, None)
    except TransientError as exc:
        logger.warning("%s: %s (counted against its image; ingest it again or run reconcile --requeue)", path, exc)
        record.update(error=f"temporarily unavailable: {exc}", retry=True)
        record["image_id"] = _image_id(store, intake.bucket, data, path)
        return record
    if done.result is None:  # the platform runs the pipeline on stored objects
        record.update(status="stored", image=done.stored.ref.name)
        return record
    result = done.result
    record.update(image_id=result.image_id, status=result.status, error=result.error)
    record["logos"] = [
        {"logo_id": logo.id, "bounding_box": logo.box.as_list(), "score": logo.score, "label": logo.label}
        for logo in result.logos
    ]
    return record


def _image_id(store: MetadataStore, bucket: str, data: bytes, path: Path) -> int | None:
    """The image row of a file whose processing failed, when detect got as far as creating it."""
    try:
        found = store.find_images(bucket, object_name(data, path.name))
    except TransientError:
        return None
    return found[0].id if found else None
