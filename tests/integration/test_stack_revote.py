"""Pushed re-votes on the cloud-shaped stack: an annotation written through the ``search``
function re-votes its neighbours through the Pub/Sub emulator and ``embed_index``, not inside the
request (``LOGO_ANN_REVOTE_INLINE_MAX=0``), on PostgreSQL and a real Elasticsearch node. ``search``
runs with the queue settings Terraform deploys it with (``wiring.json``, from ``common/deploy.py``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from common import deploy
from offline.samples import write_samples
from stack.core import Stack, running_stack
from stack.waiting import WaitTimeout, wait_until
from stack.wiring import STACK_LOCAL
from tests.integration.test_stack_e2e import get, searchable_logos, upload, wait_for_logos

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOKEN = "stack-revote-token"
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    overrides = {
        "LOGO_ANN_REVOTE_INLINE_MAX": "0",  # every re-vote through the queue
        "LOGO_ANN_VOTE_MAX_DISTANCE": "1.0",  # the stand-in models' distances say nothing: all neighbours vote
        "LOGO_ANN_API_TOKEN": TOKEN,
    }
    with running_stack(tmp_path_factory.mktemp("stack-revote"), overrides=overrides) as running:
        yield running


def test_search_runs_with_the_queue_terraform_deploys(stack: Stack) -> None:
    deployed = json.loads(deploy.WIRING_JSON.read_text())["functions"]["search"]
    launch = stack.processes["search"].recipe
    assert launch is not None and launch.env is not None
    env = {k: v for k, v in launch.env.items() if k.startswith("LOGO_ANN_")}
    assert env["LOGO_ANN_QUEUE"] == deployed["environment"]["LOGO_ANN_QUEUE"] == "pubsub"
    assert deployed["deployed"]["LOGO_ANN_CROPS_TOPIC"] == "crops_topic" and env["LOGO_ANN_CROPS_TOPIC"]
    wired = {*deployed["environment"], *deployed["deployed"], *deployed["secrets"], *STACK_LOCAL}
    assert set(env) == wired | {"LOGO_ANN_REVOTE_INLINE_MAX", "LOGO_ANN_VOTE_MAX_DISTANCE"}


def predictions(stack: Stack, ids: list[int]) -> dict[int, Any]:
    logos = get(stack, "/api/v1/images/logos?logo_ids=" + ",".join(map(str, ids)))["logos"]
    return {logo["id"]: logo["prediction"] for logo in logos}


def test_an_annotation_reaches_its_neighbours_through_the_queue(stack: Stack, tmp_path: Path) -> None:
    photos = write_samples(tmp_path / "photos", 4, seed=5)
    upload(stack, photos)
    wait_for_logos(stack, 4)
    logo_ids = sorted(searchable_logos(stack, 500))
    target = logo_ids[0]
    with contextlib.suppress(WaitTimeout):  # the assertion below says what is missing
        wait_until(lambda: get(stack, f"/api/v1/logos/{target}")["nearest_neighbors"], DEADLINE_S, interval=0.5)
    neighbours = get(stack, f"/api/v1/logos/{target}")["nearest_neighbors"]["logo_ids"]
    citing = [
        i
        for i in logo_ids
        if i != target and target in (get(stack, f"/api/v1/logos/{i}")["nearest_neighbors"] or {}).get("logo_ids", [])
    ]
    assert citing, f"no logo lists {target} among its neighbours ({neighbours})"
    assert all(p is None for p in predictions(stack, citing).values())  # nothing annotated yet

    response = requests.post(
        stack.env["SEARCH_URL"] + "/api/v1/images/logos/annotate",
        json={"annotations": [{"logo_id": target, "type": "brand", "value": "Stack Cola"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200 and response.json() == {"annotated": 1}
    found: dict[int, Any] = {}

    def all_predicted() -> bool:
        nonlocal found
        found = predictions(stack, citing)
        return all(found.values())

    with contextlib.suppress(WaitTimeout):  # the assertion below shows the predictions seen last
        wait_until(all_predicted, DEADLINE_S, interval=0.5)
    assert all(p and (p["type"], p["value"]) == ("brand", "stack-cola") for p in found.values()), found
    log_path = stack.root / "logs" / "embed_index.log"

    def revote_logged() -> bool:  # the predictions are committed before the function logs its outcome
        return "revoted" in log_path.read_text(errors="replace")

    with contextlib.suppress(WaitTimeout):
        wait_until(revote_logged, 30.0, interval=0.2)
    assert revote_logged()  # embed_index ran the re-vote messages
