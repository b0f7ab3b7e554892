"""What the annotation page reads beside the quests: the operation list (its history view, newest
first, by cursor) and the value field's completions (values already used, then taxonomy ids)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from common.adapters.postgres_store import PostgresStore
from common.api import create_app
from stack.pg import scratch_database
from tests.api_support import api_container, ingest
from tests.unit.test_api_annotations import BLUE, GREEN, RED, TOKEN

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    taxonomy = tmp_path / "labels.json"
    taxonomy.write_text(json.dumps({"en:organic": {"name": {"en": "Organic"}}, "en:eu-organic": {}, "en:fair": {}}))
    with scratch_database("logo_ann_web") if request.param == "postgresql" else nullcontext() as url:
        store = PostgresStore(url, pool_size=2) if url else None
        container = api_container(tmp_path, store=store, api_token=TOKEN, taxonomy_labels=str(taxonomy))
        ingest(container, [(RED, BLUE), (RED, GREEN), (RED, BLUE)])  # logos 1, 3, 5 red; 2, 6 blue; 4 green
        yield create_app(container).test_client()
        container.store.close()


def annotate(client: Any, logo_id: int, kind: str, value: str) -> int:
    answer = client.post(
        "/api/v1/images/logos/annotate",
        json={"annotations": [{"logo_id": logo_id, "type": kind, "value": value}]},
        headers=BEARER,
    )
    assert answer.status_code == 200, answer.get_json()
    return int(answer.headers["Operation-Id"])


def test_operations_newest_first_by_cursor_with_their_logos(client: Any) -> None:
    ids = [
        annotate(client, 1, "brand", "Red Cola"),
        annotate(client, 2, "brand", "Blue"),
        annotate(client, 4, "brand", "Green"),
    ]
    first = client.get("/api/v1/annotations/operations?count=2").get_json()
    assert [op["id"] for op in first["operations"]] == [ids[2], ids[1]]
    assert first["operations"][0]["logo_ids"] == [4] and first["operations"][0]["username"] == "service"
    rest = client.get(f"/api/v1/annotations/operations?count=2&cursor={first['next_cursor']}").get_json()
    assert [op["id"] for op in rest["operations"]] == [ids[0]] and rest["next_cursor"] is None
    undone = client.post(f"/api/v1/annotations/operations/{ids[1]}/revert", headers=BEARER).get_json()
    newest = client.get("/api/v1/annotations/operations?count=1").get_json()["operations"][0]
    assert newest["id"] == undone["operation_id"] and newest["params"] == {"operation_id": ids[1]}


def test_completions_used_values_first_then_the_taxonomy(client: Any) -> None:
    annotate(client, 1, "brand", "Red Cola")
    annotate(client, 3, "brand", "Red Cola")
    annotate(client, 2, "brand", "Redwood")
    annotate(client, 4, "label", "en:organic")
    brands = client.get("/api/v1/values/complete?type=brand&q=red").get_json()
    assert [(v["value"], v["canonical"], v["logos"]) for v in brands["values"]] == [
        ("Red Cola", "red-cola", 2),
        ("Redwood", "redwood", 1),
    ]
    assert client.get("/api/v1/values/complete?type=brand&q=blue").get_json()["values"] == []
    labels = client.get("/api/v1/values/complete?type=label&q=org").get_json()
    assert [(v["canonical"], v["source"]) for v in labels["values"]] == [
        ("en:organic", "used"),
        ("en:eu-organic", "taxonomy"),
    ]
    assert client.get("/api/v1/values/complete?type=nope").status_code == 400


def test_info_says_no_local_user_for_a_plain_app(client: Any) -> None:
    assert client.get("/api/v1/info").get_json()["annotator"] == {"local_user": None, "token_set": True}
