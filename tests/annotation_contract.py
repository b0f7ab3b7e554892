"""Contract tests every ``AnnotationStore`` must pass (SQLite and PostgreSQL run the same ones).

A test module subclasses ``AnnotationContract`` and provides ``store`` (a metadata store) and
``notes`` (the annotation store on the same database).
"""

from __future__ import annotations

import pytest

from common.domain import Box, Detection, ObjectRef
from common.errors import NotFoundError
from common.ports.annotation_store import AnnotationStore
from common.ports.metadata_store import MetadataStore
from common.records.annotations import LabelWrite, LogoQuery, Prediction

DETECTIONS = [Detection(Box(0.1 * i, 0.1, 0.1 * i + 0.05, 0.2), 0.3 + 0.1 * i, "object") for i in range(5)]


def logos(store: MetadataStore, name: str = "a.jpg", count: int = 5) -> list[int]:
    image, _ = store.upsert_image(ObjectRef("bucket", name, "1"), None, None)
    return [logo.id for logo in store.record_detections(image.id, 100, 100, DETECTIONS[:count], "det-1")]


def label(logo_id: int, kind: str | None = "brand", value: str | None = "Coca Cola") -> LabelWrite:
    tag = None if value is None else value.lower().replace(" ", "-")
    return LabelWrite(logo_id, kind, value, tag, None if kind is None else tag)


