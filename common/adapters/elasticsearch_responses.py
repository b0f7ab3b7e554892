"""How Elasticsearch's answers and errors become the project's (``ElasticsearchIndex``'s boundary).

Connection failures, timeouts, 429 and 5xx are ``DependencyError("elasticsearch")`` (retry); other
4xx are our bug or our configuration (``InternalError``). A bulk answer with any failed item
raises; an answer some shards failed (HTTP 200, ``_shards.failed > 0``) is an outage, not a result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import elasticsearch

from common.errors import DependencyError, InternalError

DEPENDENCY = "elasticsearch"


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Map the client's exceptions into the project's tree."""
    try:
        yield
    except elasticsearch.ApiError as exc:
        status = exc.meta.status
        message = f"{action}: HTTP {status} {exc.message}"
        if status == 429 or status >= 500:
            raise DependencyError(DEPENDENCY, message) from exc
        raise InternalError(f"{DEPENDENCY} {message}") from exc
    except elasticsearch.TransportError as exc:  # connection refused, timeout, TLS
        raise DependencyError(DEPENDENCY, f"{action}: {exc}") from exc


def missing_index(exc: elasticsearch.ApiError) -> bool:
    return exc.meta.status == 404 and "index_not_found" in str(exc.message)


def whole(response: Any, action: str) -> Any:
    """``response``, unless some shards failed: a partial answer is an outage, not a result."""
    shards = response.get("_shards") or {}
    failed = int(shards.get("failed", 0))
    if failed:
        reasons = [(f.get("reason") or {}).get("type", f.get("reason")) for f in shards.get("failures") or []]
        raise DependencyError(DEPENDENCY, f"{action}: {failed} of {shards.get('total')} shards failed: {reasons[:3]}")
    return response


def alias_vanished(items: list[dict[str, Any]]) -> bool:
    """A write of the bulk response failed because its target index or alias does not exist."""
    for item in items:
        ((action, result),) = item.items()
        error = result.get("error") or {}
        if (
            action != "delete"
            and int(result.get("status", 0)) == 404
            and error.get("type") == "index_not_found_exception"
        ):
            return True
    return False


def raise_for_items(items: list[dict[str, Any]]) -> None:
    """Raise when any item of a bulk answer failed (a delete of a missing document is success)."""
    failed = []
    for item in items:
        ((action, result),) = item.items()
        status = int(result.get("status", 500))
        if status >= 300 and not (action == "delete" and status == 404):
            failed.append((action, result.get("_id"), status, result.get("error")))
    if not failed:
        return
    summary = f"bulk: {len(failed)} of {len(items)} items failed, first {failed[0]}"
    if any(status == 429 or status >= 500 for _, _, status, _ in failed):
        raise DependencyError(DEPENDENCY, summary)
    raise InternalError(f"{DEPENDENCY} {summary}")
