"""Annotation operations (one per write, so it can be reverted), negatives and per-value counts.

Each write opens one ``annotation_operation`` row in its transaction; every history entry it
appends carries that id. The revert rule: a logo is restored to the ``before`` of the
operation's entry for it only when no later entry exists for that logo (otherwise someone
changed it since: it is skipped and listed). Negatives carry the id of the operation that last
marked them; a revert removes those still carrying its id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import utc_now
from common.adapters.sql.predictions import SqlPredictions
from common.adapters.sql.records import load_json
from common.adapters.sql.tx import Tx
from common.errors import NotFoundError
from common.records.annotations import REJECT, REVERT, Annotation, Applied, Negative, Operation, Reverted, ValueCount

ANNOTATION_COLUMNS = "annotation_type, annotation_value, annotation_value_tag, taxonomy_value, username, completed_at"
SET_LABEL = (
    "UPDATE logo SET annotation_type = ?, annotation_value = ?, annotation_value_tag = ?, taxonomy_value = ?,"
    " username = ?, completed_at = ? WHERE id = ?"
)
CANONICAL = "COALESCE(taxonomy_value, annotation_value_tag, '')"


class SqlOperations(SqlPredictions):
    # --- operations -----------------------------------------------------------------------
    def _open_operation(self, tx: Tx, username: str, action: str, params: dict[str, Any] | None) -> int:
        sql = (
            "INSERT INTO annotation_operation (username, action, created_at, params, changed)"
            f" VALUES (?, ?, ?, {self.db.json_param}, 0) RETURNING id"
        )
        row = tx.one(sql, username, action, self.db.to_ts(utc_now()), json.dumps(params or {}))
        assert row is not None
        return int(row[0])

    def _close_operation(self, tx: Tx, operation_id: int, changed: int) -> None:
        tx.exec("UPDATE annotation_operation SET changed = ? WHERE id = ?", int(changed), int(operation_id))

    def _lock_annotation(self, tx: Tx, logo_id: int) -> Annotation:
        row = tx.one(f"SELECT {ANNOTATION_COLUMNS} FROM logo WHERE id = ?{self.db.lock_row}", int(logo_id))
        if row is None:
            raise NotFoundError(f"logo {logo_id} does not exist")
        return self._annotation(row)

    def _record(
        self, tx: Tx, logo_id: int, username: str, action: str, now: Any, docs: tuple[Any, Any], operation: int
    ) -> None:
        before, after = docs
        tx.exec(
            "INSERT INTO annotation_history (logo_id, username, changed_at, action, before, after, operation_id)"
            f" VALUES (?, ?, ?, ?, {self.db.json_param}, {self.db.json_param}, ?)",
            int(logo_id),
            username,
            now,
            action,
            None if before is None else json.dumps(before),
            None if after is None else json.dumps(after),
            int(operation),
        )

    def get_operation(self, operation_id: int) -> Operation | None:
        def work(tx: Tx) -> Operation | None:
            row = tx.one(
                "SELECT id, username, action, created_at, params, changed FROM annotation_operation WHERE id = ?",
                int(operation_id),
            )
            if row is None:
                return None
            logos = tx.rows("SELECT logo_id FROM annotation_history WHERE operation_id = ? ORDER BY id", row[0])
            marked = tx.rows("SELECT logo_id FROM logo_negative WHERE operation_id = ? ORDER BY logo_id", row[0])
            ids = list(dict.fromkeys(int(r[0]) for r in logos + marked))
            params = load_json(row[4]) or {}
            return Operation(int(row[0]), str(row[1]), str(row[2]), self.db.from_ts(row[3]), params, int(row[5]), ids)

        return self.db.run(work, write=False)

    def list_operations(self, before: int | None, count: int, sample: int = 12) -> list[Operation]:
        """Operations newest first (ids below ``before``), each with up to ``sample`` of its logos."""
        where, params = ("WHERE id < ?", [int(before)]) if before is not None else ("", [])
        sql = f"SELECT id, username, action, created_at, params, changed FROM annotation_operation {where}"
        touched = (
            "SELECT logo_id FROM annotation_history WHERE operation_id = ? UNION"
            " SELECT logo_id FROM logo_negative WHERE operation_id = ? ORDER BY 1 LIMIT ?"
        )

        def work(tx: Tx) -> list[Operation]:
            out = []
            for row in tx.rows(f"{sql} ORDER BY id DESC LIMIT ?", *params, int(count)):
                ids = [int(r[0]) for r in tx.rows(touched, row[0], row[0], int(sample))]
                params_ = load_json(row[4]) or {}
                out.append(
                    Operation(int(row[0]), str(row[1]), str(row[2]), self.db.from_ts(row[3]), params_, int(row[5]), ids)
                )
            return out

        return self.db.run(work, write=False)

    def used_values(self, kind: str | None, contains: str, count: int) -> list[tuple[str, str, str, int]]:
        """Values already annotated whose tag or taxonomy id contains ``contains`` (a tag), most used
        first: ``(type, canonical value, a spelling people used, logos)``."""
        where, params = ["annotation_value_tag IS NOT NULL"], []
        if kind is not None:
            where.append("annotation_type = ?")
            params.append(kind)
        if contains:
            where.append(f"(annotation_value_tag LIKE ? OR {CANONICAL} LIKE ?)")
            pattern = "%" + contains.replace("%", "").replace("_", "") + "%"
            params += [pattern, pattern]
        sql = (
            f"SELECT annotation_type, {CANONICAL}, MIN(annotation_value), count(*) FROM logo"
            f" WHERE {' AND '.join(where)} GROUP BY annotation_type, {CANONICAL} ORDER BY 4 DESC, 2 LIMIT ?"
        )
        rows = self.db.run(lambda tx: tx.rows(sql, *params, int(count)), write=False)
        return [(str(k), str(c), str(v or c), int(n)) for k, c, v, n in rows]

    def revert(self, operation_id: int, username: str) -> Reverted:
        def work(tx: Tx) -> Reverted:
            if tx.one("SELECT id FROM annotation_operation WHERE id = ?", int(operation_id)) is None:
                raise NotFoundError(f"operation {operation_id} does not exist")
            revert_id = self._open_operation(tx, username, REVERT, {"operation_id": int(operation_id)})
            entries = tx.rows(
                "SELECT h.id, h.logo_id, h.before FROM annotation_history h WHERE h.operation_id = ? ORDER BY h.id",
                int(operation_id),
            )
            now = self.db.to_ts(utc_now())
            restored: list[int] = []
            skipped: list[int] = []
            for entry_id, logo_id, before in entries:
                later = tx.one(
                    "SELECT id FROM annotation_history WHERE logo_id = ? AND id > ? LIMIT 1", logo_id, entry_id
                )
                if later is not None:
                    skipped.append(int(logo_id))
                    continue
                self._restore(tx, int(logo_id), load_json(before), username, now, revert_id)
                restored.append(int(logo_id))
            marked = tx.rows("SELECT logo_id FROM logo_negative WHERE operation_id = ?", int(operation_id))
            tx.exec("DELETE FROM logo_negative WHERE operation_id = ?", int(operation_id))
            restored += [int(r[0]) for r in marked]
            self._close_operation(tx, revert_id, len(restored))
            return Reverted(revert_id, int(operation_id), sorted(set(restored)), sorted(set(skipped)))

        return self.db.run(work, write=True)

    def _restore(self, tx: Tx, logo_id: int, before: dict[str, Any] | None, username: str, now: Any, op: int) -> None:
        current = self._lock_annotation(tx, logo_id)
        doc = before or {}
        user, at = doc.get("username"), doc.get("completed_at")
        when = None if doc.get("type") is None else (self.db.to_ts(dt.datetime.fromisoformat(at)) if at else now)
        fields = [doc.get(k) for k in ("type", "value", "value_tag", "taxonomy_value")]
        tx.exec(SET_LABEL, *fields, user if doc.get("type") is not None else None, when, logo_id)
        self._record(tx, logo_id, username, REVERT, now, (self._doc(current), before), op)

    @staticmethod
    def _doc(annotation: Annotation) -> dict[str, Any] | None:
        if not annotation.annotated:
            return None
        return {**annotation.fields(), "username": annotation.username, "completed_at": annotation.completed_at}

    # --- negatives ------------------------------------------------------------------------
    def add_negatives(self, negatives: Sequence[Negative], username: str, action: str = REJECT) -> Applied:
        upsert = (
            "INSERT INTO logo_negative (logo_id, label_type, label_value, username, created_at, operation_id)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (logo_id, label_type, label_value)"
            " DO UPDATE SET operation_id = excluded.operation_id,"
            " username = excluded.username, created_at = excluded.created_at"
        )

        def work(tx: Tx) -> Applied:
            params = {"negatives": [[n.logo_id, n.type, n.value] for n in negatives]}
            op = self._open_operation(tx, username, action, params)
            now = self.db.to_ts(utc_now())
            changed = []
            for n in negatives:
                self._lock_annotation(tx, n.logo_id)  # unknown logo: NotFoundError, nothing written
                if tx.exec(upsert, int(n.logo_id), n.type, n.value, username, now, op):
                    changed.append(int(n.logo_id))
            self._close_operation(tx, op, len(changed))
            return Applied(op, changed)

        return self.db.run(work, write=True)

    def negatives_of(self, logo_ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
        sql = "SELECT logo_id, label_type, label_value FROM logo_negative WHERE logo_id IN {ids}"
        found: dict[int, set[tuple[str, str]]] = {}
        ids = list(dict.fromkeys(int(i) for i in logo_ids))
        for logo_id, kind, value in self.db.run(lambda tx: tx.rows_in(sql, ids), write=False):
            found.setdefault(int(logo_id), set()).add((str(kind), str(value)))
        return found

    def logos_negative_for(self, kind: str, value: str) -> set[int]:
        sql = "SELECT logo_id FROM logo_negative WHERE label_type = ? AND label_value = ?"
        return {int(row[0]) for row in self.db.run(lambda tx: tx.rows(sql, kind, value), write=False)}

    # --- progress per value ---------------------------------------------------------------
    def value_counts(
        self, kind: str | None, after: tuple[str, str] | None, count: int, thresholds: dict[str, float]
    ) -> list[ValueCount]:
        where, params = ["annotation_type IS NOT NULL"], []
        if kind is not None:
            where.append("annotation_type = ?")
            params.append(kind)
        having = ""
        if after is not None:
            having = f" HAVING (annotation_type > ? OR (annotation_type = ? AND {CANONICAL} > ?))"
            params += [after[0], after[0], after[1]]
        sql = (
            f"SELECT annotation_type, {CANONICAL}, count(*) FROM logo WHERE {' AND '.join(where)}"
            f" GROUP BY annotation_type, {CANONICAL}{having} ORDER BY 1, 2 LIMIT ?"
        )
        predicted = (
            "SELECT label_value, count(*), SUM(CASE WHEN confidence >= ? THEN 1 ELSE 0 END) FROM logo_prediction"
            " WHERE label_type = ? AND label_value = ? GROUP BY label_value"
        )

        def work(tx: Tx) -> list[ValueCount]:
            out = []
            for kind_, value, annotated in tx.rows(sql, *params, int(count)):
                cut = thresholds.get(str(kind_), 2.0)  # no threshold: nothing is accepted
                row = tx.one(predicted, float(cut), kind_, value)
                total, accepted = (0, 0) if row is None else (int(row[1]), int(row[2] or 0))
                out.append(ValueCount(str(kind_), str(value), int(annotated), accepted, total - accepted))
            return out

        return self.db.run(work, write=False)
