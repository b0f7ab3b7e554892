"""Stored nearest-neighbour lists (``logo.nearest_neighbors``), written many in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import Database, iso, utc_now
from common.adapters.sql.tx import Tx
from common.errors import NotFoundError
from common.records.logos import NeighbourList


class NeighbourListQueries:
    """Mixed into ``SqlStore``: ``set_neighbours`` and ``set_neighbours_many``."""

    db: Database

    def set_neighbours(self, logo_id: int, logo_ids: Sequence[int], distances: Sequence[float]) -> None:
        self.set_neighbours_many([NeighbourList(logo_id, tuple(logo_ids), tuple(distances))])

    def set_neighbours_many(self, lists: Sequence[NeighbourList]) -> None:
        """Write every list in one transaction; a logo that does not exist is ``NotFoundError``
        and nothing is written."""
        if not lists:
            return
        stamp = iso(utc_now())
        rows: list[tuple[Any, ...]] = []
        for item in lists:
            if len(item.logo_ids) != len(item.distances):
                raise ValueError(f"{len(item.logo_ids)} neighbour ids but {len(item.distances)} distances")
            document = {"logo_ids": [int(i) for i in item.logo_ids], "distances": [float(d) for d in item.distances]}
            rows.append((json.dumps({**document, "updated_at": stamp}), int(item.logo_id)))
        sql = f"UPDATE logo SET nearest_neighbors = {self.db.json_param} WHERE id = ?"

        def work(tx: Tx) -> None:
            for text, logo_id in rows:
                if not tx.exec(sql, text, logo_id):
                    raise NotFoundError(f"logo {logo_id} does not exist")

        self.db.run(work, write=True)
