"""``BackfillStore`` in SQL: the ``backfill_cursor`` and ``backfill_failure`` tables (schema v4).

``advance`` moves the cursor and its counters in one transaction per object, so a backfill
stopped at any moment resumes after the last object it recorded, counting nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import Database, utc_now
from common.adapters.sql.tx import Tx
from common.errors import ConfigError
from common.records.imports import BackfillCursor

COLUMNS = "name, bucket, prefix, since, last_object, processed, skipped, failed, started_at, updated_at, finished_at"
OUTCOMES = ("processed", "skipped", "failed")


class SqlBackfills:
    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def of(cls, store: object) -> SqlBackfills:
        db = getattr(store, "db", None)
        if not isinstance(db, Database):
            raise ConfigError(f"a backfill needs a SQL metadata store, not {type(store).__name__}")
        return cls(db)

    def cursor(self, name: str) -> BackfillCursor | None:
        row = self.db.run(lambda tx: tx.one(f"SELECT {COLUMNS} FROM backfill_cursor WHERE name = ?", name), False)
        return self._cursor(row) if row else None

    def begin(self, name: str, bucket: str, prefix: str, since: str | None, restart: bool = False) -> BackfillCursor:
        def work(tx: Tx) -> None:
            now = self.db.to_ts(utc_now())
            if restart:
                tx.exec("DELETE FROM backfill_cursor WHERE name = ?", name)
                tx.exec("DELETE FROM backfill_failure WHERE name = ?", name)
            tx.exec(
                "INSERT INTO backfill_cursor (name, bucket, prefix, since, started_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET finished_at = NULL, updated_at = ?",
                name, bucket, prefix, since, now, now, now,
            )  # fmt: skip

        self.db.run(work, write=True)
        found = self.cursor(name)
        assert found is not None
        return found

    def advance(self, name: str, last_object: str, outcome: str, reason: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")

        def work(tx: Tx) -> None:
            now = self.db.to_ts(utc_now())
            tx.exec(
                f"UPDATE backfill_cursor SET last_object = ?, {outcome} = {outcome} + 1, updated_at = ? WHERE name = ?",
                last_object, now, name,
            )  # fmt: skip
            if outcome == "failed":
                tx.exec(
                    "INSERT INTO backfill_failure (name, object_name, reason, created_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (name, object_name) DO UPDATE SET reason = excluded.reason",
                    name, last_object, (reason or "unknown")[:2000], now,
                )  # fmt: skip

        self.db.run(work, write=True)

    def finish(self, name: str) -> BackfillCursor:
        sql = "UPDATE backfill_cursor SET finished_at = ?, updated_at = ? WHERE name = ?"
        self.db.run(lambda tx: tx.exec(sql, *[self.db.to_ts(utc_now())] * 2, name), write=True)
        found = self.cursor(name)
        assert found is not None
        return found

    def failures(self, name: str, limit: int = 20) -> list[tuple[str, str]]:
        sql = "SELECT object_name, reason FROM backfill_failure WHERE name = ? ORDER BY object_name LIMIT ?"
        return [(str(o), str(r)) for o, r in self.db.run(lambda tx: tx.rows(sql, name, int(limit)), write=False)]

    def _cursor(self, row: Sequence[Any]) -> BackfillCursor:
        name, bucket, prefix, since, last, processed, skipped, failed, started, updated, finished = row
        return BackfillCursor(
            str(name), str(bucket), str(prefix), since, str(last), int(processed), int(skipped), int(failed),
            self.db.from_ts(started), self.db.from_ts(updated), None if finished is None else self.db.from_ts(finished),
        )  # fmt: skip
