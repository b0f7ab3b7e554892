"""Predicted labels (one row per logo, replaced on each re-vote), calibration runs, and the
reverse neighbour lookup that tells which logos a changed annotation must re-vote.

The reverse lookup reads the stored ``nearest_neighbors`` documents themselves, so it can never
drift from them. The ids asked go in as one JSON array, one statement for any number of them:
SQLite walks ``json_each`` over every ``logo_ids`` array once (about 0.15 s at 100k logos); in
PostgreSQL each id is ``nearest_neighbors -> 'logo_ids' @> '[id]'``, answered by a GIN index
(migration 3). A statement per 500 ids (SQLite) or per id (PostgreSQL) made reverting a
4,272-logo operation at 100k logos take seconds (``bench/annotation.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import Database, utc_now
from common.adapters.sql.records import load_json
from common.adapters.sql.tx import Tx
from common.records.annotations import NONE, Annotation, Prediction

PREDICTION_COLUMNS = "logo_id, label_type, label_value, confidence, precision_estimate, votes, updated_at"


class SqlPredictions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def citing_logos(self, logo_ids: Sequence[int]) -> list[int]:
        wanted = list(dict.fromkeys(int(i) for i in logo_ids))
        if not wanted:
            return []
        if self.db.name == "postgresql":  # the GIN index answers each id, all in one statement
            sql = (
                "SELECT DISTINCT l.id FROM jsonb_array_elements(CAST(? AS jsonb)) w(v)"
                " JOIN logo l ON l.nearest_neighbors -> 'logo_ids' @> jsonb_build_array(w.v)"
            )
        else:  # one pass over the lists, whatever the number of ids
            sql = (
                "SELECT DISTINCT l.id FROM logo l, json_each(l.nearest_neighbors, '$.logo_ids') j"
                " WHERE l.nearest_neighbors IS NOT NULL AND j.value IN (SELECT value FROM json_each(?))"
            )
        found = {int(row[0]) for row in self.db.run(lambda tx: tx.rows(sql, json.dumps(wanted)), write=False)}
        return sorted(found)

    def put_predictions(self, predictions: Sequence[Prediction], remove: Sequence[int] = ()) -> None:
        upsert = (
            f"INSERT INTO logo_prediction ({PREDICTION_COLUMNS})"
            f" SELECT ?, ?, ?, ?, ?, {self.db.json_param}, ? WHERE EXISTS (SELECT 1 FROM logo WHERE id = ?)"
            " ON CONFLICT (logo_id) DO UPDATE SET label_type = excluded.label_type,"
            " label_value = excluded.label_value, confidence = excluded.confidence,"
            " precision_estimate = excluded.precision_estimate, votes = excluded.votes,"
            " updated_at = excluded.updated_at"
        )

        def work(tx: Tx) -> None:
            now = self.db.to_ts(utc_now())
            for p in predictions:
                precision = None if p.precision is None else float(p.precision)
                votes = json.dumps(p.votes)
                tx.exec(upsert, int(p.logo_id), p.type, p.value, float(p.confidence), precision, votes, now, p.logo_id)
            tx.rows_in("DELETE FROM logo_prediction WHERE logo_id IN {ids}", [int(i) for i in remove])

        if predictions or remove:
            self.db.run(work, write=True)

    def get_predictions(self, logo_ids: Sequence[int]) -> dict[int, Prediction]:
        sql = f"SELECT {PREDICTION_COLUMNS} FROM logo_prediction WHERE logo_id IN {{ids}}"
        ids = list(dict.fromkeys(int(i) for i in logo_ids))
        rows = self.db.run(lambda tx: tx.rows_in(sql, ids), write=False)
        return {int(row[0]): self._prediction(row) for row in rows}

    def list_predictions(
        self,
        type: str | None = None,
        value: str | None = None,
        min_precision: float | None = None,
        after: int = 0,
        count: int = 100,
    ) -> list[Prediction]:
        clauses: list[str] = ["logo_id > ?"]
        params: list[Any] = [int(after)]
        for clause, param in (("label_type = ?", type), ("label_value = ?", value)):
            if param is not None:
                clauses.append(clause)
                params.append(param)
        if min_precision is not None:
            clauses.append("precision_estimate >= ?")
            params.append(float(min_precision))
        sql = f"SELECT {PREDICTION_COLUMNS} FROM logo_prediction WHERE {' AND '.join(clauses)} ORDER BY logo_id LIMIT ?"
        rows = self.db.run(lambda tx: tx.rows(sql, *params, int(count)), write=False)
        return [self._prediction(row) for row in rows]

    def logos_with_neighbours(self, after: int = 0, count: int = 1000) -> list[int]:
        sql = "SELECT id FROM logo WHERE id > ? AND nearest_neighbors IS NOT NULL ORDER BY id LIMIT ?"
        return [int(row[0]) for row in self.db.run(lambda tx: tx.rows(sql, int(after), int(count)), write=False)]

    def count_logos_with_neighbours(self) -> int:
        sql = "SELECT count(*) FROM logo WHERE nearest_neighbors IS NOT NULL"
        return int(self.db.run(lambda tx: tx.rows(sql), write=False)[0][0])

    def annotated_logos(self, after: int = 0, count: int = 10_000) -> list[tuple[int, Annotation]]:
        sql = (
            "SELECT id, annotation_type, annotation_value, annotation_value_tag, taxonomy_value, username, completed_at"
            " FROM logo WHERE id > ? AND annotation_type IS NOT NULL ORDER BY id LIMIT ?"
        )
        rows = self.db.run(lambda tx: tx.rows(sql, int(after), int(count)), write=False)
        return [(int(row[0]), self._annotation(row[1:])) for row in rows]

    def save_calibration(self, report: dict[str, Any]) -> int:
        sql = (
            "INSERT INTO calibration (created_at, target_precision, sample_count, report)"
            f" VALUES (?, ?, ?, {self.db.json_param}) RETURNING id"
        )

        def work(tx: Tx) -> int:
            row = tx.one(
                sql,
                self.db.to_ts(utc_now()),
                float(report["target_precision"]),
                int(report["samples"]),
                json.dumps(report),
            )
            assert row is not None
            return int(row[0])

        return self.db.run(work, write=True)

    def latest_calibration(self) -> dict[str, Any] | None:
        sql = "SELECT id, created_at, report FROM calibration ORDER BY id DESC LIMIT 1"
        row = self.db.run(lambda tx: tx.one(sql), write=False)
        if row is None:
            return None
        report: dict[str, Any] = load_json(row[2])
        return {**report, "id": int(row[0]), "created_at": self.db.from_ts(row[1])}

    def _prediction(self, row: Sequence[Any]) -> Prediction:
        logo_id, kind, value, confidence, precision, votes, updated = row
        return Prediction(
            int(logo_id),
            str(kind),
            value,
            float(confidence),
            None if precision is None else float(precision),
            load_json(votes),
            self.db.from_ts(updated),
        )

    def _annotation(self, row: Sequence[Any]) -> Annotation:
        kind, value, tag, taxonomy, user, at = row
        if kind is None and value is None:
            return NONE
        return Annotation(kind, value, tag, taxonomy, user, None if at is None else self.db.from_ts(at))
