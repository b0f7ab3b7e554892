"""The API beyond Robotoff, over fakes: logo details, batch, search by image and by embedding,
filters, cursor pagination, CORS and JSON errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import common.api
from common.api import create_app
from common.bootstrap import Container
from tests.api_support import BOXES, LABELS, api_container, ingest, two_squares

PAIRS = [
    ((255, 0, 0), (0, 0, 255)),
    ((250, 10, 0), (0, 255, 0)),
    ((0, 0, 250), (255, 255, 0)),
    ((20, 200, 20), (200, 0, 200)),
    ((128, 128, 0), (0, 128, 128)),
    ((240, 120, 0), (90, 90, 90)),
]


@pytest.fixture
def api(tmp_path: Path) -> tuple[Any, Container]:
    container = api_container(tmp_path)
    ingest(container, PAIRS)
    return create_app(container).test_client(), container


def ranked(container: Container, query: np.ndarray, exclude: int | None = None) -> list[tuple[int, float]]:
    """Every stored logo by ascending (1 - cos) / 2, computed here from the stored vectors."""
    vectors = container.store.get_embeddings(range(1, 100))
    scored = [((1.0 - float(np.dot(query, v))) / 2.0, i) for i, v in vectors.items() if i != exclude]
    return [(i, d) for d, i in sorted(scored)]


def ids_of(results: list[dict[str, Any]]) -> list[int]:
    return [r["logo_id"] for r in results]


def test_logo_details_keep_the_order_asked_and_skip_unknown_ids(api: tuple[Any, Container]) -> None:
    client, _ = api
    body = client.get("/api/v1/images/logos?logo_ids=4,1&logo_ids=999&logo_ids=4").get_json()
    assert body["count"] == 2 and [logo["id"] for logo in body["logos"]] == [4, 1]
    second, first = body["logos"]
    assert first["bounding_box"] == pytest.approx(BOXES[0].as_list())
    assert second["bounding_box"] == pytest.approx(BOXES[1].as_list())
    assert first["image"]["source_image"] == "/photo-0.png" and second["image"]["source_image"] == "/photo-1.png"
    assert (first["image"]["width"], first["image"]["height"]) == (200, 200)
    assert {"score", "annotation_type", "annotation_value", "nearest_neighbors"} <= set(first)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", "at least one"),
        ("logo_ids=a", "positive integer"),
        ("logo_ids=0", "positive integer"),
        ("logo_ids=" + ",".join(str(i) for i in range(1, 502)), "at most 500"),
    ],
)
def test_logo_details_reject_bad_ids(api: tuple[Any, Container], query: str, words: str) -> None:
    response = api[0].get(f"/api/v1/images/logos?{query}")
    assert response.status_code == 400 and words in response.get_json()["error"]


def test_batch_search_matches_brute_force_and_lists_missing(api: tuple[Any, Container]) -> None:
    client, container = api
    body = client.post("/api/v1/ann/batch", json={"logo_ids": [3, 1, 77], "count": 4}).get_json()
    assert body["missing"] == [77] and list(body["results"]) == ["3", "1"]
    vectors = container.store.get_embeddings([1, 3])
    for logo_id in (1, 3):
        expected = ranked(container, vectors[logo_id], exclude=logo_id)[:4]
        got = body["results"][str(logo_id)]
        assert ids_of(got) == [i for i, _ in expected]
        assert [r["distance"] for r in got] == pytest.approx([d for _, d in expected], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"logo_ids": 3}', "JSON array"),
        (b'{"logo_ids": []}', "at least one"),
        (b'{"logo_ids": [1], "count": 0}', "count"),
        (b'{"logo_ids": [1.5]}', "positive integer"),
        (b'{"logo_ids": [' + b",".join(b"%d" % i for i in range(1, 201)) + b'], "count": 500}', "at most 50000"),
    ],
)
def test_batch_search_rejects_bad_bodies(api: tuple[Any, Container], body: bytes, words: str) -> None:
    response = api[0].post("/api/v1/ann/batch", data=body, content_type="application/json")
    assert response.status_code == 400 and words in response.get_json()["error"]


def test_search_by_image_finds_each_logo_and_stores_nothing(api: tuple[Any, Container]) -> None:
    client, container = api
    before = (container.store.embedding_count(), len(container.images.objects))
    photo = two_squares(*PAIRS[2])  # the very pixels of photo-2, whose logos are 5 and 6
    for kwargs in ({"data": photo}, {"data": {"file": (__import__("io").BytesIO(photo), "x.png")}}):
        body = client.post("/api/v1/search/image?count=3", **kwargs).get_json()
        assert body["count"] == 2 and "stored" not in body
        assert [logo["bounding_box"] for logo in body["logos"]] == [pytest.approx(b.as_list()) for b in BOXES]
        assert [logo["label"] for logo in body["logos"]] == list(LABELS)
        assert [logo["results"][0]["logo_id"] for logo in body["logos"]] == [5, 6]
        assert body["logos"][0]["results"][0]["distance"] == pytest.approx(0.0, abs=1e-6)
    assert (container.store.embedding_count(), len(container.images.objects)) == before


def test_search_by_image_stores_only_when_asked_with_the_token(tmp_path: Path) -> None:
    container = api_container(tmp_path, api_token="s3cret")
    ingest(container, PAIRS[:2])
    client = create_app(container).test_client()
    photo = two_squares(*PAIRS[3])
    denied = client.post("/api/v1/search/image?store=true", data=photo)
    assert denied.status_code == 401 and "token" in denied.get_json()["error"]
    assert container.store.embedding_count() == 4
    response = client.post(
        "/api/v1/search/image?store=true&count=2", data=photo, headers={"Authorization": "Bearer s3cret"}
    )
    body = response.get_json()
    assert response.status_code == 200 and body["stored"]["error"] is None
    assert len(body["stored"]["logo_ids"]) == 2 and container.store.embedding_count() == 6
    stored = set(body["stored"]["logo_ids"])
    assert all(r["logo_id"] not in stored for logo in body["logos"] for r in logo["results"])


def test_search_by_image_rejects_empty_garbage_and_oversized_bodies(tmp_path: Path) -> None:
    client = create_app(api_container(tmp_path, max_body_bytes=50_000)).test_client()
    empty = client.post("/api/v1/search/image", data=b"")
    assert empty.status_code == 400 and "no image" in empty.get_json()["error"]
    garbage = client.post("/api/v1/search/image", data=b"\x00not an image" * 10)
    assert garbage.status_code == 422 and garbage.get_json()["error"]
    huge = client.post("/api/v1/search/image", data=b"\xff" * 60_000)
    assert huge.status_code == 413 and huge.is_json and huge.get_json()["error"]


def test_search_by_embedding_ranks_like_brute_force(api: tuple[Any, Container]) -> None:
    client, container = api
    query = container.store.get_embeddings([7])[7]
    for scale in (1.0, 1e30, 1e-30):  # only the direction matters, at any magnitude
        body = client.post(
            "/api/v1/search/embedding", json={"embedding": [float(v) * scale for v in query], "count": 5}
        ).get_json()
        expected = ranked(container, query)[:5]
        assert body["count"] == 5 and ids_of(body["results"]) == [i for i, _ in expected]
        assert body["results"][0]["logo_id"] == 7 and body["results"][0]["distance"] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"embedding": [1, 2, 3]}', "8 dimensions"),
        (b'{"embedding": [1, 2, 3, 4, 5, 6, 7, NaN]}', "finite"),
        (b'{"embedding": [1, 2, 3, 4, 5, 6, 7, Infinity]}', "finite"),
        (b'{"embedding": [0, 0, 0, 0, 0, 0, 0, 0]}', "zero"),
        (b'{"embedding": ["1", 2, 3, 4, 5, 6, 7, 8]}', "only numbers"),
        (b'{"embedding": [[1, 2]]}', "only numbers"),
        (b'{"vector": [1]}', "'embedding'"),
        (b'{"embedding": [1, 2, 3, 4, 5, 6, 7, 1e999]}', "finite"),
    ],
)
def test_search_by_embedding_rejects_bad_vectors(api: tuple[Any, Container], body: bytes, words: str) -> None:
    response = api[0].post("/api/v1/search/embedding", data=body, content_type="application/json")
    assert response.status_code == 400 and words in response.get_json()["error"]


def follow_pages(client: Any, first_url: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page from ``first_url`` on, by its cursors; returns the results and the page sizes."""
    results: list[dict[str, Any]] = []
    sizes: list[int] = []
    url = first_url
    while True:
        body = client.get(url).get_json()
        results += body["results"]
        sizes.append(body["count"])
        if body["next_cursor"] is None:
            return results, sizes
        url = f"{first_url}&cursor={body['next_cursor']}"


