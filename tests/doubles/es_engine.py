"""The in-memory engine behind the Elasticsearch test double: indices, aliases, documents.

It follows Elasticsearch 8 where the project depends on it: mappings validated on write
(``dense_vector`` dims, unit length for ``dot_product``, strict dynamic mapping), near-real-time
search (documents become searchable on refresh; get/mget are real time), exact kNN scored with
ES's formulas, and ES-shaped errors. kNN here is exhaustive, so it returns the exact top-k.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

MAX_CANDIDATES = 10_000
SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


class EsError(Exception):
    """An error response: ``{"error": {...}, "status": status}``."""

    def __init__(self, status: int, kind: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason, self.extra = status, kind, reason, extra

    def body(self) -> dict[str, Any]:
        cause = {"type": self.kind, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def not_found(name: str) -> EsError:
    return EsError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        **{"resource.type": "index_or_alias", "resource.id": name, "index": name},
    )


def bad_request(reason: str, kind: str = "illegal_argument_exception") -> EsError:
    return EsError(400, kind, reason)


SIMILARITIES = ("dot_product", "cosine", "l2_norm", "max_inner_product")
INDEX_TYPES = ("hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat", "int8_flat", "int4_flat", "bbq_flat")


def similarity_score(similarity: str, query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Elasticsearch's kNN ``_score`` for float vectors (float32 arithmetic, as ES computes it)."""
    q, v = query.astype(np.float32), vectors.astype(np.float32)
    dot = v @ q
    if similarity == "dot_product":
        return (1.0 + dot) / 2.0
    if similarity == "cosine":
        norms = np.linalg.norm(v, axis=1) * np.linalg.norm(q)
        return (1.0 + dot / np.maximum(norms, np.float32(1e-30))) / 2.0
    if similarity == "l2_norm":
        return 1.0 / (1.0 + np.sum((v - q) ** 2, axis=1))
    return np.where(dot < 0, 1.0 / (1.0 - dot), dot + 1.0)  # max_inner_product


@dataclasses.dataclass
class Doc:
    source: dict[str, Any]
    version: int
    seq_no: int


@dataclasses.dataclass
class IndexState:
    name: str
    mappings: dict[str, Any]
    settings: dict[str, Any]
    docs: dict[str, Doc] = dataclasses.field(default_factory=dict)
    searchable: dict[str, Doc] = dataclasses.field(default_factory=dict)
    seq_no: int = 0

    def vector_fields(self) -> dict[str, dict[str, Any]]:
        props = self.mappings.get("properties", {})
        return {name: spec for name, spec in props.items() if spec.get("type") == "dense_vector"}

    def refresh(self) -> None:
        self.searchable = dict(self.docs)


def validate_mappings(mappings: dict[str, Any]) -> None:
    for name, spec in mappings.get("properties", {}).items():
        if spec.get("type") != "dense_vector":
            continue
        dims = spec.get("dims")
        if not isinstance(dims, int) or not 1 <= dims <= 4096:
            raise bad_request(
                f"The number of dimensions for field [{name}] should be in the range [1, 4096]",
                "mapper_parsing_exception",
            )
        if spec.get("similarity", "cosine") not in SIMILARITIES:
            raise bad_request(f"Unknown similarity [{spec.get('similarity')}]", "mapper_parsing_exception")
        kind = spec.get("index_options", {}).get("type", "hnsw")
        if kind not in INDEX_TYPES:
            raise bad_request(
                f"Unknown vector index options type [{kind}] for field [{name}]", "mapper_parsing_exception"
            )


def validate_doc(index: IndexState, doc_id: str, source: dict[str, Any]) -> None:
    """Reject a document the mapping does not accept (400 ``document_parsing_exception``)."""
    props = index.mappings.get("properties", {})
    strict = str(index.mappings.get("dynamic", "true")) == "strict"
    for field, value in source.items():
        spec = props.get(field)
        if spec is None:
            if strict:
                raise bad_request(
                    f"[1:2] mapping set to strict, dynamic introduction of [{field}] within [_doc] is not allowed",
                    "strict_dynamic_mapping_exception",
                )
            continue
        if spec.get("type") == "dense_vector":
            _validate_vector(field, spec, doc_id, value)
        elif spec.get("type") == "long" and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad_request(
                f"[1:2] failed to parse field [{field}] of type [long] in document with id '{doc_id}'",
                "document_parsing_exception",
            )


