"""``AnnotationStore`` over the SQL database of the metadata store (SQLite and PostgreSQL).

A label write locks the logo row (``FOR UPDATE`` in PostgreSQL, the write lock of ``BEGIN
IMMEDIATE`` in SQLite), compares, updates and appends its history entry in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import Database, Tx, utc_now
from common.adapters.sql.predictions import SqlPredictions
from common.adapters.sql.records import load_json
from common.errors import NotFoundError
from common.ports.annotation_store import Annotation, HistoryEntry, LabelWrite, LogoQuery

ANNOTATION_COLUMNS = "annotation_type, annotation_value, annotation_value_tag, taxonomy_value, username, completed_at"
SET_LABEL = (
    "UPDATE logo SET annotation_type = ?, annotation_value = ?, annotation_value_tag = ?, taxonomy_value = ?,"
    " username = ?, completed_at = ? WHERE id = ?"
)


class SqlAnnotations(SqlPredictions):
    def __init__(self, db: Database) -> None:
        super().__init__(db)

    def get_annotations(self, logo_ids: Sequence[int]) -> dict[int, Annotation]:
        sql = f"SELECT id, {ANNOTATION_COLUMNS} FROM logo WHERE id IN {{ids}}"
        rows = self.db.run(lambda tx: tx.rows_in(sql, _distinct(logo_ids)), write=False)
        return {int(row[0]): self._annotation(row[1:]) for row in rows}

    def write_labels(
        self, writes: Sequence[LabelWrite], username: str, action: str, skip_annotated: bool = False
    ) -> list[int]:
        def work(tx: Tx) -> list[int]:
            changed: list[int] = []
            now = self.db.to_ts(utc_now())
            for write in writes:
                before = self._lock_annotation(tx, write.logo_id)
                if skip_annotated and before.annotated:
                    continue
                if self._apply(tx, write, before, username, action, now):
                    changed.append(write.logo_id)
            return changed

        return self.db.run(work, write=True)

    def relabel(self, source_type: str, source_tag: str | None, target: LabelWrite, username: str) -> list[int]:
        def work(tx: Tx) -> list[int]:
            value = "annotation_value_tag IS NULL" if source_tag is None else "annotation_value_tag = ?"
            params = [source_type] if source_tag is None else [source_type, source_tag]
            sql = f"SELECT id FROM logo WHERE annotation_type = ? AND {value} ORDER BY id{self.db.lock_row}"
            rows = tx.rows(sql, *params)
            now = self.db.to_ts(utc_now())
            changed = []
            for (logo_id,) in rows:
                write = LabelWrite(int(logo_id), target.type, target.value, target.value_tag, target.taxonomy_value)
                if self._apply(tx, write, self._lock_annotation(tx, int(logo_id)), username, "relabel", now):
                    changed.append(int(logo_id))
            return changed

        return self.db.run(work, write=True)

    def history(self, logo_id: int) -> list[HistoryEntry]:
        sql = (
            "SELECT id, logo_id, username, changed_at, action, before, after FROM annotation_history"
            " WHERE logo_id = ? ORDER BY id"
        )
        rows = self.db.run(lambda tx: tx.rows(sql, int(logo_id)), write=False)
        return [
            HistoryEntry(
                int(id_), int(logo), str(user), self.db.from_ts(at), str(action), load_json(before), load_json(after)
            )
            for id_, logo, user, at, action, before, after in rows
        ]

    def search_logos(self, query: LogoQuery) -> tuple[list[int], int]:
        where, params = _search_filter(query)
        order = "random()" if query.random else "l.id"
        found = f"SELECT l.id FROM logo l WHERE {where} ORDER BY {order} LIMIT ?"
        total = f"SELECT count(*) FROM logo l WHERE {where}"

        def work(tx: Tx) -> tuple[list[int], int]:
            ids = [int(row[0]) for row in tx.rows(found, *params, int(query.count))]
            return ids, int(tx.rows(total, *params)[0][0])

        return self.db.run(work, write=False)

    # --- helpers ------------------------------------------------------------------------
    def _lock_annotation(self, tx: Tx, logo_id: int) -> Annotation:
        row = tx.one(f"SELECT {ANNOTATION_COLUMNS} FROM logo WHERE id = ?{self.db.lock_row}", int(logo_id))
        if row is None:
            raise NotFoundError(f"logo {logo_id} does not exist")
        return self._annotation(row)

    def _apply(self, tx: Tx, write: LabelWrite, before: Annotation, username: str, action: str, now: Any) -> bool:
        after = Annotation(write.type, write.value, write.value_tag, write.taxonomy_value)
        if after.fields() == before.fields():
            return False
        user, at = (None, None) if write.type is None else (username, now)
        tx.exec(SET_LABEL, write.type, write.value, write.value_tag, write.taxonomy_value, user, at, write.logo_id)
        after_doc = {**after.fields(), "username": user} if write.type is not None else None
        before_doc = {**before.fields(), "username": before.username} if before.annotated else None
        tx.exec(
            "INSERT INTO annotation_history (logo_id, username, changed_at, action, before, after)"
            f" VALUES (?, ?, ?, ?, {self.db.json_param}, {self.db.json_param})",
            write.logo_id,
            username,
            now,
            action,
            None if before_doc is None else json.dumps(before_doc),
            None if after_doc is None else json.dumps(after_doc),
        )
        return True


def _search_filter(query: LogoQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    for column, value in (
        ("l.annotation_type", query.type),
        ("l.annotation_value_tag", query.value_tag),
        ("l.taxonomy_value", query.taxonomy_value),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.annotated is not None:
        clauses.append("l.annotation_type IS NOT NULL" if query.annotated else "l.annotation_type IS NULL")
    if query.min_confidence is not None:
        clauses.append("l.score >= ?")
        params.append(float(query.min_confidence))
    if query.barcode is not None:
        clauses.append("EXISTS (SELECT 1 FROM image i WHERE i.id = l.image_id AND i.barcode = ?)")
        params.append(query.barcode)
    return " AND ".join(clauses), params


def _distinct(ids: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(int(i) for i in ids))
