"""Image look-ups by Open Food Facts identity (``source_image``), and images by id in one query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import Database
from common.adapters.sql.records import IMAGE_COLUMNS, image_from_row
from common.ports.metadata_store import FAILED
from common.records.logos import ImageRecord


class OffImageQueries:
    """Mixed into ``SqlStore``; implements ``common.ports.off_image_store.OffImageStore``."""

    db: Database

    def image_by_source_image(self, source_image: str) -> ImageRecord | None:
        """The image stored at ``source_image``: not deleted, not failed, newest generation first."""
        sql = (
            f"SELECT {IMAGE_COLUMNS} FROM image WHERE source_image = ? AND deleted = 0 AND status <> ?"
            " ORDER BY length(generation) DESC, generation DESC, id DESC LIMIT 1"
        )
        rows: list[tuple[Any, ...]] = self.db.run(
            lambda tx: tx.rows(sql, str(source_image), FAILED), write=False, one_statement=True
        )
        return image_from_row(rows[0], self.db) if rows else None

    def get_images(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]:
        """The images with these ids (unknown ids left out), in one query."""
        wanted = list(dict.fromkeys(int(i) for i in image_ids))
        sql = f"SELECT {IMAGE_COLUMNS} FROM image WHERE id IN {{ids}}"
        rows: list[tuple[Any, ...]] = self.db.run(lambda tx: tx.rows_in(sql, wanted), write=False)
        records = (image_from_row(row, self.db) for row in rows)
        return {record.id: record for record in records}
