"""``ElasticsearchIndex``: the cloud ANN index, an Elasticsearch 8.x ``dense_vector`` field.

A versioned concrete index (``logo-v1-512d-int8-hnsw``) sits behind the alias the application
uses (``logo``), so a re-index with other settings can build beside the old one and swap the
alias. Documents are ``{"logo_id": long, "embedding": [float]}`` with ``_id`` = logo id. kNN asks
for ``num_candidates = min(10000, max(minimum, ceil(factor * k)))`` per shard, never the starved
``k + 1``, and excludes the query logo inside the graph search with a ``knn.filter``.

Errors: connection failures, timeouts, 429 and 5xx become ``DependencyError("elasticsearch")``
(retry); other 4xx responses are our bug or our configuration and become ``InternalError``. A bulk
request that fails for any document raises: nothing is dropped silently. A read that some shards
failed (HTTP 200 with ``_shards.failed > 0``) is an error too, never a smaller result. While an
alias spans two indices (a re-index swapping it), reads stay whole: kNN hits are merged by logo id
and ``get_vectors`` reads each index by name (``mget`` refuses an alias over several indices).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import elasticsearch
import numpy as np
from elasticsearch import Elasticsearch

from common.adapters.elasticsearch_responses import (
    DEPENDENCY,
    alias_vanished,
    missing_index,
    raise_for_items,
    translated,
    whole,
)
from common.domain import Neighbour, cosine_to_distance
from common.errors import ConfigError, DependencyError

log = logging.getLogger(__name__)

FIELD = "embedding"
MAX_CANDIDATES = 10_000
BULK_DOCS = 500
PAGE = 10_000


def index_name(alias: str, dim: int, index_type: str, version: int = 1) -> str:
    return f"{alias}-v{version}-{dim}d-{index_type.replace('_', '-')}"


def num_candidates(k: int, minimum: int = 100, factor: float = 2.0) -> int:
    """Candidates per shard: at least ``k``, ``minimum`` and ``factor * k``, at most 10,000."""
    return min(MAX_CANDIDATES, max(k, minimum, math.ceil(factor * k)))


def build_mapping(dim: int, index_type: str = "int8_hnsw", m: int = 16, ef_construction: int = 100) -> dict[str, Any]:
    options: dict[str, Any] = {"type": index_type}
    if index_type.endswith("hnsw"):
        options.update(m=m, ef_construction=ef_construction)
    return {
        "dynamic": "strict",
        "properties": {
            "logo_id": {"type": "long"},
            FIELD: {
                "type": "dense_vector",
                "dims": dim,
                "index": True,
                "similarity": "dot_product",
                "index_options": options,
            },
        },
    }


def build_knn_query(
    vector: np.ndarray | Sequence[float],
    k: int,
    exclude: int | None = None,
    *,
    num_candidates_min: int = 100,
    num_candidates_factor: float = 2.0,
) -> dict[str, Any]:
    """The ``_search`` body for the ``k`` nearest logos, ``exclude`` filtered out during the search."""
    knn: dict[str, Any] = {
        "field": FIELD,
        "query_vector": [float(v) for v in np.asarray(vector, dtype=np.float32).reshape(-1)],
        "k": k,
        "num_candidates": num_candidates(k, num_candidates_min, num_candidates_factor),
    }
    if exclude is not None:
        knn["filter"] = {"bool": {"must_not": [{"term": {"logo_id": int(exclude)}}]}}
    return {"knn": knn, "size": k, "_source": False, "track_total_hits": False}


def score_to_distance(score: float) -> float:
    """ES scores ``dot_product`` as ``(1 + dot) / 2``; on unit vectors dot is the cosine."""
    return cosine_to_distance(2.0 * score - 1.0)


class ElasticsearchIndex:
    """A ``VectorIndex`` on an Elasticsearch 8.x cluster, written and read through an alias."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str = "",
        alias: str = "logo",
        dim: int,
        index_type: str = "int8_hnsw",
        m: int = 16,
        ef_construction: int = 100,
        num_candidates_min: int = 100,
        num_candidates_factor: float = 2.0,
        timeout: float = 10,
        shards: int = 1,
        replicas: int = 0,
        max_retries: int = 3,
        client: Elasticsearch | None = None,
    ) -> None:
        self.alias, self.dim, self.index_type = alias, int(dim), index_type
        self.index = index_name(alias, self.dim, index_type)
        self._mapping = build_mapping(self.dim, index_type, m, ef_construction)
        self._settings = {"number_of_shards": shards, "number_of_replicas": replicas}
        self._candidates = (num_candidates_min, num_candidates_factor)
        self._client = client or Elasticsearch(
            url, api_key=api_key or None, request_timeout=timeout, max_retries=max_retries, retry_on_timeout=True
        )
        self._ready = False

    # --- index lifecycle -----------------------------------------------------------------------
    def ensure_index(self) -> None:
        """Create the versioned index behind the alias unless the alias (or an index so named) exists."""
        if self._ready:
            return
        with translated("ensure index"):
            if self._client.indices.exists(index=self.alias):
                self._check_dims()
            else:
                self._create()
        self._ready = True

    def _create(self) -> None:
        try:
            self._client.indices.create(
                index=self.index,
                mappings=self._mapping,
                settings=self._settings,
                aliases={self.alias: {"is_write_index": True}},
            )
            log.info("created Elasticsearch index %s behind alias %s", self.index, self.alias)
        except elasticsearch.BadRequestError as exc:
            if "resource_already_exists" not in str(exc.message):
                raise
            self._client.indices.put_alias(index=self.index, name=self.alias, is_write_index=True)
        self._check_dims()

    def _check_dims(self) -> None:
        for name, body in self._client.indices.get_mapping(index=self.alias).body.items():
            field = body.get("mappings", {}).get("properties", {}).get(FIELD, {})
            if field.get("type") != "dense_vector" or int(field.get("dims", -1)) != self.dim:
                raise ConfigError(
                    f"Elasticsearch index {name} (alias {self.alias}) has {FIELD} {field!r}; "
                    f"this deployment embeds {self.dim}-d vectors (LOGO_ANN_ES_INDEX)"
                )

    # --- writes --------------------------------------------------------------------------------
    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1) if len(ids) else None
        if matrix is None:
            return
        if matrix.shape[1] != self.dim:
            raise ConfigError(
                f"vectors have {matrix.shape[1]} dimensions, the index {self.dim}: reindex after a model change"
            )
        operations: list[dict[str, Any]] = []
        for logo_id, vector in zip(ids, matrix.tolist(), strict=True):
            operations.append({"index": {"_index": self.alias, "_id": str(int(logo_id))}})
            operations.append({"logo_id": int(logo_id), FIELD: vector})
        self._bulk(operations)

    def delete(self, ids: Iterable[int]) -> None:
        self._bulk([{"delete": {"_index": self.alias, "_id": str(int(i))}} for i in ids])

    def _bulk(self, operations: list[dict[str, Any]]) -> None:
        """Send the operations in chunks; any failed item raises (a 404 on delete is success)."""
        if not operations:
            return
        self.ensure_index()
        step = 2 * BULK_DOCS
        for start in range(0, len(operations), step):
            self._send(operations[start : start + step])

    def _send(self, chunk: list[dict[str, Any]]) -> None:
        """One bulk request. Writes must reach the alias (``require_alias``: a cluster that lost
        it must not auto-create a plain index without our mapping); when the alias is gone (a
        cluster restored empty, an index deleted), it is created again and the chunk sent once more.
        """
        for attempt in (1, 2):
            with translated("bulk"):
                response = self._client.bulk(operations=chunk, require_alias=True)
            if not response.get("errors"):
                return
            if attempt == 1 and alias_vanished(response["items"]):
                log.warning("Elasticsearch alias %s is gone; creating its index again", self.alias)
                self._ready = False
                self.ensure_index()
                continue
            raise_for_items(response["items"])

    # --- reads ---------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        if k <= 0:
            return []
        hits, best = self._knn(vector, k, exclude)
        if len(best) < min(k, len(hits)):  # an alias over two indices (a re-index) finds each logo twice
            hits, best = self._knn(vector, k * math.ceil(len(hits) / max(1, len(best))), exclude)
        found = [Neighbour(logo_id, distance) for logo_id, distance in best.items()]
        return sorted(found, key=lambda n: (n.distance, n.logo_id))[:k]

    def _knn(self, vector: np.ndarray, k: int, exclude: int | None) -> tuple[list[Any], dict[int, float]]:
        """The hits of one kNN search, and the best distance of each logo among them."""
        minimum, factor = self._candidates
        body = build_knn_query(
            vector, min(k, MAX_CANDIDATES), exclude, num_candidates_min=minimum, num_candidates_factor=factor
        )
        hits = self._read("search", lambda: self._hits(body, "search"), [])
        best: dict[int, float] = {}
        for hit in hits:
            logo_id, distance = int(hit["_id"]), score_to_distance(float(hit["_score"]))
            if logo_id != exclude:
                best[logo_id] = min(distance, best.get(logo_id, distance))
        return hits, best

    def ids(self) -> set[int]:
        """Every logo id, paged with ``search_after`` on the ``logo_id`` doc values."""
        found: set[int] = set()
        after: dict[str, Any] = {}
        while True:
            page = {"query": {"match_all": {}}, "sort": [{"logo_id": "asc"}], "size": PAGE, "_source": False,
                    "track_total_hits": False, **after}  # fmt: skip
            hits = self._read("list ids", lambda page=page: self._hits(page, "list ids"), [])
            found.update(int(hit["_id"]) for hit in hits)
            if len(hits) < PAGE:
                return found
            after = {"search_after": hits[-1]["sort"]}

    def _hits(self, body: dict[str, Any], action: str) -> list[dict[str, Any]]:
        """The hits of a search that every shard answered."""
        response = self._client.search(index=self.alias, allow_partial_search_results=False, body=body)
        return list(whole(response, action)["hits"]["hits"])

    def get_vectors(self, ids: Sequence[int]) -> Mapping[int, np.ndarray]:
        if not len(ids):
            return {}
        names = [str(int(i)) for i in ids]
        docs = self._read("mget", lambda: self._mget(names), [])
        found: dict[int, np.ndarray] = {}
        for doc in docs:  # the write index's copy comes first
            if doc.get("found"):
                found.setdefault(int(doc["_id"]), np.asarray(doc["_source"][FIELD], dtype=np.float32))
        return found

    def _mget(self, names: list[str]) -> list[dict[str, Any]]:
        """The documents through the alias; by concrete index when the alias spans several. The
        alias may move between the two requests (a re-index swapping it): then it is read again."""
        errors: list[Any] = []
        for _ in range(3):
            docs = list(self._client.mget(index=self.alias, ids=names, source_includes=[FIELD])["docs"])
            errors = [doc["error"] for doc in docs if doc.get("error")]
            if not errors:
                return docs
            indices = self._indices_behind_alias()
            if len(indices) >= 2:
                wanted = [{"_index": index, "_id": name} for index in indices for name in names]
                docs = list(self._client.mget(docs=wanted, source_includes=[FIELD])["docs"])
                errors = [doc["error"] for doc in docs if doc.get("error")]
                if not errors:
                    return docs
        raise DependencyError(DEPENDENCY, f"mget: {len(errors)} of {len(names)} documents failed: {errors[0]}")

    def _indices_behind_alias(self) -> list[str]:
        """The concrete indices the alias points at, its write index first."""
        behind = self._client.indices.get_alias(name=self.alias).body
        return sorted(behind, key=lambda name: not behind[name]["aliases"][self.alias].get("is_write_index", False))

    def count(self) -> int:
        return int(self._read("count", lambda: whole(self._client.count(index=self.alias), "count")["count"], 0))

    def flush(self) -> None:
        self._read("refresh", lambda: self._client.indices.refresh(index=self.alias), None)

    def health(self) -> Mapping[str, Any]:
        with translated("health"):
            info = self._client.info()
            cluster = self._client.cluster.health()
        return {
            "backend": "elasticsearch",
            "status": cluster.get("status"),
            "cluster": info.get("cluster_name"),
            "version": info.get("version", {}).get("number"),
            "alias": self.alias,
            "index": self.index,
        }

    def _read(self, action: str, call: Any, when_missing: Any) -> Any:
        """Run a read; an index that does not exist yet reads as empty."""
        with translated(action):
            try:
                return call()
            except elasticsearch.NotFoundError as exc:
                if missing_index(exc):
                    return when_missing
                raise
