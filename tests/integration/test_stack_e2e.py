"""End to end on the cloud-shaped stack: photos go in with boto3, neighbours come out of ``search``.

The whole stack of ``make stack`` runs for this module (free ports, a random database): SeaweedFS,
its filer webhook → the storage bridge → ``detect`` (functions-framework) → Pub/Sub emulator push
→ ``embed_index`` → Elasticsearch node and PostgreSQL, models on a real Triton. The test only
uploads files with boto3 and reads the ``search`` function over HTTP; what the detector should
find is computed independently, in this process, with onnxruntime on the same model files.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from common.bootstrap import Container
from common.inference.images import decode_image
from common.settings import load_settings
from offline.samples import write_samples
from stack.core import Stack, running_stack
from stack.waiting import WaitTimeout, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PHOTOS = 7
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_samples(tmp_path_factory.mktemp("photos"), PHOTOS, seed=11)


def expected_logo_counts(stack: Stack, photos: list[Path]) -> dict[str, int]:
    """What the detector finds in each photo, run here with onnxruntime on the stack's model file."""
    settings = load_settings({}, home=stack.root / "oracle", detector_model=stack.env["LOGO_ANN_DETECTOR_MODEL"])
    detector = Container(settings).detector
    counts = {}
    for path in photos:
        pixels = decode_image(path.read_bytes(), max_pixels=settings.max_image_pixels,
                              max_bytes=settings.max_image_bytes)  # fmt: skip
        counts[path.name] = len(detector.detect(pixels))
    return counts


def upload(stack: Stack, photos: list[Path]) -> None:
    s3 = boto3.client("s3", endpoint_url=stack.env["S3_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="e2e", aws_secret_access_key="e2e",
                      config=Config(request_checksum_calculation="when_required"))  # fmt: skip
    for path in photos:
        s3.upload_file(str(path), stack.env["BUCKET"], f"e2e/{path.name}", ExtraArgs={"ContentType": "image/jpeg"})


def get(stack: Stack, path: str) -> Any:
    response = requests.get(stack.env["SEARCH_URL"] + path, timeout=30)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
    return response.json()


def searchable_logos(stack: Stack, total: int) -> set[int]:
    """Every logo the index returns: a random logo and all its neighbours (count covers them all)."""
    body = get(stack, f"/api/v1/ann/search?count={max(total, 1)}")
    if body["query_logo_id"] is None:
        return set()
    return {body["query_logo_id"], *(result["logo_id"] for result in body["results"])}


def wait_for_logos(stack: Stack, total: int) -> set[int]:
    found: set[int] = set()

    def all_found() -> bool:
        nonlocal found
        found = searchable_logos(stack, total)
        return len(found) >= total

    def report() -> str:
        names = ("bridge.log", "detect.log", "embed_index.log")
        paths = [p for p in sorted(stack.root.glob("logs/*.log")) if p.name in names]
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in paths)
        return f"{len(found)} of {total} logos searchable\n{logs}"

    wait_until(all_found, DEADLINE_S, interval=0.5, message=report)
    return found


def wait_for_indexed_details(stack: Stack, logo_ids: set[int]) -> Any:
    """Each logo's own record (``/api/v1/logos/{id}``: embedding flag, image status and name)."""
    details: dict[str, Any] = {}

    def all_indexed() -> bool:
        nonlocal details
        logos = [get(stack, f"/api/v1/logos/{logo_id}") for logo_id in sorted(logo_ids)]
        details = {"logos": logos, "count": len(logos)}
        return all(logo["has_embedding"] and logo["image"]["status"] == "indexed" for logo in logos)

    with contextlib.suppress(WaitTimeout):  # the caller's assertions say what is missing
        wait_until(all_indexed, 30, interval=0.5)
    return details


def test_uploaded_photos_become_searchable_logos(stack: Stack, photos: list[Path]) -> None:
    expected = expected_logo_counts(stack, photos)
    total = sum(expected.values())
    assert total >= PHOTOS, f"the sample photos should show logos to the detector: {expected}"
    upload(stack, photos)
    logo_ids = wait_for_logos(stack, total)
    assert len(logo_ids) == total

    # a second route: the logos' own records say which photo each came from. A logo is searchable
    # as soon as it is indexed; its image is marked "indexed" a moment later, after the neighbour
    # lists are stored, so wait for that too.
    details = wait_for_indexed_details(stack, logo_ids)
    assert details["count"] == total
    per_photo = Counter(logo["image"]["source_image"] for logo in details["logos"])
    assert per_photo == Counter({f"e2e/{name}": count for name, count in expected.items() if count})
    assert all(logo["has_embedding"] and logo["image"]["status"] == "indexed" for logo in details["logos"])

    for logo_id in sorted(logo_ids):
        body = get(stack, f"/api/v1/ann/search/{logo_id}?count={total}")
        distances = [result["distance"] for result in body["results"]]
        neighbours = [result["logo_id"] for result in body["results"]]
        assert body["query_logo_id"] == logo_id
        assert logo_id not in neighbours and len(set(neighbours)) == len(neighbours) == total - 1
        assert set(neighbours) | {logo_id} == logo_ids
        assert distances == sorted(distances) and all(0.0 <= d <= 1.0 for d in distances)


def test_a_logo_record_carries_its_stored_neighbours(stack: Stack, photos: list[Path]) -> None:
    logo_ids = searchable_logos(stack, 500)
    if not logo_ids:
        pytest.skip("needs the photos uploaded by the previous test")
    logo = get(stack, f"/api/v1/logos/{min(logo_ids)}")
    stored = logo["nearest_neighbors"]
    assert stored is not None and stored["logo_ids"]
    assert set(stored["logo_ids"]) <= logo_ids and min(logo_ids) not in stored["logo_ids"]
    assert stored["distances"] == sorted(stored["distances"])


def test_an_upload_through_search_is_left_to_the_platform(stack: Stack, tmp_path: Path) -> None:
    before = searchable_logos(stack, 500)
    photo = write_samples(tmp_path, 1, seed=23)[0]
    expected = expected_logo_counts(stack, [photo])[photo.name]
    assert expected >= 1
    response = requests.post(stack.env["SEARCH_URL"] + "/api/v1/images", data=photo.read_bytes(),
                             headers={"Content-Type": "image/jpeg"}, timeout=30)  # fmt: skip
    body = response.json()
    assert response.status_code == 202, body
    assert body["status"] == "stored" and body["image"]["bucket"] == stack.env["BUCKET"]
    name = body["image"]["name"]
    assert "image_id" not in body  # search detected nothing: the storage event runs detect
    found = wait_for_logos(stack, len(before) + expected)
    details = wait_for_indexed_details(stack, found - before)
    assert [logo["image"]["source_image"] for logo in details["logos"]] == [name] * expected
    lines = [json.loads(line) for line in (stack.root / "logs" / "search.log").read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    (upload,) = [line for line in lines if line.get("route") == "/api/v1/images"]
    assert upload["status"] == 202 and upload["method"] == "POST"
    assert not {"decode", "detect", "embed"} & set(upload["stages_ms"])  # no model ran in search
