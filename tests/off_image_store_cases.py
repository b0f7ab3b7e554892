"""Store cases for the Open Food Facts image identity (run on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from common.domain import ObjectRef
from common.ports.metadata_store import DELETED, FAILED


def identity_is_filled_when_the_row_is_created(store: Any) -> None:
    off, _ = store.upsert_image(ObjectRef("b", "data/324/227/210/2359/4.jpg", "1"), 10, "image/jpeg")
    other, _ = store.upsert_image(ObjectRef("b", "uploads/photo.png", "1"), 10, "image/png")
    assert (off.barcode, off.off_image_id, off.source_image) == ("3242272102359", "4", "/324/227/210/2359/4.jpg")
    assert (other.barcode, other.off_image_id, other.source_image) == (None, None, "/uploads/photo.png")
    assert (off.deleted, off.server_type) == (False, "off")
    assert off.uploaded_at == off.created_at
    assert store.get_image(off.id) == off


def lookup_by_source_image_skips_deleted_and_failed(store: Any) -> None:
    name = "data/324/227/210/2359/4.jpg"
    old, _ = store.upsert_image(ObjectRef("b", name, "1"), 10, "image/jpeg")
    new, _ = store.upsert_image(ObjectRef("b", name, "2"), 10, "image/jpeg")
    assert store.image_by_source_image("/324/227/210/2359/4.jpg").id == new.id
    store.mark_image(new.id, DELETED)
    assert store.get_image(new.id).deleted is True
    assert store.image_by_source_image("/324/227/210/2359/4.jpg").id == old.id
    store.mark_image(old.id, FAILED, "corrupt")
    assert store.image_by_source_image("/324/227/210/2359/4.jpg") is None
    assert store.image_by_source_image("/nothing.jpg") is None


def images_by_id_in_one_call(store: Any) -> None:
    a, _ = store.upsert_image(ObjectRef("b", "a.jpg", "1"), None, None)
    b, _ = store.upsert_image(ObjectRef("b", "b.jpg", "1"), None, None)
    found = store.get_images([b.id, a.id, 99_999, a.id])
    assert found == {a.id: a, b.id: b}
