"""The use cases end to end over fakes (and the real SQLite store): idempotency, retries, generations."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.adapters.sqlite_store import SqliteStore
from common.domain import Box, Detection, ObjectRef
from common.errors import DependencyError
from common.pipeline.detect import DetectDeps, delete_object, detect_object
from common.pipeline.embed_index import EmbedDeps, embed_and_index
from common.pipeline.neighbours import NeighbourLists
from common.ports.metadata_store import DELETED, FAILED, INDEXED, SUPERSEDED
from tests.fakes import BruteForceIndex, CannedDetector, ColourEmbedder, DictImageStore, ListQueue

BOXES = [Box(0.1, 0.1, 0.4, 0.4), Box(0.5, 0.5, 0.9, 0.9)]


def jpeg(colour_a: tuple[int, int, int], colour_b: tuple[int, int, int], size: int = 200) -> bytes:
    image = Image.new("RGB", (size, size), (255, 255, 255))
    image.paste(colour_a, (20, 20, 80, 80))
    image.paste(colour_b, (100, 100, 180, 180))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class World:
    def __init__(self, tmp: Path, max_attempts: int = 3) -> None:
        self.store = SqliteStore(tmp / "meta.sqlite3")
        self.images = DictImageStore()
        self.detector = CannedDetector([Detection(b, 0.9, "object") for b in BOXES])
        self.queue = ListQueue()
        self.index = BruteForceIndex()
        self.embedder = ColourEmbedder()
        self.detect = DetectDeps(
            self.store, self.images, self.detector, self.queue, self.index, 10_000_000, 10_000_000, max_attempts
        )
        self.embed = EmbedDeps(
            self.store,
            self.images,
            self.embedder,
            self.index,
            NeighbourLists(self.store, self.index, k=3, candidates=10),
            10_000_000,
            10_000_000,
            max_attempts,
        )

    def upload(self, name: str, data: bytes) -> ObjectRef:
        return self.images.put("b", name, data)

    def process(self, ref: ObjectRef) -> int:
        result = detect_object(ref, None, None, self.detect)
        for message in self.queue.messages:
            embed_and_index(message, self.embed)
        self.queue.messages.clear()
        return result.image_id


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_an_upload_is_detected_embedded_indexed_and_gets_neighbours(world: World) -> None:
    first = world.process(world.upload("a.png", jpeg((255, 0, 0), (0, 0, 255))))
    second = world.process(world.upload("b.png", jpeg((250, 5, 0), (0, 200, 0))))
    assert world.store.get_image(first).status == INDEXED
    logos = world.store.logos_of_image(first) + world.store.logos_of_image(second)
    assert len(logos) == 4 and world.index.count() == 4
    red_a, blue_a = world.store.logos_of_image(first)
    red_b, _ = world.store.logos_of_image(second)
    lists = world.store.get_neighbours([red_a.id, red_b.id])
    # red is nearest to red in both directions: the older list was updated by the newer logo
    assert lists[red_b.id]["logo_ids"][0] == red_a.id
    assert lists[red_a.id]["logo_ids"][0] == red_b.id
    vectors = world.store.get_embeddings([red_a.id, red_b.id])
    expected = (1 - float(np.dot(vectors[red_a.id], vectors[red_b.id]))) / 2
    assert lists[red_b.id]["distances"][0] == pytest.approx(expected, abs=1e-6)


def test_repeated_event_and_message_change_nothing(world: World) -> None:
    ref = world.upload("a.png", jpeg((255, 0, 0), (0, 0, 255)))
    first = detect_object(ref, None, None, world.detect)
    message = world.queue.messages[0]
    for _ in range(5):
        embed_and_index(message, world.embed)
    for _ in range(5):
        again = detect_object(ref, None, None, world.detect)
        assert again.image_id == first.image_id
    assert world.detector.calls == 1 and world.embedder.calls == 1
    assert len(world.store.logos_of_image(first.image_id)) == 2
    assert world.store.embedding_count() == 2 and world.index.count() == 2


def test_corrupt_image_is_recorded_failed_with_a_reason(world: World) -> None:
    ref = world.upload("bad.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    result = detect_object(ref, None, None, world.detect)
    assert result.status == FAILED and result.error
    assert world.queue.messages == [] and world.detector.calls == 0


def test_transient_failure_raises_until_attempts_are_used_up(world: World) -> None:
    ref = world.upload("a.png", jpeg((255, 0, 0), (0, 0, 255)))
    world.images.down = True
    for _ in range(2):
        with pytest.raises(DependencyError):
            detect_object(ref, None, None, world.detect)
    result = detect_object(ref, None, None, world.detect)  # third attempt: give up, acknowledge
    assert result.status == FAILED and "3 attempts" in (result.error or "")


def test_embedder_outage_is_retried_then_succeeds(world: World) -> None:
    ref = world.upload("a.png", jpeg((255, 0, 0), (0, 0, 255)))
    detect_object(ref, None, None, world.detect)
    message = world.queue.messages[0]
    world.embedder.down = True
    with pytest.raises(DependencyError):
        embed_and_index(message, world.embed)
    world.embedder.down = False
    assert embed_and_index(message, world.embed).status == INDEXED
    assert world.index.count() == 2


def test_new_generation_replaces_old_logos_and_late_old_one_changes_nothing(world: World) -> None:
    old = world.upload("p.png", jpeg((255, 0, 0), (0, 0, 255)))
    old_id = world.process(old)
    new = world.upload("p.png", jpeg((0, 255, 0), (0, 0, 0)))
    new_id = world.process(new)
    assert world.store.get_image(old_id).status == SUPERSEDED
    new_logos = {logo.id for logo in world.store.logos_of_image(new_id)}
    assert world.index.ids() == new_logos
    world.process(old)  # the old generation's event arrives again, late
    assert world.index.ids() == new_logos and world.store.get_image(old_id).status == SUPERSEDED


def test_deleted_object_leaves_the_index(world: World) -> None:
    ref = world.upload("p.png", jpeg((255, 0, 0), (0, 0, 255)))
    image_id = world.process(ref)
    removed = delete_object(ref, world.detect)
    assert len(removed) == 2 and world.index.count() == 0
    assert world.store.get_image(image_id).status == DELETED


def test_reverse_update_enters_a_closer_new_logo_into_existing_lists(world: World) -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(6, 8)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    ids = []
    for i in range(6):
        ref = world.upload(f"x{i}.png", jpeg((i * 40, 0, 0), (0, 0, 0)))
        image, _ = world.store.upsert_image(ref, None, None)
        ids.append(world.store.record_detections(image.id, 10, 10, [Detection(BOXES[0], 0.9, "o")], "v")[0].id)
    world.store.save_embeddings(ids[:5], base[:5], "e", "robotoff-v1")
    world.index.upsert(ids[:5], base[:5])
    lists = NeighbourLists(world.store, world.index, k=2, candidates=5)
    lists.update_for_new(ids[:5], base[:5])
    newcomer = base[0] + 0.01 * base[1]  # almost identical to logo 0
    newcomer /= np.linalg.norm(newcomer)
    world.store.save_embeddings([ids[5]], newcomer[None], "e", "robotoff-v1")
    world.index.upsert([ids[5]], newcomer[None])
    lists.update_for_new([ids[5]], newcomer[None])
    stored = world.store.get_neighbours(ids)
    # independent check: brute-force top-2 of every logo over all six vectors
    everything = np.vstack([base[:5], newcomer[None]])
    for row, logo_id in enumerate(ids):
        sims = everything @ everything[row]
        sims[row] = -np.inf
        expected = [ids[j] for j in np.argsort(-sims)[:2]]
        assert stored[logo_id]["logo_ids"] == expected, f"logo {logo_id}"


def test_opaque_generation_tokens_are_ordered_by_what_storage_holds(world: World) -> None:
    """S3-compatible stores give ETag-derived tokens, not numbers: the current object is newest."""
    old = ObjectRef("b", "p.png", "e-old")
    world.images.objects[("b", "p.png")] = ("e-old", jpeg((255, 0, 0), (0, 0, 255)))
    old_id = world.process(old)
    world.images.objects[("b", "p.png")] = ("e-new", jpeg((0, 255, 0), (0, 0, 0)))
    new_id = world.process(ObjectRef("b", "p.png", "e-new"))
    assert world.store.get_image(old_id).status == SUPERSEDED
    new_logos = {logo.id for logo in world.store.logos_of_image(new_id)}
    assert world.index.ids() == new_logos
    world.process(old)  # the old token's event, late: storage holds "e-new", so it changes nothing
    assert world.index.ids() == new_logos and world.store.get_image(new_id).status == INDEXED
