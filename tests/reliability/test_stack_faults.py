"""Faults on the cloud-shaped stack (``tests/stack.py``): nothing lost, nothing duplicated.

Photos are uploaded with boto3 to SeaweedFS in one run while, in turn, Triton, the Elasticsearch
double, PostgreSQL (the stack's private cluster) and SeaweedFS itself are stopped in the middle
of it and started again on the same ports. Each phase uploads one photo just before the stop,
two while the service is down (the uploads to a stopped SeaweedFS retry until it is back) and
one after it is back. The Elasticsearch double keeps nothing in memory: its restart is an
index lost outright, which the application recreates and ``reconcile`` refills from PostgreSQL.

Once the retries have drained (the storage bridge's, Pub/Sub's redelivery with back-off), images
whose messages were used up (dead-lettered) get their work sent again with ``requeue``, as an
operator would, and ``reconcile`` repairs the index. Then every uploaded photo has exactly one
image row, indexed; each logo the detector finds in it (run here, independently, on the uploaded
bytes) is stored once and embedded once; and the index holds exactly the stored embeddings.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from common.bootstrap import Container
from common.images import decode_image
from common.pipeline.reconcile import reconcile, requeue
from common.samples import draw_product
from common.settings import load_settings
from tests.reliability.conftest import Record
from tests.stack import Stack

pytestmark = pytest.mark.e2e
FAULTS = ("triton", "elasticsearch", "postgres", "seaweedfs")
OUTAGE_S = 4.0  # how long each service stays stopped
QUIET_S = 25.0  # no image moved for this long: the retries are spent, requeue what stalled
DRAIN_S = 150.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.stack import missing_prerequisites, start_stack

    reasons = missing_prerequisites(private_postgres=True)
    if reasons:
        pytest.skip("the cloud-shaped stack cannot start here: " + "; ".join(reasons))
    started = start_stack(
        tmp_path_factory.mktemp("stack"),
        private_postgres=True,
        overrides={
            "LOGO_ANN_MAX_ATTEMPTS": "1000",  # an outage must not use up the attempts: retries drain it
            "LOGO_ANN_ES_TIMEOUT_S": "3",
            "LOGO_ANN_TRITON_TIMEOUT_S": "5",
        },
    )
    try:
        yield started
    finally:
        started.stop()


def picture(i: int) -> bytes:
    image, _ = draw_product(random.Random(1000 + i), 320, 400)
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
            config=Config(connect_timeout=2, read_timeout=4, retries={"max_attempts": 1}),
        )
        self.uploaded: dict[str, bytes] = {}
        self.retried: dict[str, int] = {}
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
            self.uploaded[name], self.retried[name] = data, failures

    def _stored(self, name: str, data: bytes) -> bool:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except Exception:  # noqa: BLE001 - absent, or the store is still down
            return False
        return bool(head.get("ETag", "").strip('"') == hashlib.md5(data).hexdigest())  # noqa: S324 - S3's ETag


def run_phase(stack: Stack, uploader: Uploader, fault: str, first: int) -> float:
    """Upload around an outage of ``fault``; returns how long the service was unavailable."""
    uploader.put(f"faults/{fault}-before-{first}.jpg", picture(first))
    began = time.monotonic()
    stack.stop_process(fault)
    during = [
        threading.Thread(target=uploader.put, args=(f"faults/{fault}-during-{i}.jpg", picture(i)))
        for i in (first + 1, first + 2)
    ]
    for thread in during:
        thread.start()
    time.sleep(OUTAGE_S)
    stack.start_process(fault)
    down = time.monotonic() - began
    for thread in during:
        thread.join(timeout=120)
    uploader.put(f"faults/{fault}-after-{first + 3}.jpg", picture(first + 3))
    return down


def statuses(container: Container, names: list[str]) -> dict[str, tuple[str, ...]]:
    bucket = container.settings.bucket
    return {name: tuple(im.status for im in container.store.find_images(bucket, name)) for name in names}


def settle(container: Container, names: list[str]) -> tuple[dict[str, tuple[str, ...]], int, float]:
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
    return statuses(container, names), requeued, time.monotonic() - began


def expected_logos(stack: Stack, photos: dict[str, bytes]) -> dict[str, int]:
    """What the detector finds in each photo, run here with onnxruntime on the stack's model file."""
    settings = load_settings({}, home=stack.root / "oracle", detector_model=stack.env["LOGO_ANN_DETECTOR_MODEL"])
    detector = Container(settings).detector
    limits = {"max_pixels": settings.max_image_pixels, "max_bytes": settings.max_image_bytes}
    return {name: len(detector.detect(decode_image(data, **limits))) for name, data in photos.items()}


