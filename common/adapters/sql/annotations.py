"""``AnnotationStore`` over the SQL database of the metadata store (SQLite and PostgreSQL).

A label write locks the logo row (``FOR UPDATE`` in PostgreSQL, the write lock of ``BEGIN
IMMEDIATE`` in SQLite), compares, updates and appends its history entry in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import Database, utc_now
from common.adapters.sql.operations import ANNOTATION_COLUMNS, SET_LABEL, SqlOperations
from common.adapters.sql.records import load_json
from common.adapters.sql.tx import Tx
from common.records.annotations import RELABEL, Annotation, Applied, HistoryEntry, LabelWrite, LogoQuery


class SqlAnnotations(SqlOperations):
    def __init__(self, db: Database) -> None:
        super().__init__(db)

    def get_annotations(self, logo_ids: Sequence[int]) -> dict[int, Annotation]:
        sql = f"SELECT id, {ANNOTATION_COLUMNS} FROM logo WHERE id IN {{ids}}"
        rows = self.db.run(lambda tx: tx.rows_in(sql, _distinct(logo_ids)), write=False)
        return {int(row[0]): self._annotation(row[1:]) for row in rows}

    def write_labels(
        self, writes: Sequence[LabelWrite], username: str, action: str, skip_annotated: bool = False
    ) -> list[int]:
        return self.apply_labels(writes, username, action, skip_annotated).changed

    def apply_labels(
        self,
        writes: Sequence[LabelWrite],
        username: str,
        action: str,
        skip_annotated: bool = False,
        params: dict[str, Any] | None = None,
    ) -> Applied:
        def work(tx: Tx) -> Applied:
            op = self._open_operation(tx, username, action, params)
            changed: list[int] = []
            now = self.db.to_ts(utc_now())
            for write in writes:
                before = self._lock_annotation(tx, write.logo_id)
                if skip_annotated and before.annotated:
                    continue
                if self._apply(tx, write, before, username, action, now, op):
                    changed.append(write.logo_id)
            self._close_operation(tx, op, len(changed))
            return Applied(op, changed)

        return self.db.run(work, write=True)

    def relabel(self, source_type: str, source_tag: str | None, target: LabelWrite, username: str) -> list[int]:
        return self.apply_relabel(source_type, source_tag, target, username).changed

    def apply_relabel(self, source_type: str, source_tag: str | None, target: LabelWrite, username: str) -> Applied:
        def work(tx: Tx) -> Applied:
            params = {"source_type": source_type, "source_tag": source_tag, "target": target.value_tag}
            op = self._open_operation(tx, username, RELABEL, params | {"target_type": target.type})
            value = "annotation_value_tag IS NULL" if source_tag is None else "annotation_value_tag = ?"
            args = [source_type] if source_tag is None else [source_type, source_tag]
            sql = f"SELECT id FROM logo WHERE annotation_type = ? AND {value} ORDER BY id{self.db.lock_row}"
            rows = tx.rows(sql, *args)
            now = self.db.to_ts(utc_now())
            changed = []
            for (logo_id,) in rows:
                write = LabelWrite(int(logo_id), target.type, target.value, target.value_tag, target.taxonomy_value)
                if self._apply(tx, write, self._lock_annotation(tx, int(logo_id)), username, RELABEL, now, op):
                    changed.append(int(logo_id))
            self._close_operation(tx, op, len(changed))
            return Applied(op, changed)

        return self.db.run(work, write=True)

    def history(self, logo_id: int) -> list[HistoryEntry]:
        sql = (
            "SELECT id, logo_id, username, changed_at, action, before, after, operation_id FROM annotation_history"
            " WHERE logo_id = ? ORDER BY id"
        )
        rows = self.db.run(lambda tx: tx.rows(sql, int(logo_id)), write=False)
        return [
            HistoryEntry(
                int(id_),
                int(logo),
                str(user),
                self.db.from_ts(at),
                str(action),
                load_json(before),
                load_json(after),
                None if op is None else int(op),
            )
            for id_, logo, user, at, action, before, after, op in rows
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
    def _apply(
        self, tx: Tx, write: LabelWrite, before: Annotation, username: str, action: str, now: Any, op: int
    ) -> bool:
        after = Annotation(write.type, write.value, write.value_tag, write.taxonomy_value)
        if after.fields() == before.fields():
            return False
        user, at = (None, None) if write.type is None else (username, now)
        tx.exec(SET_LABEL, write.type, write.value, write.value_tag, write.taxonomy_value, user, at, write.logo_id)
        after_doc = None
        if write.type is not None:
            after_doc = {**after.fields(), "username": user, "completed_at": self.db.from_ts(now)}
        self._record(tx, write.logo_id, username, action, now, (self._doc(before), after_doc), op)
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
    if query.no_value:
        clauses.append("l.annotation_value_tag IS NULL")
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
