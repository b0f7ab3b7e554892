"""Faults on the cloud-shaped stack (``stack/core.py``): nothing lost, nothing duplicated.

Photos are uploaded with boto3 to SeaweedFS in one run while, in turn, Triton, the Elasticsearch
node, PostgreSQL (the stack's private cluster) and SeaweedFS itself are stopped in the middle
of it and started again on the same ports. Each phase uploads one photo just before the stop,
two while the service is down (the uploads to a stopped SeaweedFS retry until it is back) and
one after it is back. The Elasticsearch node comes back with its data folder: what it held
before the stop is still there, and nothing has to be put back. An index lost outright (an
emptied cluster) is ``test_a_lost_index_is_recreated_on_the_next_write``.

Notifications SeaweedFS's filer still held in memory when it stopped are lost with it; the
storage bridge's sweep of the bucket sends those (``stack/storage_sweep.py``), as a durable event
source would. Once the retries have drained (the bridge's, Pub/Sub's redelivery with back-off), images
whose messages were used up (dead-lettered) get their work sent again with ``requeue``, as an
operator would, and ``reconcile`` repairs the index. Then every uploaded photo has exactly one
image row, indexed; each logo the detector finds in it (run here, independently, on the uploaded
bytes) is stored once and embedded once; and the index holds exactly the stored embeddings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from common.bootstrap import Container
from common.inference.images import decode_image
from common.pipeline.reconcile import reconcile, requeue
from common.records.logos import LogoRecord
from common.settings import Settings, load_settings
from offline.samples import draw_product
from stack.core import Stack
from stack.elasticsearch_node import ElasticsearchNode
from tests.reliability.conftest import Record

pytestmark = pytest.mark.e2e
FAULTS = ("triton", "elasticsearch", "postgres", "seaweedfs")
OUTAGE_S = 4.0  # how long each service stays stopped
QUIET_S = 25.0  # no image moved for this long: the retries are spent, requeue what stalled
DRAIN_S = 150.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from stack.core import running_stack

    overrides = {
        "LOGO_ANN_MAX_ATTEMPTS": "1000",  # an outage must not use up the attempts: retries drain it
        "LOGO_ANN_ES_TIMEOUT_S": "3",
        "LOGO_ANN_TRITON_TIMEOUT_S": "5",
    }
    with running_stack(tmp_path_factory.mktemp("stack"), private_postgres=True, overrides=overrides) as started:
        yield started


def picture(i: int) -> bytes:
    image, _ = draw_product(random.Random(1000 + i))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class Uploader:
    """Puts photos into the bucket, retrying each until the object store has taken it."""

    def __init__(self, env: dict[str, str]) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = env["LOGO_ANN_BUCKET"]
        self.client = boto3.client(
            "s3",
            endpoint_url=env["LOGO_ANN_S3_ENDPOINT_URL"],
            region_name=env["LOGO_ANN_S3_REGION"],
            aws_access_key_id=env["LOGO_ANN_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=env["LOGO_ANN_S3_SECRET_ACCESS_KEY"],
            # a refused connection (the store is down) fails at once; a put that reached the store waits
            # for its answer, so a slow first write after the restart is not sent twice (a second put of
            # the same bytes is a new generation, which rightly supersedes the first)
            config=Config(connect_timeout=2, read_timeout=60, retries={"max_attempts": 1}),
        )
        self.uploaded: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def put(self, name: str, data: bytes, deadline_s: float = 90.0) -> None:
        give_up, failures = time.monotonic() + deadline_s, 0
        while not (failures and self._stored(name, data)):  # a put whose answer was lost is not repeated
            try:
                self.client.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType="image/jpeg")
                break
            except Exception:  # noqa: BLE001 - the store is down on purpose; try again
                failures += 1
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.5)
        with self.lock:
            self.uploaded[name] = data

    def _stored(self, name: str, data: bytes) -> bool:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except Exception:  # noqa: BLE001 - absent, or the store is still down
            return False
        return bool(head.get("ETag", "").strip('"') == hashlib.md5(data).hexdigest())  # noqa: S324 - S3's ETag


def run_phase(stack: Stack, uploader: Uploader, fault: str, first: int) -> None:
    """Upload one photo, stop ``fault``, upload two, start it again, upload one more."""
    uploader.put(f"faults/{fault}-before-{first}.jpg", picture(first))
    stack.stop_process(fault)
    during = [
        threading.Thread(target=uploader.put, args=(f"faults/{fault}-during-{i}.jpg", picture(i)))
        for i in (first + 1, first + 2)
    ]
    for thread in during:
        thread.start()
    time.sleep(OUTAGE_S)
    stack.start_process(fault)
    for thread in during:
        thread.join(timeout=120)
    uploader.put(f"faults/{fault}-after-{first + 3}.jpg", picture(first + 3))


def statuses(container: Container, names: list[str]) -> dict[str, tuple[str, ...]]:
    bucket = container.settings.bucket
    return {name: tuple(im.status for im in container.store.find_images(bucket, name)) for name in names}


def settle(container: Container, names: list[str]) -> tuple[dict[str, tuple[str, ...]], int]:
    """Wait until every photo is indexed, requeueing stalled images whenever nothing moves."""
    began = time.monotonic()
    last: dict[str, tuple[str, ...]] = {}
    moved, requeued = began, 0
    while time.monotonic() - began < DRAIN_S:
        now = statuses(container, names)
        if all(found == ("indexed",) for found in now.values()):
            break
        if now != last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved > QUIET_S:
            requeued += len(requeue(container.detect_deps(), older_than_s=QUIET_S).requeued)
            moved = time.monotonic()
        time.sleep(1)
    return statuses(container, names), requeued


def expected_logos(stack: Stack, photos: dict[str, bytes]) -> dict[str, int]:
    """What the detector finds in each photo, run here with onnxruntime on the stack's model file."""
    settings = load_settings({}, home=stack.root / "oracle", detector_model=stack.env["LOGO_ANN_DETECTOR_MODEL"])
    detector = Container(settings).detector
    limits = {"max_pixels": settings.max_image_pixels, "max_bytes": settings.max_image_bytes}
    return {name: len(detector.detect(decode_image(data, **limits))) for name, data in photos.items()}


