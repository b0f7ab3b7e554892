"""``_search`` for the Elasticsearch double: top-level kNN, or a query with sort and search_after."""

from __future__ import annotations

from typing import Any

from tests.doubles.es_engine import SHARDS, Doc, IndexState, bad_request, filter_source, knn_hits, matches

Hit = tuple[IndexState, str, Doc, float | None, list[Any] | None]


def run_search(indices: list[IndexState], body: dict[str, Any]) -> dict[str, Any]:
    size, start = int(body.get("size", 10)), int(body.get("from", 0))
    if size < 0 or start < 0:
        raise bad_request("[size] and [from] must be non-negative")
    if body.get("knn"):
        if body.get("query") or body.get("sort"):
            raise bad_request("the test double supports [knn] without [query] or [sort] only")
        hits = _knn(indices, body["knn"], size)
    else:
        hits = _query(indices, body)
    page = hits[start : start + size]
    scores = [h[3] for h in page if h[3] is not None]
    out: dict[str, Any] = {"max_score": max(scores) if scores else None, "hits": [_render(h, body) for h in page]}
    if body.get("track_total_hits", True) is not False:
        out["total"] = {"value": len(hits), "relation": "eq"}
    return {"took": 1, "timed_out": False, "_shards": SHARDS, "hits": out}


def _knn(indices: list[IndexState], knn: Any, size: int) -> list[Hit]:
    queries = knn if isinstance(knn, list) else [knn]
    best: dict[tuple[str, str], float] = {}
    for query in queries:  # several kNN clauses: a document's scores add up, as in ES
        for score, index, doc_id in knn_hits(indices, query, size):
            best[(index.name, doc_id)] = best.get((index.name, doc_id), 0.0) + score
    by_name = {index.name: index for index in indices}
    ranked = sorted(best.items(), key=lambda item: -item[1])
    return [(by_name[n], i, by_name[n].searchable[i], s, None) for (n, i), s in ranked]


def _sort_spec(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """[(field, descending)] from the ES sort syntax; rejects ``_id`` as ES 8 does by default."""
    raw = body.get("sort", [])
    spec = []
    for entry in raw if isinstance(raw, list) else [raw]:
        if isinstance(entry, str):
            field, order = entry, "desc" if entry == "_score" else "asc"
        else:
            ((field, order),) = entry.items()
            order = order.get("order", "asc") if isinstance(order, dict) else order
        if field == "_id":
            raise bad_request(
                "Fielddata access on the _id field is disallowed, you can re-enable it by updating "
                "the dynamic cluster setting: indices.id_field_data.enabled"
            )
        spec.append((field, order == "desc"))
    return spec


def _query(indices: list[IndexState], body: dict[str, Any]) -> list[Hit]:
    spec = _sort_spec(body)
    docs = [
        (index, i, doc, position)
        for index in indices
        for position, (i, doc) in enumerate(index.searchable.items())
        if matches(body.get("query"), i, doc.source)
    ]
    if not spec:
        return [(index, i, doc, 1.0, None) for index, i, doc, _ in docs]

    def values(entry: tuple[IndexState, str, Doc, int]) -> list[Any]:
        index, _, doc, position = entry
        return [position if f == "_doc" else 1.0 if f == "_score" else doc.source.get(f) for f, _ in spec]

    def key(vals: list[Any]) -> tuple[Any, ...]:
        out = []
        for (_, desc), value in zip(spec, vals, strict=True):
            missing = value is None
            number = 0 if missing else (-value if desc else value)
            out.append((missing, number))
        return tuple(out)

    ranked = sorted(((values(d), d) for d in docs), key=lambda pair: key(pair[0]))
    after = body.get("search_after")
    if after is not None:
        if len(after) != len(spec):
            raise bad_request(f"search_after has {len(after)} value(s) but sort has {len(spec)}.")
        ranked = [pair for pair in ranked if key(pair[0]) > key(list(after))]
    return [(index, i, doc, None, vals) for vals, (index, i, doc, _) in ranked]


def _render(hit: Hit, body: dict[str, Any]) -> dict[str, Any]:
    index, doc_id, doc, score, sort = hit
    out: dict[str, Any] = {"_index": index.name, "_id": doc_id, "_score": score}
    source = filter_source(doc.source, body.get("_source", True))
    if source is not None:
        out["_source"] = source
    wanted = [
        f if isinstance(f, str) else f.get("field") for f in body.get("fields", []) + body.get("docvalue_fields", [])
    ]
    if wanted:
        out["fields"] = {f: [doc.source[f]] for f in wanted if f in doc.source}
    if sort is not None:
        out["sort"] = sort
    return out