def test_pages_concatenate_to_the_full_ranking_from_one_search(api: tuple[Any, Container]) -> None:
    client, container = api
    expected = ranked(container, container.store.get_embeddings([2])[2], exclude=2)
    searches = container.index.searches
    results, sizes = follow_pages(client, "/api/v1/ann/search/2?count=3&paginate=true")
    assert container.index.searches == searches + 1
    assert sizes == [3, 3, 3, 2] and ids_of(results) == [i for i, _ in expected]
    assert [r["distance"] for r in results] == pytest.approx([d for _, d in expected], abs=1e-6)


def test_a_new_embedding_starts_a_fresh_ranking(api: tuple[Any, Container]) -> None:
    client, container = api
    before = [i for i, _ in ranked(container, container.store.get_embeddings([1])[1], exclude=1)]
    first = client.get("/api/v1/ann/search/1?count=2&paginate=true").get_json()
    ingest(container, [((255, 0, 0), (1, 2, 3))], first=6)  # an exact copy of logo 1 arrives as logo 13
    fresh = client.get("/api/v1/ann/search/1?count=2&paginate=true").get_json()
    assert ids_of(fresh["results"]) == [13, before[0]]
    # the old cursor keeps paging the ranking it came from: the next two of the old order
    old_page = client.get(f"/api/v1/ann/search/1?count=2&cursor={first['next_cursor']}").get_json()
    assert ids_of(first["results"] + old_page["results"]) == before[:4]


