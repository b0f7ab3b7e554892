"""Images by their Open Food Facts identity: what Robotoff's clients (crops by URL) need."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from common.records.logos import ImageRecord


class OffImageStore(Protocol):
    def image_by_source_image(self, source_image: str) -> ImageRecord | None:
        """The live image whose ``source_image`` is this path (``/324/227/210/2359/4.jpg``), if any."""
        ...

    def get_images(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]:
        """Images by id, in one round trip; unknown ids are left out."""
        ...
