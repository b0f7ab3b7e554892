"""The search API over fakes: Robotoff-compatible shapes, parameters, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.api import create_app
from common.bootstrap import Container
from common.domain import Box, Detection, StoredObject
from common.settings import load_settings
from tests.fakes import BruteForceIndex, CannedDetector, ColourEmbedder, DictImageStore
from tests.unit.test_pipeline import jpeg


def fake_container(tmp_path: Path, **overrides: Any) -> Container:
    from common.adapters.sqlite_store import SqliteStore

    return Container(
        load_settings({}, home=tmp_path, **overrides),
        store=SqliteStore(tmp_path / "meta.sqlite3"),
        images=DictImageStore(),
        detector=CannedDetector(
            [Detection(Box(0.1, 0.1, 0.4, 0.4), 0.9, "object"), Detection(Box(0.5, 0.5, 0.9, 0.9), 0.8, "object")]
        ),
        embedder=ColourEmbedder(),
        index=BruteForceIndex(),
    )


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Any, Container]:
    container = fake_container(tmp_path)
    colours = [((255, 0, 0), (0, 0, 255)), ((250, 10, 0), (0, 255, 0)), ((0, 0, 250), (255, 255, 0))]
    for i, (a, b) in enumerate(colours):
        ref = container.images.put("uploads", f"p{i}.png", jpeg(a, b))
        container.detect(StoredObject(ref))
    return create_app(container).test_client(), container


def test_search_by_logo_matches_brute_force(loaded: tuple[Any, Container]) -> None:
    client, container = loaded
    response = client.get("/api/v1/ann/search/1?count=3")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["results", "count", "query_logo_id"]
    assert body["query_logo_id"] == 1 and body["count"] == 3
    vectors = container.store.get_embeddings(list(range(1, 7)))
    expected = sorted(((1 - float(np.dot(vectors[1], v))) / 2, i) for i, v in vectors.items() if i != 1)[:3]
    assert [r["logo_id"] for r in body["results"]] == [i for _, i in expected]
    assert [r["distance"] for r in body["results"]] == pytest.approx([d for d, _ in expected], abs=1e-6)


def test_random_search_and_empty_index(loaded: tuple[Any, Container], tmp_path: Path) -> None:
    client, _ = loaded
    body = client.get("/api/v1/ann/search?count=2").get_json()
    assert body["query_logo_id"] in range(1, 7) and body["count"] == 2
    assert body["query_logo_id"] not in [r["logo_id"] for r in body["results"]]
    empty = create_app(fake_container(tmp_path / "empty")).test_client()
    assert empty.get("/api/v1/ann/search").get_json() == {"results": [], "count": 0, "query_logo_id": None}


@pytest.mark.parametrize("query", ["count=0", "count=501", "count=abc", "count=1.5"])
def test_bad_count_is_a_json_400(loaded: tuple[Any, Container], query: str) -> None:
    client, _ = loaded
    response = client.get(f"/api/v1/ann/search/1?{query}")
    assert response.status_code == 400 and "count" in response.get_json()["error"]


def test_unknown_logo_is_a_json_404(loaded: tuple[Any, Container]) -> None:
    client, _ = loaded
    for path in ("/api/v1/ann/search/999", "/api/v1/logos/999", "/api/v1/logos/999/crop"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "999" in response.get_json()["error"]
    assert client.get("/api/v1/ann/search/abc").status_code == 400


def test_logo_details_and_crop(loaded: tuple[Any, Container]) -> None:
    client, _ = loaded
    details = client.get("/api/v1/logos/1").get_json()
    assert details["bounding_box"] == pytest.approx([0.1, 0.1, 0.4, 0.4])
    assert details["image"]["width"] == 200 and details["image"]["source_image"] == "p0.png"
    assert len(details["nearest_neighbors"]["logo_ids"]) == len(details["nearest_neighbors"]["distances"])
    crop = client.get("/api/v1/logos/1/crop")
    assert crop.status_code == 200 and crop.mimetype == "image/jpeg"
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(crop.data))
    assert image.size == (60, 60)  # int(0.1*200)..int(0.4*200)
    r, g, b = image.convert("RGB").getpixel((30, 30))
    assert r > 200 and g < 60 and b < 60  # the red square


def test_health_reports_each_dependency(loaded: tuple[Any, Container]) -> None:
    client, _ = loaded
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and set(body["checks"]) >= {"metadata_store", "ann_index"}


def test_upload_requires_the_token_when_one_is_set(tmp_path: Path) -> None:
    container = fake_container(tmp_path, api_token="s3cret")
    client = create_app(container).test_client()
    data = jpeg((255, 0, 0), (0, 0, 255))
    assert client.post("/api/v1/images", data=data).status_code == 401
    response = client.post("/api/v1/images?name=x.png", data=data, headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 201 and len(response.get_json()["logos"]) == 2


def server_timing(header: str) -> dict[str, float]:
    """``name;dur=ms, ...`` → {name: ms}."""
    stages = {}
    for part in header.split(","):
        name, _, duration = part.strip().partition(";dur=")
        stages[name] = float(duration)
    return stages


def test_search_reports_its_stages_in_server_timing(loaded: tuple[Any, Container]) -> None:
    client, _ = loaded
    response = client.get("/api/v1/ann/search/1?count=3")
    stages = server_timing(response.headers["Server-Timing"])
    assert set(stages) == {"vector", "knn", "app"}
    assert 0 <= stages["vector"] and 0 < stages["knn"] and stages["vector"] + stages["knn"] <= stages["app"]
    assert response.headers["Timing-Allow-Origin"] == "*"
    by_vector = client.post("/api/v1/search/embedding", json={"embedding": [1.0] + [0.0] * 7, "count": 2})
    assert by_vector.status_code == 200
    assert set(server_timing(by_vector.headers["Server-Timing"])) == {"knn", "app"}
    missing = client.get("/api/v1/ann/search/999")
    assert missing.status_code == 404 and set(server_timing(missing.headers["Server-Timing"])) == {"vector", "app"}
