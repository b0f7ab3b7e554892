"""Bad and unusual uploads through the real embedded pipeline.

Each generated file goes through production code only: the local-folder store, ``detect_object``
with a real ONNX detector (fixed output: one box over the whole image), the in-process queue,
the stand-in CLIP embedder, SQLite and the usearch index. Every case must end acknowledged
(no exception, no attempt counted), either indexed with the size a person expects, or failed
with a short reason that names the problem.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.bootstrap import Container
from common.domain import ObjectRef, StoredObject
from common.inference.images import crop_truncated, decode_image
from common.ports.metadata_store import FAILED, INDEXED
from tests.reliability.conftest import Record
from tests.reliability.corpus import CASES, Case, photo
from tests.reliability.embedded import constant_detector, embedded_container, index_matches_store

BUCKET = "uploads"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    container = embedded_container(tmp_path_factory.mktemp("bad-input"), max_image_bytes=2_000_000)
    yield container
    container.store.close()


def run(container: Container, ref: ObjectRef, size: int | None) -> tuple[str, str | None, int, int]:
    """Detect (and, through the in-process queue, embed); returns status, error, logos, attempts."""
    result = container.detect(StoredObject(ref, size))
    image = container.store.get_image(result.image_id)
    assert image is not None
    return image.status, image.error, len(container.store.logos_of_image(image.id)), image.attempts


def readable(reason: str | None) -> bool:
    return bool(reason) and len(reason or "") < 400 and "Traceback" not in (reason or "")


def outcome(status: str, error: str | None, logos: int) -> str:
    return f"{status}: {error}" if error else f"{status}, {logos} logo(s)"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_kind_is_indexed_or_failed_with_a_reason(pipeline: Container, case: Case, record: Record) -> None:
    data = case.build()
    ref = pipeline.images.put(BUCKET, f"corpus/{case.name}", data)
    status, error, logos, attempts = run(pipeline, ref, len(data))
    record("bad input", case.name, outcome(status, error, logos))
    assert attempts == 0  # acknowledged at once: nothing for the platform to retry
    if case.size is None:
        assert status == FAILED and readable(error)
        assert any(word.lower() in (error or "").lower() for word in case.reason), error
        assert logos == 0
    else:
        assert status == INDEXED, error
        image = pipeline.store.find_images(BUCKET, ref.name)[0]
        assert (image.width, image.height) == case.size
        assert logos == 1  # the detector's one box survives on any shape, even 1×1
    in_index, stored = index_matches_store(pipeline)
    assert in_index == stored


def test_corpus_has_at_least_25_kinds() -> None:
    assert len({c.name for c in CASES}) >= 25


def test_file_over_the_byte_limit_fails_from_the_event_size(pipeline: Container, record: Record) -> None:
    data = photo().tobytes() * 100  # 3.2 MB of raw pixels: not even read
    ref = pipeline.images.put(BUCKET, "huge.raw.jpg", data)
    status, error, _, attempts = run(pipeline, ref, len(data))
    record("bad input", "file over the byte limit (3.2 MB, limit 2 MB)", outcome(status, error, 0))
    assert status == FAILED and attempts == 0 and "limit" in (error or "")


def test_object_deleted_before_detect_reads_it(pipeline: Container, record: Record) -> None:
    ref = pipeline.images.put(BUCKET, "gone.jpg", CASES[11].build())
    pipeline.images.delete(ref)
    status, error, _, attempts = run(pipeline, ref, 100)
    record("bad input", "object deleted before detect reads it", outcome(status, error, 0))
    assert status == FAILED and attempts == 0 and "gone" in (error or "")


def test_object_replaced_before_detect_reads_it(pipeline: Container, record: Record) -> None:
    old = pipeline.images.put(BUCKET, "replaced.jpg", CASES[11].build())
    new = pipeline.images.put(BUCKET, "replaced.jpg", CASES[13].build())
    assert new.generation != old.generation
    status, error, _, _ = run(pipeline, old, 100)
    record("bad input", "older generation read after the object was replaced", outcome(status, error, 0))
    assert status == FAILED and "gone" in (error or "")


NAMES = {
    "spaces": "with  some spaces/a photo .jpg",
    "unicode": "café/ロゴ 🍫 ünïcødé.png",
    "long (250 chars)": "n" * 246 + ".png",
    "long path (1000 chars, many folders)": "/".join(["d" * 99] * 9) + "/" + "x" * 99 + ".png",
}


@pytest.mark.parametrize("label", NAMES)
def test_unusual_names_are_stored_inside_the_bucket(pipeline: Container, label: str, record: Record) -> None:
    name = NAMES[label]
    ref = pipeline.images.put(BUCKET, name, CASES[12].build())
    status, error, logos, _ = run(pipeline, ref, None)
    record("bad input", f"object name with {label}", outcome(status, error, logos))
    assert status == INDEXED and logos == 1
    path = pipeline.settings.local_bucket_dir / BUCKET / name
    assert path.is_file() and pipeline.settings.local_bucket_dir.resolve() in path.resolve().parents


def test_name_segment_longer_than_the_filesystem_allows(pipeline: Container, record: Record) -> None:
    ref = ObjectRef(BUCKET, "y" * 300 + ".png", "1")  # valid in GCS (1024 bytes), too long for a file
    status, error, _, attempts = run(pipeline, ref, 100)
    record("bad input", "object name segment of 304 bytes (event)", outcome(status, error, 0))
    assert status == FAILED and attempts == 0 and readable(error)


ESCAPES = ("../outside.png", "a/../../outside.png", "/etc/passwd", "a/./../../outside.png", "nul\x00byte.png")


@pytest.mark.parametrize("name", ESCAPES, ids=["dotdot", "nested-dotdot", "absolute", "dot-dotdot", "nul"])
def test_names_escaping_the_bucket_are_refused(pipeline: Container, name: str, record: Record) -> None:
    root = pipeline.settings.local_bucket_dir
    root.mkdir(parents=True, exist_ok=True)
    outside = root / "outside.png"
    outside.write_bytes(CASES[12].build())  # a real image waiting outside the bucket folder
    before = sorted(p for p in root.parent.rglob("*") if p.is_file())
    status, error, logos, attempts = run(pipeline, ObjectRef(BUCKET, name, "0"), None)
    record("bad input", f"object name {name!r} from an event", outcome(status, error, logos))
    assert status == FAILED and attempts == 0 and logos == 0 and readable(error)
    with pytest.raises(Exception, match="name"):
        pipeline.images.put(BUCKET, name, b"x")
    after = sorted(p for p in root.parent.rglob("*") if p.is_file())
    assert after == before  # nothing written anywhere


# --- EXIF orientation: the box must land on the rotated pixels -------------------------------
# A 200×200 photo is stored with a red block in its stored top-left corner and an EXIF
# orientation tag. Displayed (rotated), the block sits in a corner a person can work out:
# 3 = turn 180° (bottom-right), 6 = turn 90° clockwise (top-right), 8 = 90° anticlockwise
# (bottom-left). The detector's fixed box covers that displayed corner.
SIDE = 200
BLOCK = 80
CORNERS = {3: (1, 1), 6: (1, 0), 8: (0, 1)}  # orientation -> (right?, bottom?) of the red block


def rotated_photo(orientation: int) -> bytes:
    image = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    image.paste((230, 0, 0), (0, 0, BLOCK, BLOCK))
    image.paste((0, 0, 230), (SIDE - BLOCK, 0, SIDE, BLOCK))  # blue in the stored top-right
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize("orientation", sorted(CORNERS))
def test_exif_rotated_boxes_land_on_the_rotated_pixels(tmp_path: Path, orientation: int, record: Record) -> None:
    right, bottom = CORNERS[orientation]
    scale = 640 / SIDE  # square image: the letterbox only scales
    centre = lambda far: (SIDE - BLOCK / 2 if far else BLOCK / 2) * scale  # noqa: E731
    box = (centre(right), centre(bottom), BLOCK * 0.6 * scale, BLOCK * 0.6 * scale)
    container = embedded_container(tmp_path, detector=constant_detector(tmp_path / "det.onnx", box))
    data = rotated_photo(orientation)
    ref = container.images.put(BUCKET, f"rotated-{orientation}.jpg", data)
    status, error, logos, _ = run(container, ref, len(data))
    (logo,) = container.store.logos_of_image(container.store.find_images(BUCKET, ref.name)[0].id)
    crop = np.asarray(crop_truncated(decode_image(data, 10**8, 10**8), logo.box), dtype=np.float64)
    mean = crop.reshape(-1, 3).mean(axis=0)
    record(
        "bad input",
        f"EXIF orientation {orientation}: crop of the stored box",
        f"{status}; crop mean RGB {tuple(int(v) for v in mean)} (red expected)",
    )
    assert status == INDEXED and logos == 1
    assert mean[0] > 200 and mean[1] < 40 and mean[2] < 40
    container.store.close()
