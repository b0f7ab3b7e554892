"""``reconcile`` repairs the ANN index from the store, and the store side with ``--requeue``.

Documents are removed, orphans added and a vector corrupted behind the system's back (through a
second index handle, not through the store), then reconcile runs: its report must count
exactly the tampering, and afterwards the index holds exactly the store's ids and vectors.
Embedded: the real ``logo-ann reconcile`` process. Elasticsearch: a real node, through the use case.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.adapters.build import build_index
from common.adapters.elasticsearch_index import ElasticsearchIndex
from common.bootstrap import Container
from common.domain import StoredObject
from common.pipeline.detect import detect_object
from common.pipeline.reconcile import STALE_TOLERANCE, reconcile
from common.ports.metadata_store import DETECTED, INDEXED, PENDING
from stack.elasticsearch_node import ElasticsearchNode
from tests.fakes import ListQueue
from tests.reliability.conftest import Record
from tests.reliability.corpus import photo
from tests.reliability.embedded import embedded_container

BUCKET = "uploads"
CLI = [sys.executable, "-m", "common.cli"]


def picture(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = photo(96, 96)
    image.paste(tuple(int(v) for v in rng.integers(0, 255, 3)), (30, 30, 90, 90))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def ingest(container: Container, count: int, prefix: str = "img") -> None:
    for i in range(count):
        ref = container.images.put(BUCKET, f"{prefix}-{i}.png", picture(i))
        assert container.detect(StoredObject(ref)).status == INDEXED


def store_vectors(container: Container) -> dict[int, np.ndarray]:
    return {i: v for ids, matrix in container.store.iter_embeddings() for i, v in zip(ids, matrix, strict=True)}


def tamper(index: Any, stored: dict[int, np.ndarray]) -> dict[str, list[int]]:
    """Delete two documents, add three orphans, corrupt one vector; returns what was done."""
    ids = sorted(stored)
    rng = np.random.default_rng(0)
    dim = len(next(iter(stored.values())))
    orphans = [900_001, 900_002, 900_003]
    noise = rng.normal(size=(4, dim)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    index.delete(ids[:2])
    index.upsert(orphans, noise[:3])
    index.upsert([ids[2]], noise[3:])
    index.flush()
    return {"deleted": ids[:2], "orphans": orphans, "corrupted": [ids[2]]}


def assert_parity(index: Any, stored: dict[int, np.ndarray]) -> None:
    assert index.ids() == set(stored)
    got = index.get_vectors(sorted(stored))
    worst = max(float(np.max(np.abs(np.asarray(got[i]) - v))) for i, v in stored.items())
    assert worst <= STALE_TOLERANCE


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[Container, dict[str, str]]]:
    container = embedded_container(tmp_path)
    env = dict(
        os.environ,
        LOGO_ANN_HOME=str(tmp_path),
        LOGO_ANN_DETECTOR_MODEL=container.settings.detector_model,
        LOGO_ANN_EMBEDDER_MODEL=container.settings.embedder_model,
    )
    yield container, env
    container.store.close()


def cli_reconcile(env: dict[str, str], *extra: str) -> dict[str, Any]:
    done = subprocess.run([*CLI, "reconcile", *extra], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_embedded_reconcile_repairs_tampering(embedded: tuple[Container, dict[str, str]], record: Record) -> None:
    container, env = embedded
    ingest(container, 8)
    stored = store_vectors(container)
    settled = container.index  # caught up and saved, so the change log has nothing left to replay:
    settled.catch_up(container.store)  # what follows is damage only reconcile can see
    settled.flush()
    behind = build_index(container.settings, settled.dim)
    done = tamper(behind, stored)
    report = cli_reconcile(env)
    again = cli_reconcile(env)
    after = build_index(container.settings, behind.dim)
    record(
        "reconcile",
        "embedded index: 2 documents deleted, 3 orphans added, 1 vector corrupted",
        f"logo-ann reconcile printed added={report['added']} removed={report['removed']} "
        f"refreshed={report['refreshed']}; second run in_sync={again['in_sync']}",
    )
    assert (report["added"], report["removed"], report["refreshed"]) == tuple(
        len(done[k]) for k in ("deleted", "orphans", "corrupted")
    )
    assert report["in_sync"] is False and again["in_sync"] is True
    assert_parity(after, stored)


def test_embedded_requeue_finishes_stalled_images(embedded: tuple[Container, dict[str, str]], record: Record) -> None:
    container, env = embedded
    ingest(container, 3)
    pending_ref = container.images.put(BUCKET, "stalled-pending.png", picture(40))
    pending, _ = container.store.upsert_image(pending_ref, None, None)  # detect died before its work
    # the same store and bucket, with a queue that loses the crops message of the next image
    lossy = Container(container.settings, store=container.store, images=container.images,
                      detector=container.detector, queue=ListQueue())  # fmt: skip
    lost_ref = container.images.put(BUCKET, "lost-message.png", picture(41))
    lost = detect_object(lost_ref, None, None, lossy.detect_deps())
    assert (container.store.get_image(pending.id).status, lost.status) == (PENDING, DETECTED)
    report = cli_reconcile(env, "--requeue", "--older-than", "0")
    statuses = {i: container.store.get_image(i).status for i in (pending.id, lost.image_id)}  # type: ignore[union-attr]
    record(
        "reconcile",
        "store side: one image stuck pending, one detected whose crops message was lost",
        f"logo-ann reconcile --requeue: {report['requeue']}; afterwards {sorted(statuses.values())}",
    )
    assert report["requeue"] == {"requeued": 2, "after": {"indexed": 2}, "errors": 0}
    assert set(statuses.values()) == {INDEXED}
    assert_parity(build_index(container.settings, container.fresh_index().dim), store_vectors(container))


def test_requeue_leaves_recent_images_alone(embedded: tuple[Container, dict[str, str]]) -> None:
    container, env = embedded
    ref = container.images.put(BUCKET, "in-flight.png", picture(50))
    image, _ = container.store.upsert_image(ref, None, None)
    report = cli_reconcile(env, "--requeue", "--older-than", "3600")
    assert report["requeue"]["requeued"] == 0
    assert container.store.get_image(image.id).status == PENDING  # type: ignore[union-attr]


def test_elasticsearch_reconcile_repairs_tampering(
    tmp_path: Path,
    es_node: ElasticsearchNode,
    es_alias: str,
    record: Record,
) -> None:
    container = embedded_container(tmp_path, index="elasticsearch", es_url=es_node.url, es_index=es_alias)
    ingest(container, 8)
    stored = store_vectors(container)
    index = container.fresh_index()
    behind = ElasticsearchIndex(es_node.url, alias=es_alias, dim=index.dim)
    done = tamper(behind, stored)
    report = reconcile(container.store, index).as_dict()
    again = reconcile(container.store, index).as_dict()
    record(
        "reconcile",
        "Elasticsearch index: 2 documents deleted, 3 orphans added, 1 vector corrupted",
        f"reconcile reported added={report['added']} removed={report['removed']} "
        f"refreshed={report['refreshed']}; second run in_sync={again['in_sync']}",
    )
    assert (report["added"], report["removed"], report["refreshed"]) == tuple(
        len(done[k]) for k in ("deleted", "orphans", "corrupted")
    )
    assert again["in_sync"] is True
    assert_parity(behind, stored)
    container.store.close()
