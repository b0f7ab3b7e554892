"""At-least-once delivery against the real PostgreSQL and a real Elasticsearch node.

Two ``Container`` instances stand for two function instances: each has its own connection
pool and Elasticsearch client, and they share the database, the index and the bucket folder.
The detector always finds the same two boxes, so every image must end with exactly two logos,
two embeddings and two index documents however often (and however concurrently) its storage
event and crops message arrive.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from common.bootstrap import Container
from common.domain import ObjectRef
from common.errors import DependencyError
from common.messages import CropsMessage
from common.pipeline.detect import delete_object, detect_object
from common.pipeline.embed_index import embed_and_index
from common.ports.metadata_store import DELETED, FAILED, INDEXED, SUPERSEDED
from offline.models.standin_detector import build_constant_detector
from stack.elasticsearch_node import ElasticsearchNode
from tests.es_support import inflight_limit
from tests.fakes import ListQueue
from tests.reliability.backends import cloud_container, database_url  # noqa: F401
from tests.reliability.conftest import Record
from tests.reliability.corpus import photo

pytestmark = pytest.mark.integration
BUCKET = "uploads"
REPEATS = 5


def two_box_detector(path: Path) -> Path:
    raw = np.zeros((1, 5, 8), dtype=np.float32)
    raw[0, :, 0] = [160, 160, 200, 200, 0.9]
    raw[0, :, 1] = [480, 480, 200, 200, 0.8]
    return build_constant_detector(path, raw, 640)


@pytest.fixture
def instances(
    tmp_path: Path,
    database_url: str,  # noqa: F811
    es_node: ElasticsearchNode,
    es_alias: str,
) -> Iterator[list[Container]]:
    detector = two_box_detector(tmp_path / "models" / "two-boxes.onnx")
    built = []
    for _ in range(2):
        # messages kept, to be delivered by the test
        container = cloud_container(
            tmp_path, database_url, es_node.url, es_alias, detector=detector, queue=ListQueue(), max_attempts=3
        )
        built.append(container)
    yield built
    for container in built:
        container.store.close()


def upload(container: Container, name: str, colour: tuple[int, int, int] = (200, 30, 30)) -> ObjectRef:
    image = photo(160, 160)
    image.paste(colour, (100, 100, 150, 150))
    out = io.BytesIO()
    image.save(out, "PNG")
    return container.images.put(BUCKET, name, out.getvalue())


def counts(container: Container, name: str) -> dict[str, Any]:
    images = container.store.find_images(BUCKET, name)
    logos = [lg for im in images for lg in container.store.logos_of_image(im.id)]
    index = container.fresh_index()
    index.flush()
    return {
        "images": len(images),
        "logos": len(logos),
        "embeddings": container.store.embedding_count(),
        "documents": index.count(),
        "ids_match": index.ids() == {lg.id for lg in logos},
    }


EXACTLY_ONE = {"images": 1, "logos": 2, "embeddings": 2, "documents": 2, "ids_match": True}


def concurrently(calls: list[Callable[[], Any]]) -> None:
    barrier = threading.Barrier(len(calls))

    def go(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        for future in [pool.submit(go, c) for c in calls]:
            future.result()


def messages(instances: list[Container]) -> list[CropsMessage]:
    return [m for c in instances for m in c.queue.messages]


def test_repeated_event_and_message_sequentially(instances: list[Container], record: Record) -> None:
    a, b = instances
    ref = upload(a, "seq.png")
    for i in range(REPEATS):
        detect_object(ref, None, None, instances[i % 2].detect_deps())
    published = messages(instances)
    for i in range(REPEATS):
        embed_and_index(published[0], instances[i % 2].embed_deps())
    found = counts(a, "seq.png")
    record(
        "delivery",
        "storage event ×5 then crops message ×5, alternating two instances",
        f"{found['images']} image, {found['logos']} logos, {found['embeddings']} embeddings, "
        f"{found['documents']} index documents",
    )
    assert found == EXACTLY_ONE
    assert len(published) >= 1 and all(m == published[0] for m in published)


def test_repeated_event_and_message_concurrently(instances: list[Container], record: Record) -> None:
    ref = upload(instances[0], "conc.png")
    concurrently(
        [lambda c=c: detect_object(ref, None, None, c.detect_deps()) for c in instances for _ in range(REPEATS)]
    )
    published = messages(instances)
    assert published
    concurrently([lambda c=c: embed_and_index(published[0], c.embed_deps()) for c in instances for _ in range(REPEATS)])
    found = counts(instances[0], "conc.png")
    record(
        "delivery",
        "storage event ×5 and crops message ×5 on each of two instances at once (20 threads)",
        f"{found['images']} image, {found['logos']} logos, {found['embeddings']} embeddings, "
        f"{found['documents']} index documents",
    )
    assert found == EXACTLY_ONE


def deliver(container: Container, ref: ObjectRef) -> int:
    result = detect_object(ref, None, None, container.detect_deps())
    for message in container.queue.messages:
        embed_and_index(message, container.embed_deps())
    container.queue.messages.clear()
    return result.image_id


def test_new_generation_replaces_and_late_old_generation_changes_nothing(
    instances: list[Container], record: Record
) -> None:
    a, _ = instances
    old_ref = upload(a, "gen.png", (10, 200, 10))
    old = deliver(a, old_ref)
    old_logos = {lg.id for lg in a.store.logos_of_image(old)}
    new_ref = upload(a, "gen.png", (10, 10, 200))
    new = deliver(a, new_ref)
    new_logos = {lg.id for lg in a.store.logos_of_image(new)}
    deliver(a, old_ref)  # the older generation's event arrives late, again
    index = a.fresh_index()
    index.flush()
    record(
        "delivery",
        "new generation of an object, then the old generation's event late",
        f"old image {a.store.get_image(old).status}, new {a.store.get_image(new).status}; "
        f"index holds the new logos only: {index.ids() == new_logos}",
    )
    assert a.store.get_image(old).status == SUPERSEDED and a.store.get_image(new).status == INDEXED
    assert a.store.logos_of_image(old) == [] and index.ids() == new_logos and not old_logos & new_logos


def test_deleted_object_leaves_the_index(instances: list[Container], record: Record) -> None:
    a, b = instances
    ref = upload(a, "del.png")
    image_id = deliver(a, ref)
    for _ in range(2):  # the delete event is also delivered twice, by two instances
        delete_object(ref, b.detect_deps())
    index = a.fresh_index()
    index.flush()
    record(
        "delivery",
        "object.deleted (delivered twice)",
        f"image {a.store.get_image(image_id).status}, {index.count()} index documents",
    )
    assert a.store.get_image(image_id).status == DELETED and index.count() == 0
    assert a.store.embedding_count() == 0


def test_message_that_keeps_failing_is_marked_failed_after_max_attempts(
    instances: list[Container],
    es_client: Elasticsearch,
    record: Record,
) -> None:
    a, b = instances
    ref = upload(a, "dead.png")
    detect_object(ref, None, None, a.detect_deps())
    (message,) = a.queue.messages
    for warm in (a, b):  # warm instances: their index clients exist before the outage
        warm.fresh_index().ensure_index()
    raised = 0
    with inflight_limit(es_client, "300b"):  # the node refuses every write (429) for the whole test
        for attempt in range(3):
            try:
                embed_and_index(message, (a, b)[attempt % 2].embed_deps())
            except DependencyError:
                raised += 1
    image = a.store.get_image(message.image_id)
    assert image is not None
    record(
        "delivery",
        "crops message failing on every attempt (index down), max_attempts=3",
        f"raised {raised}× then acknowledged; image {image.status}: {image.error}",
    )
    assert raised == 2  # attempts 1 and 2 ask for a retry; the 3rd gives up and acknowledges
    assert image.status == FAILED and "3 attempts" in (image.error or "") and "429" in (image.error or "")
    # a later redelivery (e.g. from the dead-letter topic) changes nothing: the failure is recorded
    embed_and_index(message, a.embed_deps())
    assert a.store.get_image(message.image_id).status == FAILED  # type: ignore[union-attr]