def _validate_vector(field: str, spec: dict[str, Any], doc_id: str, value: Any) -> None:
    where = f"The [dense_vector] field [{field}] in doc [document with id '{doc_id}']"
    if not isinstance(value, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise bad_request(f"[1:2] failed to parse: {where} must be an array of numbers", "document_parsing_exception")
    if len(value) != spec["dims"]:
        more = "more" if len(value) > spec["dims"] else "a different number of"
        raise bad_request(
            f"[1:2] failed to parse: {where} has {more} dimensions than defined in the mapping [{spec['dims']}]",
            "document_parsing_exception",
        )
    if spec.get("similarity", "cosine") == "dot_product":
        norm2 = float(np.sum(np.asarray(value, dtype=np.float32) ** 2))
        if abs(norm2 - 1.0) > 1e-4:
            raise bad_request(
                f"[1:2] failed to parse: The [dot_product] similarity can only be used with "
                f"unit-length vectors. Preview of invalid vector: {value[:5]}",
                "document_parsing_exception",
            )


def matches(query: dict[str, Any] | None, doc_id: str, source: dict[str, Any]) -> bool:
    """Evaluate the query DSL subset: match_all, ids, term, terms, range, bool."""
    if not query:
        return True
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return True
    if kind == "match_none":
        return False
    if kind == "ids":
        return doc_id in {str(v) for v in spec.get("values", [])}
    if kind in ("term", "terms"):
        ((field, wanted),) = ((f, v) for f, v in spec.items() if f != "boost")
        if kind == "term":
            wanted = [wanted["value"] if isinstance(wanted, dict) else wanted]
        value = doc_id if field == "_id" else source.get(field)
        return any(str(value) == str(w) for w in wanted)
    if kind == "range":
        ((field, bounds),) = spec.items()
        value = source.get(field)
        ops = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}
        return value is not None and all(ops[op](float(value), float(b)) for op, b in bounds.items() if op in ops)
    if kind == "bool":
        return _bool(spec, doc_id, source)
    raise bad_request(f"unknown query [{kind}]", "parsing_exception")


def _bool(spec: dict[str, Any], doc_id: str, source: dict[str, Any]) -> bool:
    def clauses(key: str) -> list[dict[str, Any]]:
        value = spec.get(key, [])
        return value if isinstance(value, list) else [value]

    if not all(matches(q, doc_id, source) for q in clauses("must") + clauses("filter")):
        return False
    if any(matches(q, doc_id, source) for q in clauses("must_not")):
        return False
    should = clauses("should")
    return not should or any(matches(q, doc_id, source) for q in should) or bool(clauses("must") + clauses("filter"))


def knn_hits(indices: list[IndexState], knn: dict[str, Any], size: int) -> list[tuple[float, IndexState, str]]:
    """Exact kNN over the searchable documents: (score, index, id), best first, at most k."""
    k = int(knn.get("k", size))
    candidates = int(knn.get("num_candidates", min(math.ceil(1.5 * k), MAX_CANDIDATES)))
    if k < 1:
        raise bad_request("[k] must be greater than 0")
    if candidates < k:
        raise bad_request("[num_candidates] cannot be less than [k]")
    if candidates > MAX_CANDIDATES:
        raise bad_request(f"[num_candidates] cannot exceed [{MAX_CANDIDATES}]")
    field, query = str(knn.get("field")), np.asarray(knn.get("query_vector", []), dtype=np.float32)
    scored: list[tuple[float, IndexState, str]] = []
    for index in indices:
        spec = index.vector_fields().get(field)
        if spec is None:
            raise bad_request(f"[knn] queries are only supported on [dense_vector] fields, not on [{field}]")
        if query.shape != (spec["dims"],):
            raise bad_request(
                f"The query vector has a different number of dimensions [{query.size}] than the "
                f"document vectors [{spec['dims']}]."
            )
        ids = [i for i, d in index.searchable.items() if field in d.source and matches(knn.get("filter"), i, d.source)]
        if not ids:
            continue
        vectors = np.asarray([index.searchable[i].source[field] for i in ids], dtype=np.float32)
        scores = similarity_score(spec.get("similarity", "cosine"), query, vectors)
        scored.extend((float(s), index, i) for s, i in zip(scores, ids, strict=True))
    scored.sort(key=lambda hit: -hit[0])
    return scored[:k]


def filter_source(source: dict[str, Any], spec: Any, includes: list[str] | None = None) -> dict[str, Any] | None:
    """Apply ``_source`` filtering: False hides it, a list or ``{includes, excludes}`` picks fields."""
    if spec is False or spec == "false":
        return None
    wanted, unwanted = includes, []
    if isinstance(spec, (list, str)) and spec not in ("true", True):
        wanted = [spec] if isinstance(spec, str) else spec
    elif isinstance(spec, dict):
        wanted = spec.get("includes", wanted)
        unwanted = spec.get("excludes", [])
    return {k: v for k, v in source.items() if (not wanted or k in wanted) and k not in unwanted}
