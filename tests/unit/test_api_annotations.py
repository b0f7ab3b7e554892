"""Annotation routes over fakes and SQLite, with users verified by a local auth.pl stand-in."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from common.api import create_app
from common.bootstrap import Container
from common.pipeline.detect import detect_object
from tests.api_support import api_container, ingest, two_squares
from tests.doubles.product_opener import ProductOpenerAuthDouble

TOKEN = "ops-token"
RED, BLUE, GREEN = (230, 20, 20), (20, 20, 230), (20, 200, 20)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ALICE, BOB = basic("alice", "pw-a"), basic("bob", "pw-b")


@pytest.fixture
def auth_pl() -> Iterator[ProductOpenerAuthDouble]:
    server = ProductOpenerAuthDouble().start()
    server.add_user("alice", "pw-a")
    server.add_user("bob", "pw-b")
    yield server
    server.stop()


@pytest.fixture
def container(tmp_path: Path, auth_pl: ProductOpenerAuthDouble) -> Container:
    found = api_container(tmp_path, off_auth_url=auth_pl.url, api_token=TOKEN)
    ingest(found, [(RED, BLUE), (RED, GREEN), (RED, BLUE)])  # logos 1, 3, 5 red; 2, 6 blue; 4 green
    return found


@pytest.fixture
def client(container: Container) -> Any:
    return create_app(container).test_client()


def annotate(client: Any, items: list[dict[str, Any]], headers: dict[str, str] = ALICE) -> Any:
    return client.post("/api/v1/images/logos/annotate", json={"annotations": items}, headers=headers)


def details(client: Any, *ids: int) -> list[dict[str, Any]]:
    query = "&".join(f"logo_ids={i}" for i in ids)
    body: list[dict[str, Any]] = client.get(f"/api/v1/images/logos?{query}").get_json()["logos"]
    return body


def test_annotate_records_the_verified_user_and_pushes_predictions(client: Any) -> None:
    response = annotate(client, [{"logo_id": 1, "type": "brand", "value": "Coca Cola"}])
    assert response.status_code == 200 and response.get_json() == {"annotated": 1}
    one = client.get("/api/v1/images/logos/1").get_json()
    assert (one["annotation_type"], one["annotation_value"], one["annotation_value_tag"]) == (
        "brand",
        "Coca Cola",
        "coca-cola",
    )
    assert one["taxonomy_value"] == "coca-cola" and one["username"] == "alice" and one["completed_at"]
    assert one["prediction"] is None  # an annotated logo is not predicted
    for logo in details(client, 3, 5):
        prediction = logo["prediction"]
        assert (prediction["type"], prediction["value"]) == ("brand", "coca-cola")
        assert 0 < prediction["confidence"] < 1 and prediction["votes"]["support"] >= 1
    assert [logo["prediction"] for logo in details(client, 2, 4, 6)] == [None, None, None]
    again = annotate(client, [{"logo_id": 1, "type": "store", "value": "Lidl"}], BOB)
    assert again.get_json() == {"annotated": 0}  # already annotated: skipped


def test_writes_need_a_verified_user(client: Any) -> None:
    item = [{"logo_id": 2, "type": "brand", "value": "X"}]
    assert annotate(client, item, {}).status_code == 401
    assert annotate(client, item, basic("alice", "wrong")).status_code == 403
    assert client.put("/api/v1/images/logos/2", json={"type": "brand", "value": "X"}).status_code == 401
    assert client.post("/api/v1/images/logos/2/reset").status_code == 401
    assert (
        client.post("/api/v1/images/logos/update?source_type=brand&source_value=X&target_type=store").status_code == 401
    )
    assert details(client, 2)[0]["annotation_type"] is None
    service = annotate(client, item, {"Authorization": f"Bearer {TOKEN}"})
    assert service.get_json() == {"annotated": 1}
    assert details(client, 2)[0]["username"] == "service"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"annotations": [{"logo_id": 1, "type": "brand"}]}, 400),  # value key missing
        ({"annotations": [{"logo_id": 1, "type": "label", "value": "organic"}]}, 400),  # no language prefix
        ({"annotations": [{"logo_id": 1, "type": "brand", "value": ""}]}, 400),  # brand needs a value
        ({"annotations": [{"logo_id": 1, "type": "logo", "value": "x"}]}, 400),
        ({"annotations": [{"logo_id": "1", "type": "brand", "value": "x"}]}, 400),
        ({"annotations": []}, 400),
        (
            {
                "annotations": [
                    {"logo_id": 1, "type": "brand", "value": "x"},
                    {"logo_id": 999, "type": "brand", "value": "x"},
                ]
            },
            404,
        ),
    ],
)
def test_bad_annotations_write_nothing(client: Any, body: dict[str, Any], status: int) -> None:
    response = client.post("/api/v1/images/logos/annotate", json=body, headers=ALICE)
    assert response.status_code == status and response.get_json()["status"] == status
    assert details(client, 1)[0]["annotation_type"] is None


def test_nutrition_label_is_accepted(client: Any) -> None:
    assert annotate(client, [{"logo_id": 4, "type": "nutrition_label", "value": None}]).get_json() == {"annotated": 1}
    assert details(client, 4)[0]["annotation_type"] == "nutritional_label"


def test_change_reset_and_history(client: Any) -> None:
    annotate(client, [{"logo_id": 1, "type": "brand", "value": "Coca Cola"}])
    assert (
        client.put("/api/v1/images/logos/1", json={"type": "label", "value": "en:EU Organic"}, headers=BOB).status_code
        == 204
    )
    assert (
        client.put("/api/v1/images/logos/1", json={"type": "label", "value": "en:EU Organic"}, headers=BOB).status_code
        == 204
    )
    one = details(client, 1)[0]
    assert (one["annotation_value_tag"], one["taxonomy_value"], one["username"]) == (
        "en:eu-organic",
        "en:eu-organic",
        "bob",
    )
    assert details(client, 3)[0]["prediction"]["value"] == "en:eu-organic"
    assert client.post("/api/v1/images/logos/1/reset", headers=ALICE).status_code == 204
    cleared = details(client, 1)[0]
    assert [
        cleared[k]
        for k in (
            "annotation_type",
            "annotation_value",
            "annotation_value_tag",
            "taxonomy_value",
            "username",
            "completed_at",
        )
    ] == [None] * 6
    assert details(client, 3)[0]["prediction"] is None
    history = client.get("/api/v1/images/logos/1/history").get_json()
    assert [(e["username"], e["action"]) for e in history["history"]] == [
        ("alice", "annotate"),
        ("bob", "update"),
        ("alice", "reset"),
    ]
    assert (
        history["history"][1]["before"]["value"] == "Coca Cola"
        and history["history"][1]["after"]["value"] == "en:EU Organic"
    )
    assert client.get("/api/v1/images/logos/999/history").status_code == 404
    assert (
        client.put("/api/v1/images/logos/999", json={"type": "brand", "value": "x"}, headers=ALICE).status_code == 404
    )
    assert client.post("/api/v1/images/logos/999/reset", headers=ALICE).status_code == 404


def test_mass_relabel(client: Any) -> None:
    annotate(client, [{"logo_id": i, "type": "brand", "value": "Coca Cola"} for i in (1, 3)])
    response = client.post(
        "/api/v1/images/logos/update?source_type=brand&source_value=coca%20cola&target_type=brand&target_value=Coca-Cola",
        headers=BOB,
    )
    assert response.get_json() == {"updated": 2}
    assert [d["annotation_value"] for d in details(client, 1, 3)] == ["Coca-Cola", "Coca-Cola"]
    assert client.post("/api/v1/images/logos/update?source_type=brand", headers=BOB).status_code == 400


def test_search(client: Any) -> None:
    annotate(
        client,
        [{"logo_id": 1, "type": "brand", "value": "Coca Cola"}, {"logo_id": 2, "type": "label", "value": "en:Organic"}],
    )
    body = client.get("/api/v1/images/logos/search?type=brand&value=Coca%20Cola").get_json()
    assert body["count"] == 1 and [logo["id"] for logo in body["logos"]] == [1]
    label = client.get("/api/v1/images/logos/search?type=label&taxonomy_value=en:organic").get_json()
    assert [logo["id"] for logo in label["logos"]] == [2]
    unannotated = client.get("/api/v1/images/logos/search?annotated=false&count=2").get_json()
    assert unannotated["count"] == 4 and len(unannotated["logos"]) == 2
    for query in (
        "value=x",
        "type=brand&value=x&taxonomy_value=x",
        "type=label&value=en:x",
        "count=2001",
        "count=0",
        "type=nope",
        "min_confidence=2",
        "annotated=maybe",
    ):
        assert client.get(f"/api/v1/images/logos/search?{query}").status_code == 400, query


def test_predictions_route_and_calibration(client: Any) -> None:
    annotate(
        client,
        [{"logo_id": i, "type": "brand", "value": "Coca Cola"} for i in (1, 3)]
        + [{"logo_id": 2, "type": "store", "value": "Lidl"}],
    )
    page = client.get("/api/v1/images/logos/predictions?count=1").get_json()
    assert page["count"] == 1 and page["next_cursor"] is not None
    rest = client.get(f"/api/v1/images/logos/predictions?cursor={page['next_cursor']}").get_json()
    ids = [p["logo_id"] for p in page["predictions"] + rest["predictions"]]
    assert ids == sorted(ids) and set(ids) == {5, 6}
    stores = client.get("/api/v1/images/logos/predictions?type=store").get_json()["predictions"]
    assert [(p["logo_id"], p["value"]) for p in stores] == [(6, "lidl")]
    assert all(p["precision"] is None for p in stores)  # not calibrated yet
    assert client.get("/api/v1/images/logos/predictions?min_precision=0.1").get_json()["count"] == 0
    assert client.get("/api/v1/images/logos/predictions?cursor=abc").status_code == 400
    assert client.get("/api/v1/admin/calibration").status_code == 404
    assert client.post("/api/v1/admin/calibrate", headers=ALICE).status_code == 401  # an operator route: token
    report = client.post("/api/v1/admin/calibrate", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert report["samples"] == 3 and report["predicted"] >= 2 and report["target_precision"] == 0.95
    assert client.get("/api/v1/admin/calibration").get_json()["id"] == report["id"]
    calibrated = client.get("/api/v1/images/logos/predictions").get_json()["predictions"]
    assert [p["logo_id"] for p in calibrated if p["type"] == "brand" and p["precision"] is not None] == [5]


def test_a_new_logo_is_predicted_when_its_neighbours_are_stored(client: Any, container: Container) -> None:
    annotate(client, [{"logo_id": 4, "type": "brand", "value": "Sprite"}])
    ingest(container, [(GREEN, BLUE)], first=10)
    (new_green,) = [d for d in details(client, 7, 8) if d["index"] == 0]
    assert (new_green["prediction"]["type"], new_green["prediction"]["value"]) == ("brand", "sprite")


def test_an_annotation_survives_re_detection_of_the_same_image(client: Any, container: Container) -> None:
    annotate(client, [{"logo_id": 1, "type": "brand", "value": "Coca Cola"}])
    ref = container.images.put(container.settings.bucket, "photo-0.png", two_squares(RED, BLUE))  # same name
    result = detect_object(ref, None, "image/png", container.detect_deps())
    new_ids = [logo.id for logo in result.logos]
    assert 1 not in new_ids and len(new_ids) == 2
    carried, other = details(client, *new_ids)
    assert (carried["annotation_type"], carried["annotation_value"], carried["username"]) == (
        "brand",
        "Coca Cola",
        "alice",
    )
    assert other["annotation_type"] is None
    history = client.get(f"/api/v1/images/logos/{carried['id']}/history").get_json()["history"]
    assert [e["action"] for e in history] == ["carry"]
    assert details(client, 1)[0]["annotation_value"] == "Coca Cola"  # the old record keeps it too


RELABEL = "/api/v1/images/logos/update?source_type=brand&source_value=coca%20cola&target_type=brand&target_value="


def test_a_large_relabel_returns_before_its_re_votes_run(
    tmp_path: Path, auth_pl: ProductOpenerAuthDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = api_container(tmp_path, off_auth_url=auth_pl.url, revote_inline_max=1)
    ingest(container, [(RED, BLUE), (RED, GREEN), (RED, BLUE)])  # logos 1, 3, 5 red
    client = create_app(container).test_client()
    annotate(client, [{"logo_id": i, "type": "brand", "value": "Coca Cola"} for i in (1, 3)])
    container.drain()
    assert details(client, 5)[0]["prediction"]["value"] == "coca-cola"

    # the deferred re-votes wait for ``release``; one run on the request's thread is recorded
    propagation = container.propagation()
    revote, release, inline = propagation.revote, threading.Event(), []
    request_thread = threading.current_thread()  # the test client runs the request here

    def gated(ids: Sequence[int]) -> int:
        if threading.current_thread() is request_thread:
            inline.append(list(ids))
        else:
            release.wait()
        return revote(ids)

    monkeypatch.setattr(propagation, "revote", gated)
    try:
        response = client.post(RELABEL + "Pepsi", headers=BOB)
        assert response.get_json() == {"updated": 2}
        assert inline == []  # more logos than the bound: nothing re-voted inside the request
        assert details(client, 5)[0]["prediction"]["value"] == "coca-cola"  # not yet
    finally:
        release.set()
    container.drain()
    assert inline == [] and details(client, 5)[0]["prediction"]["value"] == "pepsi"


def test_search_by_barcode(tmp_path: Path, auth_pl: ProductOpenerAuthDouble) -> None:
    c = api_container(tmp_path, off_auth_url=auth_pl.url, off_image_prefix="data/")
    ingest(c, [(RED, BLUE)])  # logos 1, 2: not an Open Food Facts path, no barcode
    ref = c.images.put(c.settings.bucket, "data/324/227/210/2359/4.jpg", two_squares(GREEN, BLUE))
    detect_object(ref, None, "image/png", c.detect_deps())  # logos 3, 4 of product 3242272102359
    client = create_app(c).test_client()
    body = client.get("/api/v1/images/logos/search?barcode=3242272102359").get_json()
    assert body["count"] == 2 and {logo["id"] for logo in body["logos"]} == {3, 4}
    assert {logo["barcode"] for logo in body["logos"]} == {"3242272102359"}
    assert client.get("/api/v1/images/logos/search?barcode=0000").get_json()["count"] == 0
