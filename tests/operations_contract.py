"""Contract tests of operations, revert, negatives, per-value counts and the quests' cluster store
(SQLite and PostgreSQL run the same ones). A module subclasses ``OperationsContract`` and
provides ``store``, ``notes`` and ``quests`` on one database."""

from __future__ import annotations

import pytest

from common.errors import NotFoundError
from common.ports.annotation_store import AnnotationStore
from common.ports.metadata_store import MetadataStore
from common.ports.quest_store import QuestStore
from common.records.annotations import Negative
from common.records.quests import ClusterWrite
from tests.annotation_contract import label, logos


class OperationsContract:
    def test_each_write_is_one_operation_in_the_history(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c = logos(store, count=3)
        first = notes.apply_labels([label(a), label(b)], "alice", "annotate")
        second = notes.apply_labels([label(c)], "bob", "annotate")
        assert first.changed == [a, b] and second.operation_id > first.operation_id
        assert [e.operation_id for e in notes.history(a)] == [first.operation_id]
        op = notes.get_operation(first.operation_id)
        assert op is not None and (op.username, op.action, op.changed, op.logo_ids) == ("alice", "annotate", 2, [a, b])
        assert notes.get_operation(second.operation_id + 100) is None

    def test_revert_restores_the_state_before_and_skips_logos_changed_since(
        self, store: MetadataStore, notes: AnnotationStore
    ) -> None:
        a, b, c = logos(store, count=3)
        notes.apply_labels([label(a, "store", "Lidl")], "carol", "annotate")
        op = notes.apply_labels([label(a), label(b), label(c)], "alice", "update")
        notes.apply_labels([label(c, "brand", "Pepsi")], "bob", "update")  # c changed since
        undone = notes.revert(op.operation_id, "dave")
        assert (undone.reverted, undone.restored, undone.skipped) == (op.operation_id, [a, b], [c])
        got = notes.get_annotations([a, b, c])
        assert (got[a].type, got[a].value, got[a].username) == ("store", "Lidl", "carol")  # as before, by carol
        assert not got[b].annotated and got[c].value == "Pepsi"
        assert notes.history(a)[-1].action == "revert" and notes.history(a)[-1].username == "dave"
        # reverting twice restores nothing more: the revert itself changed every logo since
        assert notes.revert(op.operation_id, "dave").restored == []
        # the revert is an operation: reverting it puts a and b back as the operation left them
        again = notes.revert(undone.operation_id, "erin")
        assert again.restored == [a, b]
        assert [notes.get_annotations([i])[i].value for i in (a, b)] == ["Coca Cola", "Coca Cola"]

    def test_revert_of_an_unknown_operation_writes_nothing(self, store: MetadataStore, notes: AnnotationStore) -> None:
        (a,) = logos(store, count=1)
        op = notes.apply_labels([label(a)], "alice", "annotate")
        with pytest.raises(NotFoundError):
            notes.revert(op.operation_id + 1000, "bob")
        assert len(notes.history(a)) == 1

    def test_negatives_are_kept_and_a_revert_removes_them(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c = logos(store, count=3)
        first = notes.add_negatives([Negative(a, "brand", "coca-cola"), Negative(b, "brand", "coca-cola")], "alice")
        notes.add_negatives([Negative(a, "label", "en:organic")], "bob")
        assert first.changed == [a, b]
        assert notes.negatives_of([a, b, c]) == {
            a: {("brand", "coca-cola"), ("label", "en:organic")},
            b: {("brand", "coca-cola")},
        }
        assert notes.logos_negative_for("brand", "coca-cola") == {a, b}
        notes.revert(first.operation_id, "carol")
        assert notes.negatives_of([a, b]) == {a: {("label", "en:organic")}}
        with pytest.raises(NotFoundError):
            notes.add_negatives([Negative(c + 1000, "brand", "x")], "alice")

    def test_value_counts_page_by_type_and_value(self, store: MetadataStore, notes: AnnotationStore) -> None:
        a, b, c, d, _ = logos(store)
        notes.apply_labels([label(a), label(b), label(c, "brand", "Pepsi"), label(d, "store", "Lidl")], "x", "annotate")
        rows = notes.value_counts("brand", None, 10, {})
        assert [(v.value, v.annotated) for v in rows] == [("coca-cola", 2), ("pepsi", 1)]
        every = notes.value_counts(None, None, 10, {})
        assert [(v.type, v.value) for v in every] == [("brand", "coca-cola"), ("brand", "pepsi"), ("store", "lidl")]
        assert [v.value for v in notes.value_counts(None, ("brand", "coca-cola"), 1, {})] == ["pepsi"]

    def test_cluster_store_keeps_ids_members_and_order(self, store: MetadataStore, quests: QuestStore) -> None:
        a, b, c, d, e = logos(store)
        assert not quests.clusters_built()
        big, small = quests.replace_clusters(
            [], [ClusterWrite(None, (a, b, c), b, 0.02), ClusterWrite(None, (d, e), d, 0.01)], full=True
        )
        assert quests.clusters_built() and quests.cluster_ids_of([a, e, 999]) == {a: big, e: small}
        first = quests.list_clusters(2, None, 1)
        assert [(x.id, x.size, x.logo_ids, x.representative_logo_id) for x in first] == [(big, 3, (a, b, c), b)]
        assert [x.id for x in quests.list_clusters(2, (3, big), 5)] == [small]
        assert quests.list_clusters(3, (3, big), 5) == []
        # a kept id takes its new members; a removed cluster lets its members go
        (kept,) = quests.replace_clusters([small], [ClusterWrite(big, (a, b), a, 0.01)])
        assert kept == big and quests.cluster_ids_of([a, c, d]) == {a: big}
        assert quests.get_clusters([big, small]).keys() == {big}
