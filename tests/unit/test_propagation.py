"""Annotation use cases and pushed re-votes, over SQLite and a real PostgreSQL (a throwaway
database per test): who gets re-voted, inline or queued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.adapters.postgres_store import PostgresStore
from common.adapters.sql.annotations import SqlAnnotations
from common.adapters.sql_store import SqlStore
from common.adapters.sqlite_store import SqliteStore
from common.adapters.taxonomy_files import TaxonomyFiles
from common.domain import Box, Detection, ObjectRef
from common.errors import DependencyError, InvalidAnnotationError, NotFoundError
from common.labels.taxonomy import Taxonomies
from common.labels.vote import VoteParams
from common.messages import QueueMessage, RevoteMessage
from common.pipeline.annotate import Annotator
from common.pipeline.calibrate import run_calibration
from common.pipeline.propagate import Propagation
from stack.pg import scratch_database


class Recorder:
    def __init__(self) -> None:
        self.messages: list[QueueMessage] = []

    def publish(self, message: QueueMessage) -> None:
        self.messages.append(message)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        opened: SqlStore = SqliteStore(tmp_path / "meta.sqlite3")
        yield opened
        opened.close()
        return
    with scratch_database("logo_ann_votes") as url:
        opened = PostgresStore(url, pool_size=2)
        yield opened
        opened.close()


def make_logos(store: SqlStore, count: int) -> list[int]:
    image, _ = store.upsert_image(ObjectRef("b", "p.jpg", "1"), None, None)
    boxes = [Detection(Box(0.0, i / count, 1.0, (i + 0.5) / count), 0.9, "object") for i in range(count)]
    return [logo.id for logo in store.record_detections(image.id, 100, 100, boxes, "det")]


def annotator(store: SqlStore, tmp_path: Path, inline_max: int = 100) -> tuple[Annotator, Recorder]:
    labels = tmp_path / "labels.full.json"
    labels.write_text(json.dumps({"en:organic": {"name": {"en": "Organic", "fr": "Bio"}}}))
    queue = Recorder()
    notes = SqlAnnotations(store.db)
    propagation = Propagation(store, notes, VoteParams(0.12, 0.5), queue, inline_max, report_ttl_s=0)
    return Annotator(notes, Taxonomies(TaxonomyFiles(), {"labels": str(labels)}), propagation), queue


def test_annotating_pushes_to_the_logos_that_list_it(store: SqlStore, tmp_path: Path) -> None:
    a, b, c, d = make_logos(store, 4)
    store.set_neighbours(b, [a, d], [0.0, 0.3])
    store.set_neighbours(c, [a], [0.06])
    store.set_neighbours(d, [c], [0.01])
    app, queue = annotator(store, tmp_path)
    assert app.annotate([(a, "label", "fr:Bio")], "alice") == 1
    predicted = app.notes.get_predictions([a, b, c, d])
    assert sorted(predicted) == [b, c]  # d lists only c (unannotated); a is annotated itself
    assert (predicted[b].type, predicted[b].value) == ("label", "en:organic")  # the taxonomy id votes
    assert predicted[b].confidence == pytest.approx(1 / 1.5) and predicted[c].confidence == pytest.approx(0.5 / 1.0)
    assert predicted[b].votes["beyond_cutoff"] == 1 and queue.messages == []
    assert app.last_push.revoted == 3

    assert app.update(a, "brand", "Lidl", "bob")
    assert app.notes.get_predictions([b])[b].value == "lidl"
    assert not app.update(a, "brand", "Lidl", "carol")  # unchanged: a no-op
    assert [e.username for e in app.notes.history(a)] == ["alice", "bob"]

    assert app.reset(a, "dave")
    assert app.notes.get_predictions([a, b, c]) == {}  # no annotated neighbour left


def test_a_large_fan_out_goes_through_the_queue(store: SqlStore, tmp_path: Path) -> None:
    a, *others = make_logos(store, 6)
    for logo_id in others:
        store.set_neighbours(logo_id, [a], [0.01])
    app, queue = annotator(store, tmp_path, inline_max=3)
    app.annotate([(a, "store", "Lidl")], "alice")
    assert app.notes.get_predictions(others) == {}  # nothing re-voted inside the call
    (message,) = queue.messages
    assert isinstance(message, RevoteMessage) and sorted(message.logo_ids) == sorted([a, *others])
    assert app.last_push.queued == 6
    app.propagation.revote(message.logo_ids)
    app.propagation.revote(message.logo_ids)  # a repeated message changes nothing
    predicted = app.notes.get_predictions(others)
    assert sorted(predicted) == sorted(others) and {p.value for p in predicted.values()} == {"lidl"}


def test_bad_annotations_are_refused_before_any_write(store: SqlStore, tmp_path: Path) -> None:
    a, b = make_logos(store, 2)
    app, _ = annotator(store, tmp_path)
    with pytest.raises(InvalidAnnotationError):
        app.annotate([(a, "brand", "Lidl"), (b, "label", "organic")], "alice")
    with pytest.raises(NotFoundError):
        app.annotate([(a, "brand", "Lidl"), (b + 100, "brand", "Lidl")], "alice")
    assert app.notes.get_annotations([a])[a].annotated is False
    assert app.annotate([(a, "nutrition_label", ""), (b, "brand", "X")], "alice") == 2
    assert app.notes.get_annotations([a])[a].type == "nutritional_label"
    assert app.annotate([(a, "brand", "Y")], "bob") == 0  # already annotated: skipped


def test_relabel_by_value_tag_and_revote(store: SqlStore, tmp_path: Path) -> None:
    a, b, c = make_logos(store, 3)
    store.set_neighbours(c, [a, b], [0.0, 0.0])
    app, _ = annotator(store, tmp_path)
    app.annotate([(a, "brand", "Coca Cola"), (b, "brand", "coca cola")], "alice")
    assert app.relabel("brand", "Coca Cola", "brand", "Coca-Cola", "bob") == 2
    assert app.notes.get_predictions([c])[c].value == "coca-cola"
    assert {app.notes.history(i)[-1].action for i in (a, b)} == {"relabel"}


def test_calibration_gives_every_prediction_a_precision(store: SqlStore, tmp_path: Path) -> None:
    ids = make_logos(store, 24)
    brands, stores = ids[:10], ids[10:20]
    for group in (brands, stores):
        for logo_id in group:
            store.set_neighbours(logo_id, [o for o in group if o != logo_id][:3], [0.01, 0.02, 0.03])
    target = ids[20]
    store.set_neighbours(target, brands[:3], [0.01, 0.02, 0.03])
    app, _ = annotator(store, tmp_path)
    app.annotate([(i, "brand", "Lidl") for i in brands] + [(i, "store", "Aldi") for i in stores], "alice")
    assert app.notes.get_predictions([target])[target].precision is None  # not calibrated yet
    report = run_calibration(app.propagation, target=0.75, min_support=5, frequent_min=5)
    assert (report["samples"], report["predicted"], report["summary"]["precision"]) == (20, 20, 1.0)
    assert report["thresholds"]["brand"]["threshold"] is not None  # 10 of 10 can show 0.75, not 0.95
    assert report["refreshed"] >= 1
    assert app.notes.latest_calibration()["id"] == report["id"]  # type: ignore[index]
    precision = app.notes.get_predictions([target])[target].precision
    assert precision == pytest.approx(10 / (10 + 1.6448536**2), abs=1e-4)  # 10 of 10 right: Wilson n/(n+z²)


def test_a_retry_after_a_failed_push_pushes_again(store: SqlStore, tmp_path: Path) -> None:
    a, *others = make_logos(store, 4)
    for logo_id in others:
        store.set_neighbours(logo_id, [a], [0.01])
    app, queue = annotator(store, tmp_path, inline_max=1)
    down = [True]

    def publish(message: QueueMessage) -> None:
        if down[0]:
            raise DependencyError("pubsub", "unreachable")
        queue.messages.append(message)

    queue.publish = publish  # type: ignore[method-assign]
    with pytest.raises(DependencyError):
        app.annotate([(a, "store", "Lidl")], "alice")
    assert app.notes.get_annotations([a])[a].type == "store" and queue.messages == []  # written, not pushed
    down[0] = False
    assert app.annotate([(a, "store", "Lidl")], "alice") == 0  # the client's retry: nothing new written
    (message,) = queue.messages
    assert isinstance(message, RevoteMessage) and sorted(message.logo_ids) == sorted([a, *others])
    assert [e.action for e in app.notes.history(a)] == ["annotate"]