def annotate(tmp_path: Path, logo_ids: list[int]) -> None:
    with sqlite3.connect(tmp_path / "meta.sqlite3") as db:
        db.executemany(
            "UPDATE logo SET annotation_type = 'brand', annotation_value = 'acme' WHERE id = ?",
            [(i,) for i in logo_ids],
        )


def test_filters_keep_only_matching_neighbours_in_rank_order(api: tuple[Any, Container], tmp_path: Path) -> None:
    client, container = api
    annotate(tmp_path, [4, 9, 11])
    everyone = ranked(container, container.store.get_embeddings([1])[1], exclude=1)
    logos = {logo.id: logo for logo in container.store.get_logos([i for i, _ in everyone])}
    cases = {
        "annotated=true": lambda i: i in (4, 9, 11),
        "annotated=false": lambda i: i not in (4, 9, 11),
        "label=badge": lambda i: logos[i].label == "badge",
        "image_id=3": lambda i: logos[i].image_id == 3,
        "label=badge&annotated=true": lambda i: logos[i].label == "badge" and i in (4, 9, 11),
    }
    for query, keep in cases.items():
        expected = [i for i, _ in everyone if keep(i)]
        assert expected, query
        body = client.get(f"/api/v1/ann/search/1?count=500&{query}").get_json()
        assert ids_of(body["results"]) == expected, query
        paged, _ = follow_pages(client, f"/api/v1/ann/search/1?count=2&paginate=true&{query}")
        assert ids_of(paged) == expected, query


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("/api/v1/ann/search/1?cursor=%%%", "cursor"),
        ("/api/v1/ann/search/1?cursor=e30", "cursor"),
        ("/api/v1/ann/search/1?annotated=maybe", "true or false"),
        ("/api/v1/ann/search/1?image_id=-1", "image_id"),
        ("/api/v1/ann/search/1?paginate=2", "true or false"),
    ],
)
def test_bad_cursor_and_filters_are_400s(api: tuple[Any, Container], url: str, words: str) -> None:
    response = api[0].get(url)
    assert response.status_code == 400 and words in response.get_json()["error"]


def test_a_cursor_only_pages_its_own_query(api: tuple[Any, Container]) -> None:
    client, _ = api
    cursor = client.get("/api/v1/ann/search/1?count=2&paginate=true").get_json()["next_cursor"]
    for url in (f"/api/v1/ann/search/2?cursor={cursor}", f"/api/v1/ann/search/1?cursor={cursor}&label=logo"):
        response = client.get(url)
        assert response.status_code == 400 and "another query" in response.get_json()["error"]


def test_robotoff_shape_is_unchanged_unless_paginating(api: tuple[Any, Container]) -> None:
    client, _ = api
    assert list(client.get("/api/v1/ann/search/1?count=2").get_json()) == ["results", "count", "query_logo_id"]
    random = client.get("/api/v1/ann/search?count=2&paginate=true").get_json()
    assert random["query_logo_id"] in range(1, 13) and random["next_cursor"]


def test_cors_preflight_and_json_errors(tmp_path: Path) -> None:
    client = create_app(api_container(tmp_path, api_token="s3cret")).test_client()
    preflight = client.options(
        "/api/v1/images", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204  # answered before the token check
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://example.org"  # echoed, never "*"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0
    for response, status in (
        (client.get("/api/v1/ann/batch"), 405),
        (client.get("/nowhere"), 404),
        (client.options("/nowhere"), 404),
    ):
        assert response.status_code == status and response.is_json and response.get_json()["error"]
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/info").headers  # no Origin, no CORS


def test_page_and_assets_are_served_locally(api: tuple[Any, Container]) -> None:
    client, container = api
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    for asset in ("/web/app.js", "/web/style.css"):
        assert asset in page.get_data(as_text=True)
    # every asset the page loads comes from here: the one address elsewhere is a link people follow
    product_link = "link.href = `https://world.openfoodfacts.org/product/"
    web = Path(common.api.__file__).parent / "web"
    for name in sorted(p.name for p in web.iterdir() if p.suffix in (".js", ".css")):
        response = client.get(f"/web/{name}")
        assert response.status_code == 200, name
        assert "://" not in response.get_data(as_text=True).replace(product_link, ""), name
    assert "://" not in page.get_data(as_text=True)
    assert client.get("/api/v1/info").get_json()["standin_models"] is False
    container.models_are_standins = True  # type: ignore[attr-defined]
    assert client.get("/api/v1/info").get_json()["standin_models"] is True