def embedding_ids(container: Container) -> list[int]:
    return [logo_id for ids, _ in container.store.iter_embeddings() for logo_id in ids]


def test_outages_in_the_middle_of_uploads(stack: Stack, monkeypatch: pytest.MonkeyPatch, record: Record) -> None:
    uploader = Uploader(stack.env)
    outages = {fault: run_phase(stack, uploader, fault, 4 * n) for n, fault in enumerate(FAULTS)}
    names = sorted(uploader.uploaded)
    settings = load_settings({k: v for k, v in stack.env.items() if k.startswith("LOGO_ANN_")})
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.env["PUBSUB_EMULATOR_HOST"])  # for requeue's publisher
    container = Container(settings)
    try:
        final, requeued, drained_s = settle(container, names)
        repair = reconcile(container.store, container.fresh_index()).as_dict()
        check = reconcile(container.store, container.fresh_index()).as_dict()
        logos = {n: container.store.logos_of_image(container.store.find_images(settings.bucket, n)[0].id)
                 for n in names if final[n]}  # fmt: skip
        stored = embedding_ids(container)
        in_index = container.fresh_index().ids()
    finally:
        container.store.close()
    wanted = expected_logos(stack, uploader.uploaded)
    mapping = requests.get(f"{stack.env['ES_URL']}/{settings.es_index}/_mapping", timeout=10).json()
    for fault in FAULTS:
        mine = [n for n in names if f"/{fault}-" in n]
        record(
            "faults",
            f"{fault} stopped in the middle of uploads, restarted on the same port",
            f"down {outages[fault]:.0f} s; {len(mine)} uploads around it "
            f"({sum(uploader.retried[n] > 0 for n in mine)} retried by the client); statuses "
            f"{sorted({s for n in mine for s in final[n]})}; every run: drained in {drained_s:.0f} s, "
            f"{requeued} requeued, reconcile added {repair['added']} then in_sync={check['in_sync']}",
        )
    assert len(names) == 4 * len(FAULTS)
    assert final == {n: ("indexed",) for n in names}, final
    assert {n: len(found) for n, found in logos.items()} == wanted
    assert all(logo.has_embedding for found in logos.values() for logo in found)
    all_logos = sorted(logo.id for found in logos.values() for logo in found)
    assert sorted(stored) == all_logos  # each logo embedded once, no orphan embeddings
    assert in_index == set(stored)
    assert check["in_sync"] is True and check["store_embeddings"] == len(all_logos)
    fields = [body["mappings"]["properties"]["embedding"]["type"] for body in mapping.values()]
    assert fields == ["dense_vector"]  # the index came back with its mapping, not auto-created


def test_a_lost_index_is_recreated_on_the_next_write(record: Record) -> None:
    """The alias vanishes (an emptied cluster): the next write recreates it with the mapping."""
    import numpy as np

    from common.adapters.elasticsearch_index import ElasticsearchIndex
    from tests.doubles.elasticsearch import start_double

    server, url = start_double()
    try:
        index = ElasticsearchIndex(url, dim=4, max_retries=0)
        vectors = np.eye(4, dtype=np.float32)
        index.upsert([1, 2], vectors[:2])
        requests.delete(f"{url}/{index.index}", timeout=5).raise_for_status()
        index.upsert([3, 4], vectors[2:])
        index.flush()
        ids = index.ids()
        mapping = requests.get(f"{url}/{index.alias}/_mapping", timeout=5).json()
    finally:
        server.stop()
    kinds = [body["mappings"]["properties"]["embedding"]["type"] for body in mapping.values()]
    record("faults", "Elasticsearch index deleted between two writes", f"next write recreated it: ids {sorted(ids)}, "
           f"mapping {kinds}; the lost documents are reconcile's to restore")  # fmt: skip
    assert ids == {3, 4}
    assert list(mapping) == [index.index] and kinds == ["dense_vector"]
