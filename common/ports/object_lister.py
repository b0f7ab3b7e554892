"""Listing the objects already in a bucket (for a backfill), in name order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from common.records.logos import ListedObject


class ObjectLister(Protocol):
    def list_objects(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ListedObject]:
        """Objects whose name starts with ``prefix`` and sorts after ``start_after``, by name.
        ``DependencyError`` when storage cannot be reached."""
        ...
