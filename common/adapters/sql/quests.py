"""``QuestStore`` over the SQL database (SQLite and PostgreSQL): ``quest_cluster`` rows and their
members in ``quest_member`` (one row per logo: a logo is in one cluster at most)."""

from __future__ import annotations

from collections.abc import Sequence

from common.adapters.sql.database import Database, utc_now
from common.adapters.sql.tx import Tx
from common.records.quests import Cluster, ClusterWrite

BUILT = "built_at"


class SqlQuests:
    def __init__(self, db: Database) -> None:
        self.db = db

    def clusters_built(self) -> bool:
        row = self.db.run(lambda tx: tx.one("SELECT value FROM quest_state WHERE name = ?", BUILT), write=False)
        return row is not None

    def cluster_ids_of(self, logo_ids: Sequence[int]) -> dict[int, int]:
        sql = "SELECT logo_id, cluster_id FROM quest_member WHERE logo_id IN {ids}"
        ids = list(dict.fromkeys(int(i) for i in logo_ids))
        return {int(a): int(b) for a, b in self.db.run(lambda tx: tx.rows_in(sql, ids), write=False)}

    def get_clusters(self, cluster_ids: Sequence[int]) -> dict[int, Cluster]:
        ids = list(dict.fromkeys(int(i) for i in cluster_ids))
        return self.db.run(lambda tx: self._clusters(tx, ids), write=False)

    def replace_clusters(self, remove: Sequence[int], write: Sequence[ClusterWrite], full: bool = False) -> list[int]:
        def work(tx: Tx) -> list[int]:
            now = self.db.to_ts(utc_now())
            if full:
                tx.exec("DELETE FROM quest_member")
                tx.exec("DELETE FROM quest_cluster")
            gone = sorted({int(i) for i in remove} | {int(c.id) for c in write if c.id is not None})
            tx.rows_in("DELETE FROM quest_member WHERE cluster_id IN {ids}", gone)
            members = sorted({logo for c in write for logo in c.logo_ids})
            tx.rows_in("DELETE FROM quest_member WHERE logo_id IN {ids}", members)
            tx.rows_in("DELETE FROM quest_cluster WHERE id IN {ids}", [i for i in gone])
            written = []
            for c in write:
                cid = self._insert(tx, c, now)
                tx.many(
                    "INSERT INTO quest_member (logo_id, cluster_id) VALUES (?, ?)", [(int(i), cid) for i in c.logo_ids]
                )
                written.append(cid)
            if full:
                tx.exec("DELETE FROM quest_state WHERE name = ?", BUILT)
                tx.exec("INSERT INTO quest_state (name, value) VALUES (?, ?)", BUILT, self.db.from_ts(now))
            return written

        return self.db.run(work, write=True)

    def list_clusters(self, min_size: int, after: tuple[int, int] | None, count: int) -> list[Cluster]:
        where, params = "size >= ?", [int(min_size)]
        if after is not None:
            where += " AND (size < ? OR (size = ? AND id > ?))"
            params += [int(after[0]), int(after[0]), int(after[1])]
        sql = f"SELECT id FROM quest_cluster WHERE {where} ORDER BY size DESC, id LIMIT ?"

        def work(tx: Tx) -> list[Cluster]:
            ids = [int(row[0]) for row in tx.rows(sql, *params, int(count))]
            found = self._clusters(tx, ids)
            return [found[i] for i in ids if i in found]

        return self.db.run(work, write=False)

    # --- helpers ------------------------------------------------------------------------
    def _insert(self, tx: Tx, c: ClusterWrite, now: object) -> int:
        columns = "size, representative_logo_id, radius, updated_at"
        values = [len(c.logo_ids), int(c.representative_logo_id), float(c.radius), now]
        if c.id is not None:
            row = tx.one(
                f"INSERT INTO quest_cluster (id, {columns}) VALUES (?, ?, ?, ?, ?) RETURNING id", c.id, *values
            )
        else:
            row = tx.one(f"INSERT INTO quest_cluster ({columns}) VALUES (?, ?, ?, ?) RETURNING id", *values)
        assert row is not None
        return int(row[0])

    def _clusters(self, tx: Tx, ids: list[int]) -> dict[int, Cluster]:
        heads = tx.rows_in("SELECT id, size, representative_logo_id, radius FROM quest_cluster WHERE id IN {ids}", ids)
        members: dict[int, list[int]] = {}
        for logo_id, cid in tx.rows_in("SELECT logo_id, cluster_id FROM quest_member WHERE cluster_id IN {ids}", ids):
            members.setdefault(int(cid), []).append(int(logo_id))
        return {
            int(cid): Cluster(int(cid), int(size), tuple(sorted(members.get(int(cid), []))), int(rep), float(radius))
            for cid, size, rep, radius in heads
        }
