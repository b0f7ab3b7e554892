"""``logo-ann calibrate``, ``predictions export``, ``taxonomies fetch``, and re-vote messages
delivered to ``embed_index`` as Pub/Sub CloudEvents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import common.bootstrap
from common.bootstrap import Container
from common.cli import main
from common.entrypoints import handle_queue_event
from common.messages import RevoteMessage
from tests.api_support import api_container, ingest
from tests.reliability.test_events import pubsub_event
from tests.unit.test_taxonomy import taxonomy_server  # noqa: F401 (a fixture)

RED, BLUE, GREEN = (230, 20, 20), (20, 20, 230), (20, 200, 20)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    built = api_container(tmp_path)
    ingest(built, [(RED, BLUE), (RED, GREEN), (RED, BLUE), (GREEN, BLUE)])  # red 1 3 5, green 4 7, blue 2 6 8
    built.annotator().annotate([(1, "brand", "Coca Cola"), (3, "brand", "Coca Cola"), (4, "brand", "Sprite")], "alice")
    previous = common.bootstrap.set_container(built)
    yield built
    common.bootstrap.set_container(previous)


def test_calibrate_then_export(container: Container, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--target-precision", "0.9"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["samples"], report["target_precision"]) == (3, 0.9)
    assert "reliability" not in report and "bounds" not in report and report["refreshed"] == 8
    assert main(["predictions", "export", "--json"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert {(r["logo_id"], r["type"], r["value"]) for r in rows} == {(5, "brand", "coca-cola"), (7, "brand", "sprite")}
    assert all(r["precision"] is not None and isinstance(r["accepted"], bool) for r in rows)
    assert err.strip() == "2 predictions"
    assert main(["predictions", "export", "--json", "--type", "store"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["calibrate", "--target-precision", "2"]) == 2


def test_a_revote_message_reaches_embed_index(container: Container) -> None:
    container.notes.put_predictions([], remove=[5, 7])
    assert container.notes.get_predictions([5, 7]) == {}
    event = pubsub_event(RevoteMessage((5, 7)).to_json())
    handle_queue_event(event)
    handle_queue_event(event)  # delivered twice: the same one prediction per logo
    predicted = container.notes.get_predictions([5, 7])
    assert {i: p.value for i, p in predicted.items()} == {5: "coca-cola", 7: "sprite"}


def test_a_malformed_revote_message_is_acknowledged(container: Container) -> None:
    handle_queue_event(pubsub_event(json.dumps({"schema_version": 1, "kind": "revote", "logo_ids": []})))
    handle_queue_event(pubsub_event(json.dumps({"schema_version": 1, "kind": "revote", "logo_ids": ["x"]})))
    assert set(container.notes.get_predictions([5, 7])) == {5, 7}


def test_taxonomies_fetch(tmp_path: Path, taxonomy_server: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    built = api_container(tmp_path)
    previous = common.bootstrap.set_container(built)
    try:
        assert main(["taxonomies", "fetch", "--base-url", taxonomy_server]) == 0
        body: dict[str, Any] = json.loads(capsys.readouterr().out)
        assert body["ids"] == {"labels": 3, "brands": 1, "categories": 1}
        assert (tmp_path / "taxonomies" / "labels.full.json").is_file()
        fresh = api_container(tmp_path)  # a new process reads the fetched files
        assert fresh.taxonomies.taxonomy_value("label", "fr:bio") == "en:organic"
        assert main(["taxonomies", "fetch", "--base-url", taxonomy_server + "/missing"]) == 2
    finally:
        common.bootstrap.set_container(previous)
