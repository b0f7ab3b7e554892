"""Ingest local files: put each into the image store, then run the detect use case on it.

Names are content-addressed (``<sha256 prefix>/<file name>``), so ingesting the same file
again reuses the stored object and changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.pipeline.detect import detect_object

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp"}


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


def object_name(path: Path, data: bytes) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)[-100:] or "image"
    return f"{hashlib.sha256(data).hexdigest()[:20]}/{safe}"


def ingest_file(path: Path, container: Any) -> dict[str, Any]:
    """Process one file; returns the CLI's JSON line for it."""
    record: dict[str, Any] = {"path": str(path), "image_id": None, "status": "failed", "error": None, "logos": []}
    try:
        data = path.read_bytes()
    except OSError as exc:
        record["error"] = f"cannot read file: {exc.strerror or exc}"
        return record
    images = container.images
    bucket = container.settings.bucket
    name = object_name(path, data)
    ref = images.stat(bucket, name) or images.put(bucket, name, data, "application/octet-stream")
    result = detect_object(ref, len(data), None, container.detect_deps())
    record.update(image_id=result.image_id, status=result.status, error=result.error)
    record["logos"] = [
        {"logo_id": logo.id, "bounding_box": logo.box.as_list(), "score": logo.score, "label": logo.label}
        for logo in result.logos
    ]
    return record
