"""The Elasticsearch double's cluster: index/alias resolution, documents, bulk, search, count."""

from __future__ import annotations

import threading
from typing import Any

from tests.doubles.es_engine import (
    SHARDS,
    Doc,
    EsError,
    IndexState,
    bad_request,
    filter_source,
    matches,
    not_found,
    validate_doc,
    validate_mappings,
)
from tests.doubles.es_search import run_search


class Cluster:
    """Everything the double stores, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.indices: dict[str, IndexState] = {}
        self.aliases: dict[str, dict[str, bool]] = {}  # alias -> {index: is_write_index}

    # --- names -----------------------------------------------------------------------------
    def resolve(self, expression: str) -> list[IndexState]:
        found: list[IndexState] = []
        for name in expression.split(","):
            if name in ("_all", "*"):
                found.extend(self.indices.values())
            elif name in self.indices:
                found.append(self.indices[name])
            elif name in self.aliases:
                found.extend(self.indices[i] for i in self.aliases[name])
            else:
                raise not_found(name)
        return found

    def write_target(self, name: str) -> IndexState:
        if name in self.indices:
            return self.indices[name]
        if name not in self.aliases:
            raise not_found(name)  # the double does not auto-create indices
        members = self.aliases[name]
        writers = [i for i, is_write in members.items() if is_write] or (list(members) if len(members) == 1 else [])
        if not writers:
            raise bad_request(
                f"no write index is defined for alias [{name}]. The write index may be explicitly "
                "disabled using is_write_index=false or the alias points to multiple indices "
                "without one being designated as a write index"
            )
        return self.indices[writers[0]]

    # --- indices and aliases ---------------------------------------------------------------
    def create_index(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if name in self.indices:
            raise EsError(400, "resource_already_exists_exception", f"index [{name}/x] already exists", index=name)
        if name in self.aliases or name.startswith(("_", "-")) or name != name.lower():
            raise bad_request(f"Invalid index name [{name}]", "invalid_index_name_exception")
        mappings = body.get("mappings", {})
        validate_mappings(mappings)
        self.indices[name] = IndexState(name, mappings, body.get("settings", {}))
        for alias, spec in body.get("aliases", {}).items():
            self.add_alias(name, alias, spec or {})
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def delete_index(self, name: str) -> None:
        for index in self.resolve(name):
            del self.indices[index.name]
            for members in self.aliases.values():
                members.pop(index.name, None)
        self.aliases = {a: m for a, m in self.aliases.items() if m}

    def add_alias(self, index: str, alias: str, spec: dict[str, Any]) -> None:
        if index not in self.indices:
            raise not_found(index)
        if alias in self.indices:
            raise bad_request(
                f"an index or data stream exists with the same name as the alias [{alias}]",
                "invalid_alias_name_exception",
            )
        self.aliases.setdefault(alias, {})[index] = bool(spec.get("is_write_index", False))

    def remove_alias(self, index: str, alias: str) -> None:
        if index not in self.aliases.get(alias, {}):
            raise EsError(
                404,
                "aliases_not_found_exception",
                f"aliases [{alias}] missing",
                **{"resource.type": "aliases", "resource.id": alias},
            )
        del self.aliases[alias][index]
        if not self.aliases[alias]:
            del self.aliases[alias]

    def get_aliases(self, alias: str | None, index: str | None) -> dict[str, Any]:
        result: dict[str, Any] = {}
        names = [i.name for i in self.resolve(index)] if index else list(self.indices)
        for name in names:
            entries = {
                a: ({"is_write_index": True} if m[name] else {})
                for a, m in self.aliases.items()
                if name in m and (alias is None or a == alias)
            }
            if entries or alias is None:
                result[name] = {"aliases": entries}
        if alias is not None and not result:
            raise EsError(404, "aliases_not_found_exception", f"alias [{alias}] missing")
        return result

    # --- documents -------------------------------------------------------------------------
    def put_doc(self, target: str, doc_id: str, source: dict[str, Any], create: bool = False) -> dict[str, Any]:
        index = self.write_target(target)
        validate_doc(index, doc_id, source)
        old = index.docs.get(doc_id)
        if create and old is not None:
            raise EsError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists (current version [{old.version}])",
                index=index.name,
            )
        index.seq_no += 1
        version = old.version + 1 if old else 1
        index.docs[doc_id] = Doc(dict(source), version, index.seq_no)
        return self._doc_result(index, doc_id, "updated" if old else "created", 200 if old else 201, version)

    def delete_doc(self, target: str, doc_id: str) -> dict[str, Any]:
        index = self.write_target(target)
        old = index.docs.pop(doc_id, None)
        index.seq_no += 1
        version = old.version + 1 if old else 1
        return self._doc_result(index, doc_id, "deleted" if old else "not_found", 200 if old else 404, version)

    @staticmethod
    def _doc_result(index: IndexState, doc_id: str, result: str, status: int, version: int) -> dict[str, Any]:
        return {
            "_index": index.name,
            "_id": doc_id,
            "_version": version,
            "result": result,
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": index.seq_no,
            "_primary_term": 1,
            "status": status,
        }

    def get_doc(
        self, target: str, doc_id: str, source_spec: Any = True, includes: list[str] | None = None
    ) -> dict[str, Any]:
        for index in self.resolve(target):
            doc = index.docs.get(doc_id)
            if doc is not None:
                out = {
                    "_index": index.name,
                    "_id": doc_id,
                    "_version": doc.version,
                    "_seq_no": doc.seq_no,
                    "_primary_term": 1,
                    "found": True,
                }
                source = filter_source(doc.source, source_spec, includes)
                return out if source is None else {**out, "_source": source}
        return {"_index": target, "_id": doc_id, "found": False}

    # --- bulk ------------------------------------------------------------------------------
    def bulk(self, lines: list[dict[str, Any]], default_index: str | None) -> dict[str, Any]:
        items, errors, pos = [], False, 0
        while pos < len(lines):
            ((action, meta),) = lines[pos].items()
            pos += 1
            body = None
            if action in ("index", "create", "update"):
                body, pos = lines[pos], pos + 1
            elif action != "delete":
                raise bad_request(
                    f"Malformed action/metadata line [{pos}], expected one of [create, delete, "
                    f"index, update] but found [{action}]"
                )
            result = self._bulk_item(action, meta, body, default_index)
            errors = errors or result["status"] >= 300 and not (action == "delete" and result["status"] == 404)
            items.append({action: result})
        return {"errors": errors, "took": 1, "items": items}

    def _bulk_item(self, action: str, meta: dict[str, Any], body: Any, default_index: str | None) -> dict[str, Any]:
        target = meta.get("_index", default_index)
        doc_id = str(meta.get("_id", "")) or None
        try:
            if target is None:
                raise bad_request("index is missing", "action_request_validation_exception")
            if doc_id is None:
                if action != "index":
                    raise bad_request("id is missing", "action_request_validation_exception")
                doc_id = f"auto-{id(body)}-{len(self.indices)}"
            if action == "delete":
                return self.delete_doc(target, doc_id)
            if action == "update":
                return self._update(target, doc_id, body)
            return self.put_doc(target, doc_id, body, create=action == "create")
        except EsError as exc:
            return {
                "_index": target,
                "_id": doc_id,
                "status": exc.status,
                "error": {"type": exc.kind, "reason": exc.reason, **exc.extra},
            }

    def _update(self, target: str, doc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        index = self.write_target(target)
        old = index.docs.get(doc_id)
        if old is None and not body.get("doc_as_upsert") and "upsert" not in body:
            raise EsError(404, "document_missing_exception", f"[{doc_id}]: document missing", index=index.name)
        base = dict(old.source) if old else dict(body.get("upsert", {}))
        return self.put_doc(target, doc_id, {**base, **body.get("doc", {})})

    # --- search ----------------------------------------------------------------------------
    def search(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        return run_search(self.resolve(target), body)

    def count(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        total = sum(
            1
            for index in self.resolve(target)
            for i, d in index.searchable.items()
            if matches(body.get("query"), i, d.source)
        )
        return {"count": total, "_shards": SHARDS}

    def refresh(self, target: str) -> dict[str, Any]:
        for index in self.resolve(target):
            index.refresh()
        return {"_shards": SHARDS}
