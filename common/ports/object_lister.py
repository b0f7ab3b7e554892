"""Listing the objects already in a bucket (for a backfill), in name order."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class ListedObject:
    bucket: str
    name: str
    size: int | None
    updated: dt.datetime | None  # last modification, UTC


class ObjectLister(Protocol):
    def list_objects(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ListedObject]:
        """Objects whose name starts with ``prefix`` and sorts after ``start_after``, by name.
        ``DependencyError`` when storage cannot be reached."""
        ...
