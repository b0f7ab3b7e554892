"""Routes of the Elasticsearch double: one small function per REST endpoint it speaks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.doubles.es_engine import EsError, bad_request

if TYPE_CHECKING:
    from tests.doubles.elasticsearch import ElasticsearchDouble

VERSION = "8.15.0"
Params = dict[str, str]
Route = Callable[["ElasticsearchDouble", dict[str, str], Params, Any], tuple[int, Any]]


def _flag(params: Params, name: str) -> bool:
    return params.get(name, "false") in ("", "true", "wait_for")


def _info(server: ElasticsearchDouble, _: dict[str, str], __: Params, ___: Any) -> tuple[int, Any]:
    return 200, {
        "name": "double",
        "cluster_name": "logo-ann-double",
        "cluster_uuid": "double",
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "lucene_version": "9.11.1",
            "minimum_wire_compatibility_version": "7.17.0",
        },
        "tagline": "You Know, for Search",
    }


def _health(server: ElasticsearchDouble, path: dict[str, str], _: Params, __: Any) -> tuple[int, Any]:
    if path.get("index"):
        server.cluster.resolve(path["index"])
    return 200, {
        "cluster_name": "logo-ann-double",
        "status": "green",
        "timed_out": False,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": len(server.cluster.indices),
        "active_shards": len(server.cluster.indices),
        "unassigned_shards": 0,
    }


def _index(server: ElasticsearchDouble, path: dict[str, str], params: Params, body: Any) -> tuple[int, Any]:
    cluster, name, method = server.cluster, path["index"], path["method"]
    if method == "PUT":
        return 200, cluster.create_index(name, body or {})
    if method == "DELETE":
        cluster.delete_index(name)
        return 200, {"acknowledged": True}
    found = cluster.resolve(name)  # HEAD and GET
    return 200, {
        i.name: {
            "aliases": cluster.get_aliases(None, i.name)[i.name]["aliases"],
            "mappings": i.mappings,
            "settings": {"index": i.settings},
        }
        for i in found
    }


def _mapping(server: ElasticsearchDouble, path: dict[str, str], _: Params, body: Any) -> tuple[int, Any]:
    found = server.cluster.resolve(path["index"])
    if path["method"] == "PUT":
        for index in found:
            props = {**index.mappings.get("properties", {}), **(body or {}).get("properties", {})}
            index.mappings = {**index.mappings, **(body or {}), "properties": props}
        return 200, {"acknowledged": True}
    return 200, {index.name: {"mappings": index.mappings} for index in found}


def _alias(server: ElasticsearchDouble, path: dict[str, str], _: Params, body: Any) -> tuple[int, Any]:
    cluster, method = server.cluster, path["method"]
    if method in ("PUT", "POST"):
        for index in cluster.resolve(path["index"]):
            cluster.add_alias(index.name, path["name"], body or {})
        return 200, {"acknowledged": True, "errors": False}
    if method == "DELETE":
        for index in cluster.resolve(path["index"]):
            cluster.remove_alias(index.name, path["name"])
        return 200, {"acknowledged": True, "errors": False}
    return 200, cluster.get_aliases(path.get("name"), path.get("index"))


def _aliases(server: ElasticsearchDouble, _: dict[str, str], __: Params, body: Any) -> tuple[int, Any]:
    cluster = server.cluster
    for action in (body or {}).get("actions", []):
        ((kind, spec),) = action.items()
        names = spec.get("indices") or [spec.get("index")]
        aliases = spec.get("aliases") or [spec.get("alias")]
        for index in names:
            for alias in aliases:
                if kind == "add":
                    cluster.add_alias(index, alias, spec)
                elif kind == "remove":
                    cluster.remove_alias(index, alias)
                else:
                    raise bad_request(f"unsupported alias action [{kind}]")
    return 200, {"acknowledged": True, "errors": False}


def _bulk(server: ElasticsearchDouble, path: dict[str, str], params: Params, body: Any) -> tuple[int, Any]:
    result = server.cluster.bulk(body or [], path.get("index"))
    if _flag(params, "refresh"):
        for index in server.cluster.indices.values():
            index.refresh()
    return 200, result


def _doc(server: ElasticsearchDouble, path: dict[str, str], params: Params, body: Any) -> tuple[int, Any]:
    cluster, method, name, doc_id = server.cluster, path["method"], path["index"], path["id"]
    if method in ("PUT", "POST"):
        result = cluster.put_doc(name, doc_id, body or {}, create=path["op"] == "_create")
    elif method == "DELETE":
        result = cluster.delete_doc(name, doc_id)
    else:
        result = cluster.get_doc(name, doc_id, params.get("_source", True), _includes(params))
        return (200 if result["found"] else 404), result
    if _flag(params, "refresh"):
        cluster.refresh(name)
    return result.pop("status"), result


def _includes(params: Params) -> list[str] | None:
    raw = params.get("_source_includes")
    return raw.split(",") if raw else None


def _mget(server: ElasticsearchDouble, path: dict[str, str], params: Params, body: Any) -> tuple[int, Any]:
    body = body or {}
    wanted = [{"_index": path.get("index"), "_id": str(i)} for i in body.get("ids", [])] + body.get("docs", [])
    docs = []
    for spec in wanted:
        name, doc_id = str(spec.get("_index") or path.get("index")), str(spec["_id"])
        try:
            docs.append(
                server.cluster.get_doc(
                    name, doc_id, spec.get("_source", params.get("_source", True)), _includes(params)
                )
            )
        except EsError as exc:
            docs.append({"_index": name, "_id": doc_id, "error": exc.body()["error"]})
    return 200, {"docs": docs}


def _search(server: ElasticsearchDouble, path: dict[str, str], params: Params, body: Any) -> tuple[int, Any]:
    body = dict(body or {})
    for key in ("size", "from"):
        if key in params:
            body[key] = int(params[key])
    if "_source" in params:
        body["_source"] = params["_source"] != "false"
    return 200, server.cluster.search(path.get("index") or "_all", body)


def _count(server: ElasticsearchDouble, path: dict[str, str], _: Params, body: Any) -> tuple[int, Any]:
    return 200, server.cluster.count(path.get("index") or "_all", body or {})


def _refresh(server: ElasticsearchDouble, path: dict[str, str], _: Params, __: Any) -> tuple[int, Any]:
    return 200, server.cluster.refresh(path.get("index") or "_all")


IDX = r"(?P<index>[^_/][^/]*)"
ROUTES: list[tuple[str, str, Route]] = [
    ("GET|HEAD", r"/", _info),
    ("GET", rf"/_cluster/health(?:/{IDX})?", _health),
    ("POST", r"/_aliases", _aliases),
    ("GET|HEAD", r"/_alias/(?P<name>[^/]+)", _alias),
    ("GET|HEAD", rf"/{IDX}/_alias(?:es)?(?:/(?P<name>[^/]+))?", _alias),
    ("PUT|POST|DELETE", rf"/{IDX}/_alias(?:es)?/(?P<name>[^/]+)", _alias),
    ("GET|PUT", rf"/{IDX}/_mapping", _mapping),
    ("POST|PUT", rf"/(?:{IDX}/)?_bulk", _bulk),
    ("GET|POST", rf"/(?:{IDX}/)?_mget", _mget),
    ("GET|POST", rf"/(?:{IDX}/)?_search", _search),
    ("GET|POST", rf"/(?:{IDX}/)?_count", _count),
    ("GET|POST", rf"/(?:{IDX}/)?_refresh", _refresh),
    ("GET|HEAD|PUT|POST|DELETE", rf"/{IDX}/(?P<op>_doc|_create)/(?P<id>[^/]+)", _doc),
    ("GET|HEAD|PUT|DELETE", rf"/{IDX}", _index),
]
COMPILED = [(set(m.split("|")), re.compile(p + r"/?"), h) for m, p, h in ROUTES]
