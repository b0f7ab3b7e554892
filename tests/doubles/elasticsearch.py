"""An Elasticsearch 8 test double: a small threaded HTTP server, data in memory.

It speaks the subset of the REST API that ``common.adapters.elasticsearch_index`` and the
official Python client use (info, index and alias management, mappings, ``_bulk``, documents,
``_mget``, ``_search`` with top-level ``knn``, ``_count``, ``_refresh``, cluster health), with
the product header and compatibility media types the 8.x client checks, and ES-shaped errors.
kNN is exact and scored with Elasticsearch's formulas. Faults can be injected for tests.

    python -m tests.doubles.elasticsearch --host 127.0.0.1 --port 9200
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.doubles.es_cluster import Cluster
from tests.doubles.es_engine import EsError
from tests.doubles.es_routes import COMPILED, Params

log = logging.getLogger(__name__)

JSON_COMPAT = "application/vnd.elasticsearch+json;compatible-with=8"


class Handler(BaseHTTPRequestHandler):
    server: ElasticsearchDouble
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET  # noqa: N815

    def _handle(self) -> None:
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            status, body = self._dispatch(unquote(split.path), params, raw)
        except EsError as exc:
            status, body = exc.status, exc.body()
        self._reply(status, body)

    def _dispatch(self, path: str, params: Params, raw: bytes) -> tuple[int, Any]:
        fault = self.server.take_fault()
        if fault is not None:
            raise fault
        self._check_media_types()
        body = self._parse(path, raw)
        self.server.requests.append((self.command, path, params, body))
        for methods, pattern, handler in COMPILED:
            match = pattern.fullmatch(path)
            if match and self.command in methods:
                parts = {k: v for k, v in match.groupdict().items() if v is not None}
                with self.server.cluster.lock:
                    return handler(self.server, {**parts, "method": self.command}, params, body)
        raise EsError(
            405 if any(p.fullmatch(path) for _, p, _ in COMPILED) else 400,
            "illegal_argument_exception",
            f"no handler found for uri [{path}] and method [{self.command}]",
        )

    def _check_media_types(self) -> None:
        for header in ("Content-Type", "Accept"):
            value = self.headers.get(header, "")
            version = re.search(r"compatible-with=(\d+)", value)
            if version and version.group(1) not in ("7", "8"):
                raise EsError(
                    400,
                    "media_type_header_exception",
                    f"Invalid media-type value on headers [{header}]: compatible-with="
                    f"{version.group(1)} is not supported",
                )

    def _parse(self, path: str, raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            if path.endswith("/_bulk"):
                return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
            return json.loads(raw)
        except ValueError as exc:
            raise EsError(400, "x_content_parse_exception", f"failed to parse the request body: {exc}") from exc

    def _reply(self, status: int, body: Any) -> None:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        compat = "vnd.elasticsearch" in self.headers.get("Accept", "")
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", JSON_COMPAT if compat else "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)


class ElasticsearchDouble(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.cluster = Cluster()
        self.requests: list[tuple[str, str, Params, Any]] = []
        self._faults: list[EsError] = []
        self._fault_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(
        self, count: int, status: int = 503, kind: str = "unavailable_shards_exception", reason: str = "injected fault"
    ) -> None:
        """Answer the next ``count`` requests with this error instead of handling them."""
        with self._fault_lock:
            self._faults.extend(EsError(status, kind, reason) for _ in range(count))

    def take_fault(self) -> EsError | None:
        with self._fault_lock:
            return self._faults.pop(0) if self._faults else None

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def start_double(port: int = 0, host: str = "127.0.0.1") -> tuple[ElasticsearchDouble, str]:
    """Serve a fresh double on a background thread; returns (server, url). Call ``server.stop()``."""
    server = ElasticsearchDouble((host, port))
    threading.Thread(target=server.serve_forever, name="es-double", daemon=True).start()
    return server, server.url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Elasticsearch 8 test double (data in memory)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = ElasticsearchDouble((args.host, args.port))
    log.info("Elasticsearch test double listening on %s", server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
