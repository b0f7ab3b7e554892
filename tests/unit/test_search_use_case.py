"""The search use case owns its steps: batch search through ``by_logos`` (timed), the dimension
from the index, ranking and filters in ``common.pipeline.search``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.api import create_app
from common.bootstrap import Container
from common.pipeline.search import Filters, RankedCache
from tests.api_support import api_container, ingest

PAIRS = [((255, 0, 0), (0, 0, 255)), ((250, 10, 0), (0, 255, 0)), ((0, 0, 250), (255, 255, 0))]


class NoEmbedder:
    """An embedder that must not be touched (in the cloud, loading it opens a Triton session)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the embedder was used ({name})")


def stages(response: Any) -> dict[str, float]:
    parts = [part.strip().split(";dur=") for part in response.headers["Server-Timing"].split(",")]
    return {name: float(ms) for name, ms in parts}


def loaded(tmp_path: Path) -> Container:
    container = api_container(tmp_path)
    ingest(container, PAIRS)
    return container


def test_batch_search_is_timed_like_the_other_searches(tmp_path: Path) -> None:
    container = loaded(tmp_path)
    before = container.index.searches  # type: ignore[attr-defined]
    response = create_app(container).test_client().post("/api/v1/ann/batch", json={"logo_ids": [1, 3, 99], "count": 2})
    body = response.get_json()
    assert response.status_code == 200 and set(body["results"]) == {"1", "3"} and body["missing"] == [99]
    assert {"vector", "knn", "app"} <= set(stages(response))
    assert container.index.searches - before == 2  # type: ignore[attr-defined]


def test_search_by_embedding_takes_the_dimension_from_the_index(tmp_path: Path) -> None:
    filled = loaded(tmp_path)
    fresh = Container(filled.settings, store=filled.store, index=filled.index, images=filled.images,
                      embedder=NoEmbedder())  # type: ignore[arg-type]  # fmt: skip
    client = create_app(fresh).test_client()
    vector = filled.store.get_embeddings([1])[1]
    response = client.post("/api/v1/search/embedding", json={"embedding": vector.tolist(), "count": 1})
    assert response.status_code == 200 and response.get_json()["results"][0]["logo_id"] == 1  # its own vector
    wrong = client.post("/api/v1/search/embedding", json={"embedding": [1.0, 2.0], "count": 1})
    assert wrong.status_code == 400 and f"{filled.index.dim} dimensions" in wrong.get_json()["error"]


def test_ranking_with_filters_lives_in_the_use_case(tmp_path: Path) -> None:
    container = loaded(tmp_path)
    service = container.search_service()
    cache = RankedCache()
    everyone = service.ranked(cache, 1, service.generation(), Filters(), 5)
    same_label = service.ranked(cache, 1, service.generation(), Filters(label="badge"), 5)
    labels = {logo.id: logo.label for logo in container.store.get_logos([n.logo_id for n in everyone.items])}
    assert [n.logo_id for n in same_label.items] == [n.logo_id for n in everyone.items if labels[n.logo_id] == "badge"]
    assert everyone.exhausted and len(everyone.items) == 5  # six logos, the query excluded
    assert cache.get((1, service.generation(), None, None, None)) is everyone
    distances = [n.distance for n in everyone.items]
    assert distances == sorted(distances) and np.all(np.isfinite(distances))
