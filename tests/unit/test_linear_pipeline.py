"""The embedded pipeline is linear, and a cloud upload through ``search`` only stores the object.

Embedded: detect returns, then each crops message it queued is delivered once, so a transient
embed failure is counted once and ``logo-ann ingest`` goes on with the next file. Cloud
(``LOGO_ANN_PIPELINE=platform``): the platform's events run detect and embed_index, so the
upload routes store the object and answer 202 with its reference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import pytest

import common.bootstrap as bootstrap
from common.adapters.sqlite_store import SqliteStore
from common.api import create_app
from common.bootstrap import Container
from common.cli import commands as cli
from common.domain import Detection
from common.errors import DependencyError
from common.ports.metadata_store import DETECTED, INDEXED
from common.settings import load_settings
from tests.api_support import BOXES, CountingIndex, two_squares
from tests.fakes import CannedDetector, ColourEmbedder, DictImageStore

COLOURS = [((255, 0, 0), (0, 0, 255)), ((0, 255, 0), (255, 255, 0)), ((0, 0, 0), (255, 0, 255))]


class FlakyEmbedder(ColourEmbedder):
    """The colour embedder, unreachable on the calls numbered in ``failing`` (1-based)."""

    def __init__(self, failing: set[int]) -> None:
        super().__init__()
        self.failing = failing
        self.attempts = 0

    def embed(self, crops: Sequence[PIL.Image.Image]) -> np.ndarray:
        self.attempts += 1
        if self.attempts in self.failing:
            raise DependencyError("triton", "unreachable")
        return super().embed(crops)


def container_over(tmp_path: Path, embedder: ColourEmbedder, environ: dict[str, str] | None = None) -> Container:
    """The embedded default (in-process queue) over fakes; ``environ`` as the process environment."""
    settings = load_settings(environ or {}, home=tmp_path, detector_model="unused", embedder_model="unused")
    return Container(
        settings,
        store=SqliteStore(tmp_path / "meta.sqlite3"),
        images=DictImageStore(),
        detector=CannedDetector([Detection(box, 0.9, "logo") for box in BOXES]),
        embedder=embedder,
        index=CountingIndex(),
    )


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for i, pair in enumerate(COLOURS):
        path = folder / f"p{i}.png"
        path.write_bytes(two_squares(*pair))
        paths.append(path)
    return paths


def run_cli(container: Container, *args: str) -> int:
    previous = bootstrap.set_container(container)
    try:
        return cli.main(list(args))
    finally:
        bootstrap.set_container(previous)


def test_a_transient_embed_failure_is_counted_once(tmp_path: Path, photos: list[Path]) -> None:
    container = container_over(tmp_path, FlakyEmbedder(failing={1}))
    code = run_cli(container, "ingest", "--json", str(photos[0]))
    image = container.store.get_image(1)
    assert image is not None
    assert image.attempts == 1 and image.status == DETECTED and "unreachable" in (image.error or "")
    assert code != 0


def test_ingest_goes_on_after_a_transient_failure_and_names_it(
    tmp_path: Path, photos: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    embedder = FlakyEmbedder(failing={2})  # the second file's embedding
    container = container_over(tmp_path, embedder)
    code = run_cli(container, "ingest", "--json", *map(str, photos))
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in photos]
    assert [r["status"] for r in records] == [INDEXED, "failed", INDEXED]
    assert "unreachable" in records[1]["error"]
    assert code != 0 and str(photos[1]) in err and str(photos[0]) not in err.split("failed")[-1]
    assert container.store.embedding_count() == 4 and embedder.attempts == 3


def test_embedded_upload_still_runs_the_whole_pipeline(tmp_path: Path) -> None:
    container = container_over(tmp_path, ColourEmbedder())
    client = create_app(container).test_client()
    response = client.post("/api/v1/images", data=two_squares(*COLOURS[0]))
    body = response.get_json()
    assert response.status_code == 201 and body["status"] == INDEXED and len(body["logos"]) == 2
    assert container.store.embedding_count() == 2


PLATFORM = {"LOGO_ANN_PIPELINE": "platform"}


def test_a_cloud_upload_is_stored_and_answered_202(tmp_path: Path) -> None:
    container = container_over(tmp_path, ColourEmbedder(), PLATFORM)
    client = create_app(container).test_client()
    photo = two_squares(*COLOURS[0])
    response = client.post("/api/v1/images", data=photo, content_type="image/png")
    body = response.get_json()
    assert response.status_code == 202, body
    image = body["image"]
    stored = container.images.get(bootstrap_ref(image))
    assert stored == photo and image["bucket"] == container.settings.bucket
    assert container.detector.calls == 0 and container.embedder.calls == 0  # type: ignore[attr-defined]
    assert container.store.find_images(image["bucket"], image["name"]) == []  # detect is the platform's


def test_a_cloud_search_with_store_searches_in_request_and_only_stores(tmp_path: Path) -> None:
    container = container_over(tmp_path, ColourEmbedder(), PLATFORM)
    client = create_app(container).test_client()
    photo = two_squares(*COLOURS[1])
    response = client.post("/api/v1/search/image?store=true&count=3", data=photo)
    body = response.get_json()
    assert response.status_code == 202, body
    assert body["count"] == 2 and len(body["logos"]) == 2  # the search itself ran in the request
    assert container.images.get(bootstrap_ref(body["stored"]["image"])) == photo
    assert container.detector.calls == 1 and container.embedder.calls == 1  # type: ignore[attr-defined]
    assert container.store.embedding_count() == 0  # nothing detected or embedded for storage
    plain = client.post("/api/v1/search/image?count=3", data=photo)
    assert plain.status_code == 200 and "stored" not in plain.get_json()


def bootstrap_ref(image: dict[str, Any]) -> Any:
    from common.domain import ObjectRef

    return ObjectRef(image["bucket"], image["name"], image["generation"])
