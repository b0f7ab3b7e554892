"""Robotoff's ``export-logos`` file (``.jsonl`` or ``.jsonl.gz``) as an import source.

Robotoff writes one JSON object per logo with ``id, index, bounding_box, score, annotation_type,
annotation_value, annotation_value_tag, taxonomy_value, username, source_image, barcode``. Keys
a richer export may add are taken too: ``completed_at``, ``nearest_neighbors``, ``text``,
``server_type``, ``image_id`` (Robotoff's image id, "4"), ``width``, ``height``, ``deleted``,
``uploaded_at`` and ``embedding`` (base64 of the 2,048 raw bytes). The file is read as a stream;
the resume point is the line number, since an export need not be in id order. A line that is
not a usable logo is reported with its line number (as a negative id) and its reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from common.errors import InvalidEventError
from common.imports.batch import SourceBatch
from common.imports.rows import SourceLogo


class RobotoffJsonl:
    """``ImportSource`` reading an ``export-logos`` file."""

    kind = "robotoff-jsonl"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InvalidEventError(f"{self.path} is not a file")
        self.name = f"jsonl:{self.path.resolve()}:{_fingerprint(self.path)}"

    def count_after(self, after: int) -> int:
        with self._open() as lines:
            return max(0, sum(1 for _ in lines) - int(after))

    def rows(self, after: int, batch_size: int) -> Iterator[SourceBatch]:
        batch: list[SourceLogo] = []
        with self._open() as lines:
            for number, line in enumerate(lines, start=1):
                if number <= after:
                    continue
                batch.append(_parse(line, number))
                if len(batch) >= batch_size:
                    yield SourceBatch.of(batch)
                    batch = []
        if batch:
            yield SourceBatch.of(batch)

    def _open(self) -> IO[str]:
        if self.path.suffix == ".gz":
            return gzip.open(self.path, "rt", encoding="utf-8")
        return self.path.open("r", encoding="utf-8")


def _fingerprint(path: Path) -> str:
    """Size and the hash of the first MiB: a different file is a different source."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    return f"{path.stat().st_size}-{hashlib.sha256(head).hexdigest()[:16]}"


def _parse(line: str, number: int) -> SourceLogo:
    """A logo, or a placeholder row without image that ``prepare`` records as failed."""
    try:
        item = json.loads(line)
        if not isinstance(item, dict):
            raise ValueError("not a JSON object")
        logo_id = item["id"]
        if isinstance(logo_id, bool) or not isinstance(logo_id, int) or logo_id < 1:
            raise ValueError(f"id must be a positive integer, got {logo_id!r}")
        return _logo(item, number)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return SourceLogo(logo_id=-number, position=number, source_image="", index=0, bounding_box=None,
                          score=None, error=f"line {number}: {exc}")  # fmt: skip


def _logo(item: dict[str, Any], number: int) -> SourceLogo:
    embedding = item.get("embedding")
    return SourceLogo(
        logo_id=int(item["id"]),
        position=number,
        source_image=str(item.get("source_image") or ""),
        index=int(item.get("index") or 0),
        bounding_box=item.get("bounding_box"),
        score=item.get("score"),
        barcode=item.get("barcode"),
        off_image_id=None if item.get("image_id") is None else str(item["image_id"]),
        uploaded_at=_time(item.get("uploaded_at")),
        width=item.get("width"),
        height=item.get("height"),
        deleted=bool(item.get("deleted", False)),
        server_type=str(item.get("server_type") or "off"),
        annotation_type=item.get("annotation_type"),
        annotation_value=item.get("annotation_value"),
        annotation_value_tag=item.get("annotation_value_tag"),
        taxonomy_value=item.get("taxonomy_value"),
        username=item.get("username"),
        completed_at=_time(item.get("completed_at")),
        nearest_neighbors=item.get("nearest_neighbors"),
        text=item.get("text"),
        embedding=None if embedding is None else base64.b64decode(embedding, validate=True),
    )


def _time(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