def embedding_ids(container: Container) -> list[int]:
    return [logo_id for ids, _ in container.store.iter_embeddings() for logo_id in ids]


@dataclasses.dataclass
class Outcome:
    """What the store and the index hold once the retries have drained and reconcile has run."""

    final: dict[str, tuple[str, ...]]  # object name -> status of each of its image rows
    requeued: int
    restored: list[int]  # logo ids reconcile had to put back into the index
    check: dict[str, object]  # a second reconcile: nothing left to repair
    logos: dict[str, list[LogoRecord]]
    stored: list[int]  # logo ids with an embedding, as many times as stored
    in_index: set[int]


def stack_settings(stack: Stack) -> Settings:
    return load_settings({k: v for k, v in stack.env.items() if k.startswith("LOGO_ANN_")})


def container_of(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Container:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.env["PUBSUB_EMULATOR_HOST"])  # for requeue's publisher
    return Container(stack_settings(stack))


def indexed_baseline(stack: Stack, uploader: Uploader, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Two photos indexed before any fault (documents the Elasticsearch restart must keep)."""
    for i in (100, 101):
        uploader.put(f"faults/baseline-{i}.jpg", picture(i))
    container = container_of(stack, monkeypatch)
    try:
        final, _ = settle(container, sorted(uploader.uploaded))
        assert set(final.values()) == {("indexed",)}, final
        bucket = container.settings.bucket
        images = [container.store.find_images(bucket, name)[0] for name in final]
        return sorted(logo.id for image in images for logo in container.store.logos_of_image(image.id))
    finally:
        container.store.close()


def observe(stack: Stack, names: list[str], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    container = container_of(stack, monkeypatch)
    try:
        final, requeued = settle(container, names)
        repair = reconcile(container.store, container.fresh_index())
        check = reconcile(container.store, container.fresh_index()).as_dict()
        bucket = container.settings.bucket
        logos = {n: container.store.logos_of_image(container.store.find_images(bucket, n)[0].id)
                 for n in names if final[n]}  # fmt: skip
        return Outcome(final, requeued, repair.added, check, logos, embedding_ids(container),
                       container.fresh_index().ids())  # fmt: skip
    finally:
        container.store.close()


def test_outages_in_the_middle_of_uploads(stack: Stack, monkeypatch: pytest.MonkeyPatch, record: Record) -> None:
    uploader = Uploader(stack.env)
    baseline = indexed_baseline(stack, uploader, monkeypatch)
    for n, fault in enumerate(FAULTS):
        run_phase(stack, uploader, fault, 4 * n)
    names = sorted(uploader.uploaded)
    seen = observe(stack, names, monkeypatch)
    wanted = expected_logos(stack, uploader.uploaded)
    alias = stack_settings(stack).es_index
    mapping = requests.get(f"{stack.env['ES_URL']}/{alias}/_mapping", timeout=10).json()
    for fault in FAULTS:
        mine = [n for n in names if f"/{fault}-" in n]
        good = sum(seen.final[n] == ("indexed",) and len(seen.logos[n]) == wanted[n] for n in mine)
        record("faults", f"{fault} stopped for {OUTAGE_S:.0f} s in the middle of uploads, restarted on "
               "the same port", f"{good} of {len(mine)} photos uploaded around it indexed once, with the logos "
               "the detector finds")  # fmt: skip
    record("faults", "after the four outages: retries drained, stalled images requeued, reconcile run",
           f"index == store: {seen.in_index == set(seen.stored)}; the {len(baseline)} logos indexed before the "
           f"Elasticsearch restart still in the index, none put back by reconcile: "
           f"{set(baseline) <= seen.in_index and not set(baseline) & set(seen.restored)}; a second "
           f"reconcile in sync: {seen.check['in_sync']}")  # fmt: skip
    assert len(names) == 2 + 4 * len(FAULTS)
    assert seen.final == {n: ("indexed",) for n in names}, seen.final
    assert {n: len(found) for n, found in seen.logos.items()} == wanted
    assert all(logo.has_embedding for found in seen.logos.values() for logo in found)
    all_logos = sorted(logo.id for found in seen.logos.values() for logo in found)
    assert sorted(seen.stored) == all_logos  # each logo embedded once, no orphan embeddings
    assert seen.in_index == set(seen.stored)
    assert baseline and set(baseline) <= seen.in_index and not set(baseline) & set(seen.restored)  # kept
    assert seen.check["in_sync"] is True and seen.check["store_embeddings"] == len(all_logos)
    fields = [body["mappings"]["properties"]["embedding"]["type"] for body in mapping.values()]
    assert fields == ["dense_vector"]  # the index came back with its mapping, not auto-created


def test_a_lost_index_is_recreated_on_the_next_write(es_node: ElasticsearchNode, es_alias: str, record: Record) -> None:
    """The alias vanishes (an emptied cluster): the next write recreates it with the mapping."""
    import numpy as np

    from common.adapters.elasticsearch_index import ElasticsearchIndex

    url = es_node.url
    index = ElasticsearchIndex(url, alias=es_alias, dim=4, max_retries=0)
    vectors = np.eye(4, dtype=np.float32)
    index.upsert([1, 2], vectors[:2])
    requests.delete(f"{url}/{index.index}", timeout=5).raise_for_status()
    index.upsert([3, 4], vectors[2:])
    index.flush()
    ids = index.ids()
    mapping = requests.get(f"{url}/{index.alias}/_mapping", timeout=5).json()
    kinds = [body["mappings"]["properties"]["embedding"]["type"] for body in mapping.values()]
    record("faults", "Elasticsearch index deleted between two writes", f"next write recreated it: ids {sorted(ids)}, "
           f"mapping {kinds}; the lost documents are reconcile's to restore")  # fmt: skip
    assert ids == {3, 4}
    assert list(mapping) == [index.index] and kinds == ["dense_vector"]
