"""Annotation at scale through HTTP over SQLite and a real PostgreSQL: quests, operations and
undo, value clusters, predictions accepted and rejected, suspects, what next, progress per value.

The images hold identical red logos 1, 3, 5, identical blue logos 2, 6 and a green logo 4 (the
colour embedder puts identical crops at distance 0 and different colours far apart).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from common.adapters.postgres_store import PostgresStore
from common.api import create_app
from common.bootstrap import Container
from stack.pg import scratch_database
from tests.api_support import api_container, ingest
from tests.doubles.product_opener import ProductOpenerAuthDouble
from tests.unit.test_api_annotations import ALICE, BLUE, BOB, GREEN, RED, TOKEN, annotate, auth_pl, details

__all__ = ["auth_pl"]  # the fixture this module shares


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def container(request: pytest.FixtureRequest, tmp_path: Path, auth_pl: ProductOpenerAuthDouble) -> Iterator[Container]:
    with scratch_database("logo_ann_quests") if request.param == "postgresql" else nullcontext() as url:
        store = PostgresStore(url, pool_size=2) if url else None
        found = api_container(tmp_path, store=store, off_auth_url=auth_pl.url, api_token=TOKEN)
        ingest(found, [(RED, BLUE), (RED, GREEN), (RED, BLUE)])  # logos 1, 3, 5 red; 2, 6 blue; 4 green
        yield found
        found.store.close()


@pytest.fixture
def client(container: Container) -> Any:
    return create_app(container).test_client()


def clusters(client: Any, query: str = "") -> list[dict[str, Any]]:
    body = client.get(f"/api/v1/clusters{query}").get_json()
    found: list[dict[str, Any]] = body["clusters"]
    return found


def label_of(client: Any, logo_id: int) -> tuple[Any, Any]:
    one = details(client, logo_id)[0]
    return one["annotation_type"], one["annotation_value"]


def test_clusters_largest_first_and_annotated_in_one_operation(client: Any) -> None:
    found = clusters(client, "?annotated=false")
    assert [(c["size"], c["logo_ids"]) for c in found] == [(3, [1, 3, 5]), (2, [2, 6])]
    assert found[0]["representative_logo_id"] in (1, 3, 5) and 0 <= found[0]["radius"] < 0.01
    red = found[0]["id"]
    denied = client.post(f"/api/v1/clusters/{red}/annotate", json={"type": "brand", "value": "Red"})
    assert denied.status_code == 401
    done = client.post(
        f"/api/v1/clusters/{red}/annotate", json={"type": "brand", "value": "Red", "exclude": [5]}, headers=ALICE
    )
    body = done.get_json()
    assert done.status_code == 200 and (body["annotated"], body["logo_ids"]) == (2, [1, 3])
    assert done.headers["Operation-Id"] == str(body["operation_id"])
    assert [label_of(client, i) for i in (1, 3, 5)] == [("brand", "Red"), ("brand", "Red"), (None, None)]
    # the red cluster is down to logo 5 alone: gone; the blue one keeps its id
    assert [(c["logo_ids"], c["id"]) for c in clusters(client)] == [([2, 6], found[1]["id"])]
    assert client.get(f"/api/v1/clusters/{red}").status_code == 404
    history = client.get("/api/v1/images/logos/1/history").get_json()["history"]
    assert [(e["action"], e["operation_id"]) for e in history] == [("cluster_annotate", body["operation_id"])]


def test_robotoff_answers_keep_their_shape_with_the_operation_in_a_header(client: Any) -> None:
    first = annotate(client, [{"logo_id": 1, "type": "brand", "value": "Red"}])
    assert first.get_json() == {"annotated": 1} and int(first.headers["Operation-Id"]) >= 1
    put = client.put("/api/v1/images/logos/1", json={"type": "brand", "value": "Rouge"}, headers=BOB)
    assert (
        put.status_code == 204
        and put.data == b""
        and int(put.headers["Operation-Id"]) > int(first.headers["Operation-Id"])
    )


def test_revert_restores_and_skips_logos_changed_since(client: Any) -> None:
    op = int(
        annotate(client, [{"logo_id": i, "type": "brand", "value": "Red"} for i in (1, 3)]).headers["Operation-Id"]
    )
    client.put("/api/v1/images/logos/3", json={"type": "brand", "value": "Scarlet"}, headers=BOB)
    assert client.post(f"/api/v1/annotations/operations/{op}/revert").status_code == 401
    undone = client.post(f"/api/v1/annotations/operations/{op}/revert", headers=BOB)
    body = undone.get_json()
    assert (body["reverted"], body["restored"], body["skipped"]) == (op, [1], [3])
    assert label_of(client, 1) == (None, None) and label_of(client, 3) == ("brand", "Scarlet")
    # the revert is an operation: reverting it puts logo 1's label back
    again = client.post(f"/api/v1/annotations/operations/{body['operation_id']}/revert", headers=ALICE).get_json()
    assert again["restored"] == [1] and label_of(client, 1) == ("brand", "Red")
    assert details(client, 1)[0]["username"] == "alice"  # who annotated it, not who reverted
    seen = client.get(f"/api/v1/annotations/operations/{op}").get_json()
    assert (seen["action"], seen["username"], seen["logo_ids"]) == ("annotate", "alice", [1, 3])
    assert client.post("/api/v1/annotations/operations/999/revert", headers=BOB).status_code == 404


def test_value_cluster_ranks_unannotated_logos_once_across_pages(client: Any) -> None:
    annotate(
        client, [{"logo_id": 1, "type": "brand", "value": "Red"}, {"logo_id": 2, "type": "brand", "value": "Blue"}]
    )
    seen, cursor, pages = [], None, 0
    while True:
        query = "type=brand&value=red&count=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/v1/images/logos/value-cluster?{query}").get_json()
        assert body["references"] == 1
        seen += [(x["id"], x["distance"], x["nearest_reference_id"]) for x in body["logos"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    ids = [i for i, _, _ in seen]
    assert ids[:2] == [3, 5] and seen[0][1] < 0.001 and pages >= 2
    assert sorted(ids) == [3, 4, 5, 6] and len(set(ids)) == len(ids)  # every unannotated logo, once
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
    bad = client.get("/api/v1/images/logos/value-cluster?type=brand&value=red&cursor=nope")
    assert bad.status_code == 400


def test_reject_stores_a_negative_the_vote_and_the_value_cluster_respect(client: Any) -> None:
    annotate(client, [{"logo_id": 1, "type": "brand", "value": "Red"}])
    prediction = details(client, 3)[0]["prediction"]
    assert (prediction["type"], prediction["value"]) == ("brand", "red")
    assert prediction["alternatives"][0] == {"type": "brand", "value": "red", "share": prediction["confidence"]}
    rejected = client.post("/api/v1/images/logos/3/prediction/reject", headers=BOB)
    assert rejected.status_code == 200 and rejected.get_json()["prediction"] is None
    assert details(client, 3)[0]["prediction"] is None
    ranked = client.get("/api/v1/images/logos/value-cluster?type=brand&value=Red").get_json()["logos"]
    assert 3 not in [x["id"] for x in ranked] and ranked[0]["id"] == 5
    # undoing the rejection brings the prediction back
    client.post(f"/api/v1/annotations/operations/{rejected.get_json()['operation_id']}/revert", headers=BOB)
    assert details(client, 3)[0]["prediction"]["value"] == "red"


def test_accept_makes_the_prediction_the_annotation(client: Any) -> None:
    annotate(client, [{"logo_id": 1, "type": "brand", "value": "Red"}])
    wrong = client.post(
        "/api/v1/images/logos/5/prediction/accept", json={"type": "brand", "value": "blue"}, headers=BOB
    )
    assert wrong.status_code == 409
    accepted = client.post("/api/v1/images/logos/5/prediction/accept", headers=BOB)
    assert accepted.status_code == 200 and accepted.get_json()["changed"] is True
    assert label_of(client, 5) == ("brand", "red")
    assert client.post("/api/v1/images/logos/4/prediction/accept", headers=BOB).status_code == 404  # none


def test_suspects_next_and_values(client: Any, container: Container) -> None:
    annotate(client, [{"logo_id": 1, "type": "brand", "value": "Red"}, {"logo_id": 3, "type": "brand", "value": "Red"}])
    annotate(client, [{"logo_id": 5, "type": "brand", "value": "Blue"}])
    suspects = client.get("/api/v1/images/logos/suspects").get_json()["logos"]
    assert [(s["logo_id"], s["annotation"]["value"], s["neighbours_say"]["value"]) for s in suspects] == [
        (5, "blue", "red")
    ]
    assert suspects[0]["neighbours_say"]["confidence"] >= 0.5
    nxt = client.get("/api/v1/annotate/next?count=5").get_json()["logos"]
    assert nxt[0]["reason"] == "cluster" and nxt[0]["logo_id"] in (2, 6) and nxt[0]["gain"] == 2
    values = client.get("/api/v1/values?type=brand").get_json()["values"]
    assert [(v["value"], v["annotated"]) for v in values] == [("blue", 1), ("red", 2)]
    paged = client.get("/api/v1/values?type=brand&count=1").get_json()
    second = client.get(f"/api/v1/values?type=brand&count=1&cursor={paged['next_cursor']}").get_json()
    assert [v["value"] for v in paged["values"] + second["values"]] == ["blue", "red"] and second["next_cursor"] is None


def test_rebuild_needs_the_token_and_keeps_ids(client: Any) -> None:
    before = clusters(client)
    assert client.post("/api/v1/admin/clusters/rebuild", headers=BOB).status_code == 401  # a user is not the operator
    rebuilt = client.post("/api/v1/admin/clusters/rebuild", headers={"Authorization": f"Bearer {TOKEN}"})
    assert rebuilt.status_code == 200 and rebuilt.get_json() == {"clusters": 2}
    assert [(c["id"], c["logo_ids"]) for c in clusters(client)] == [(c["id"], c["logo_ids"]) for c in before]
