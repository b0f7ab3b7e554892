"""The crop benchmark's harness on a tiny run: a real server, stored photos found by their
Open Food Facts URLs, records with the keys the summary reads."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bench import crop
from common.adapters.local_image_store import LocalImageStore
from common.adapters.sqlite_store import SqliteStore
from offline.models.standin_detector import build_blob_detector
from offline.models.standin_embedder import build_vision_embedder


def test_photos_are_about_one_megapixel_jpegs() -> None:
    import io

    image = Image.open(io.BytesIO(crop.photo(0)))
    assert image.format == "JPEG" and 0.95e6 <= image.width * image.height <= 1.05e6


def test_a_tiny_run_measures_both_cases(tmp_path: Path) -> None:
    models = {"detector": tmp_path / "detector.onnx", "embedder": tmp_path / "embedder.onnx"}
    build_blob_detector(models["detector"])
    build_vision_embedder(models["embedder"], dim=16, seed=1)
    records = crop.run(tmp_path / "work", models, photos=4, per_photo=3)
    by_case = {record["case"]: record for record in records}
    assert by_case["first crop of a photo (read + decode)"]["requests"] == 2  # two photos warm the server up
    assert by_case["further crops (decoded photo kept)"]["requests"] == 4
    assert all(record["p50_ms"] > 0 and record["benchmark"] == "crop" for record in records)


def test_stored_photos_get_their_off_identity(tmp_path: Path) -> None:
    urls = crop.prepare_home(tmp_path, 2)
    store = SqliteStore(tmp_path / "logo-ann.sqlite3")
    try:
        found = store.image_by_source_image(urls[1].removeprefix("https://images.openfoodfacts.org/images/products"))
        assert found is not None and found.barcode == "3000000000001"
        assert LocalImageStore(tmp_path / "buckets").get(found.ref)[:2] == b"\xff\xd8"
    finally:
        store.close()