class AnnotationContract:
    def test_write_label_records_user_time_and_history(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, *_ = logos(store)
        assert notes.write_labels([label(a)], "alice", "annotate") == [a]
        got = notes.get_annotations([a, b])
        assert (got[a].type, got[a].value, got[a].value_tag, got[a].username) == (
            "brand",
            "Coca Cola",
            "coca-cola",
            "alice",
        )
        assert got[a].completed_at is not None and got[b].annotated is False
        (entry,) = notes.history(a)
        assert (entry.username, entry.action, entry.before) == ("alice", "annotate", None)
        assert entry.after is not None and entry.after["value_tag"] == "coca-cola"

    def test_unchanged_write_is_a_no_op(self, store: MetadataStore, notes: AnnotationStore) -> None:
        (a,) = logos(store, count=1)
        notes.write_labels([label(a)], "alice", "annotate")
        assert notes.write_labels([label(a)], "bob", "update") == []
        assert [e.username for e in notes.history(a)] == ["alice"]
        assert notes.get_annotations([a])[a].username == "alice"

    def test_skip_annotated_keeps_the_first_label(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b = logos(store, count=2)
        notes.write_labels([label(a)], "alice", "annotate")
        changed = notes.write_labels([label(a, "store", "Lidl"), label(b, "store", "Lidl")], "bob", "annotate", True)
        assert changed == [b]
        assert notes.get_annotations([a])[a].type == "brand"

    def test_unknown_logo_rolls_back_the_batch(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b = logos(store, count=2)
        with pytest.raises(NotFoundError):
            notes.write_labels([label(a), label(b + 1000)], "alice", "annotate")
        assert notes.get_annotations([a])[a].annotated is False
        assert notes.history(a) == []

    def test_reset_clears_every_field_and_keeps_history(self, store: MetadataStore, notes: AnnotationStore) -> None:
        (a,) = logos(store, count=1)
        notes.write_labels([label(a, "label", "en:EU Organic")], "alice", "annotate")
        notes.write_labels([label(a, None, None)], "bob", "reset")
        got = notes.get_annotations([a])[a]
        assert (got.type, got.value, got.value_tag, got.taxonomy_value, got.username, got.completed_at) == (None,) * 6
        first, second = notes.history(a)
        assert (second.username, second.action, second.after) == ("bob", "reset", None)
        assert second.before is not None and second.before["value"] == "en:EU Organic"
        assert second.before["username"] == "alice" and first.changed_at <= second.changed_at

    def test_relabel_moves_every_matching_logo(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c = logos(store, count=3)
        notes.write_labels([label(a), label(b), label(c, "brand", "Pepsi")], "alice", "annotate")
        changed = notes.relabel("brand", "coca-cola", label(0, "brand", "Coca-Cola Zero"), "bob")
        assert changed == [a, b]
        got = notes.get_annotations([a, b, c])
        assert [got[i].value for i in (a, b, c)] == ["Coca-Cola Zero", "Coca-Cola Zero", "Pepsi"]
        assert notes.history(b)[-1].action == "relabel"

    def test_search_by_type_tag_annotated_and_score(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c, d, e = logos(store)
        notes.write_labels([label(a), label(b), label(c, "store", "Lidl")], "alice", "annotate")
        assert notes.search_logos(LogoQuery(type="brand", value_tag="coca-cola")) == ([a, b], 2)
        assert notes.search_logos(LogoQuery(type="brand", taxonomy_value="coca-cola", count=1)) == ([a], 2)
        assert notes.search_logos(LogoQuery(annotated=False)) == ([d, e], 2)
        ids, total = notes.search_logos(LogoQuery(min_confidence=0.55))  # scores 0.3 .. 0.7
        assert (ids, total) == ([d, e], 2)
        ids, total = notes.search_logos(LogoQuery(random=True, count=5))
        assert sorted(ids) == [a, b, c, d, e] and total == 5

    def test_citing_logos_reads_stored_neighbours(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c, d, _ = logos(store)
        store.set_neighbours(a, [b, c], [0.1, 0.2])
        store.set_neighbours(b, [c], [0.1])
        store.set_neighbours(d, [a], [0.3])
        assert notes.citing_logos([c]) == [a, b]
        assert notes.citing_logos([a, b]) == [a, d]
        assert notes.citing_logos([d]) == []
        # many ids at once (past any per-statement cap), unknown and repeated ones among them
        many = [*range(10**6, 10**6 + 1200), c, a, c]
        assert notes.citing_logos(many) == [a, b, d] and notes.citing_logos([]) == []

    def test_one_prediction_per_logo_replaced(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c, *_ = logos(store)
        votes = {"support": 2, "annotated": 3}
        notes.put_predictions(
            [Prediction(a, "brand", "coca-cola", 0.8, 0.9, votes), Prediction(b, "store", None, 0.5, None, {})]
        )
        notes.put_predictions([Prediction(a, "brand", "pepsi", 0.6, 0.7, votes)])
        got = notes.get_predictions([a, b, c])
        assert sorted(got) == [a, b]
        assert (got[a].value, got[a].confidence, got[a].precision, got[a].votes) == ("pepsi", 0.6, 0.7, votes)
        assert got[b].precision is None and got[a].updated_at
        notes.put_predictions([], remove=[b])
        assert list(notes.get_predictions([a, b])) == [a]

    def test_list_predictions_filters_and_pages(self, store: MetadataStore, notes: AnnotationStore) -> None:
        ids = logos(store)
        notes.put_predictions([Prediction(i, "brand", f"v{i % 2}", 0.5, 0.2 * n, {}) for n, i in enumerate(ids)])
        page = notes.list_predictions(count=2)
        assert [p.logo_id for p in page] == ids[:2]
        assert [p.logo_id for p in notes.list_predictions(after=page[-1].logo_id, count=10)] == ids[2:]
        assert [p.logo_id for p in notes.list_predictions(min_precision=0.5)] == ids[3:]
        assert {p.value for p in notes.list_predictions(type="brand", value="v1")} == {"v1"}
        assert notes.list_predictions(type="store") == []

    def test_prediction_of_a_missing_logo_is_not_stored(self, store: MetadataStore, notes: AnnotationStore) -> None:
        (a,) = logos(store, count=1)
        notes.put_predictions([Prediction(a + 99, "brand", "x", 0.5, None, {})])
        assert notes.get_predictions([a + 99]) == {}

    def test_prediction_goes_with_its_logo(self, store: MetadataStore, notes: AnnotationStore) -> None:
        image, _ = store.upsert_image(ObjectRef("bucket", "gone.jpg", "1"), None, None)
        (logo,) = store.record_detections(image.id, 10, 10, DETECTIONS[:1], "det-1")
        notes.put_predictions([Prediction(logo.id, "brand", "x", 0.5, None, {})])
        store.delete_logos_of_image(image.id)
        assert notes.get_predictions([logo.id]) == {}

    def test_iterations_and_calibration_runs(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c, *_ = logos(store)
        store.set_neighbours(b, [a], [0.1])
        store.set_neighbours(c, [a], [0.1])
        notes.write_labels([label(a), label(c)], "alice", "annotate")
        assert notes.logos_with_neighbours() == [b, c] and notes.logos_with_neighbours(after=b) == [c]
        assert notes.count_logos_with_neighbours() == 2
        assert [(i, n.value) for i, n in notes.annotated_logos()] == [(a, "Coca Cola"), (c, "Coca Cola")]
        assert notes.latest_calibration() is None
        first = notes.save_calibration({"target_precision": 0.95, "samples": 2, "thresholds": {"brand": 0.5}})
        second = notes.save_calibration({"target_precision": 0.9, "samples": 3, "thresholds": {}})
        latest = notes.latest_calibration()
        assert second > first and latest is not None
        assert (latest["id"], latest["target_precision"], latest["samples"]) == (second, 0.9, 3)
