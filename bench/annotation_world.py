"""A labelled set served by the real API: SQLite store, the default embedded index, stored
neighbour lists, and the Flask app over them (the annotation benchmark's world).

Every logo of a set is stored with its vector (one image per ``PER_IMAGE`` logos), indexed by the
configured default index (caught up from the store as the server does), and given its 10 nearest
neighbours from that index, as ``embed_index`` stores them. The person's requests go through the
WSGI app with a service token (a verified identity), so each is one request of the real routes.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.propagation_data import kind_of
from common.adapters.sqlite_store import SqliteStore
from common.api import create_app
from common.bootstrap import Container
from common.domain import Box, Detection, ObjectRef
from common.records.logos import NeighbourList
from common.settings import load_settings

PER_IMAGE = 500
K = 10
TOKEN = "bench-token"


@dataclasses.dataclass
class World:
    container: Container
    client: Any
    ids: list[int]  # logo id of row i
    kinds: list[int]  # true kind of row i
    truth: dict[int, tuple[str, str]]  # logo id -> (type, value) as a person would type it
    build_s: float

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = self.client.open(url, method=method, headers=headers, **kwargs)
        if response.status_code >= 500:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response

    def close(self) -> None:
        self.container.store.close()


def build(vectors: np.ndarray, kinds: list[int], home: Path, **settings: Any) -> World:
    started = time.perf_counter()
    home.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(home / "logo-ann.sqlite3")
    ids: list[int] = []
    for start in range(0, len(vectors), PER_IMAGE):
        image, _ = store.upsert_image(ObjectRef("bench", f"set-{start}.jpg", "1"), 1, "image/jpeg")
        rows = min(PER_IMAGE, len(vectors) - start)
        boxes = [Detection(Box(0.1, 0.1, 0.5, 0.5), 0.9, "logo")] * rows
        ids += [logo.id for logo in store.record_detections(image.id, 1000, 1000, boxes, "bench")]
    for start in range(0, len(ids), 5000):
        store.save_embeddings(ids[start : start + 5000], vectors[start : start + 5000], "bench", "robotoff-v1")
    config = load_settings({}, home=home, api_token=TOKEN, token_user="bench", **settings)
    container = Container(config, store=store)
    index = container.index
    lists = []
    for row, logo_id in enumerate(ids):
        found = index.search(vectors[row], K, exclude=logo_id)
        lists.append(
            NeighbourList(logo_id, tuple(n.logo_id for n in found), tuple(round(n.distance, 6) for n in found))
        )
        if len(lists) == 5000:
            store.set_neighbours_many(lists)
            lists = []
    store.set_neighbours_many(lists)
    truth = {logo_id: _typed(kind_of(kinds[row])) for row, logo_id in enumerate(ids)}
    client = create_app(container).test_client()
    return World(container, client, ids, list(kinds), truth, time.perf_counter() - started)


def _typed(key: tuple[str, str]) -> tuple[str, str]:
    kind, value = key
    return kind, value
