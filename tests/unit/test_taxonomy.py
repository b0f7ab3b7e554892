"""Taxonomies: canonical ids from small ``*.full.json`` files, loading once, refreshing, fetching;
one load at a time, never waited for."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.adapters.taxonomy_files import TaxonomyFiles
from common.errors import DependencyError, RetryLaterError
from common.labels.taxonomy import Taxonomies, default_sources, fetch_taxonomies
from stack.waiting import wait_until
from tests.doubles.silent_host import SilentHost

FILES = TaxonomyFiles()  # the adapter the container builds: paths and http(s) URLs

LABELS = {
    "en:organic": {"name": {"en": "Organic", "fr": "Bio"}, "synonyms": {"en": ["Organic", "organically grown"]}},
    "en:eu-organic": {"name": {"en": "EU Organic"}, "synonyms": {"fr": ["Bio européen", "AB Europe"]}},
    "fr:label-rouge": {"name": {"fr": "Label Rouge"}},
}
BRANDS = {"xx:coca-cola": {"name": {"xx": "Coca-Cola"}, "synonyms": {"xx": ["Coca Cola", "Coke"]}}}


def write(path: Path, entries: dict[str, object]) -> str:
    path.write_text(json.dumps(entries))
    return str(path)


def test_canonical_ids(tmp_path: Path) -> None:
    taxonomies = Taxonomies(
        FILES, {"labels": write(tmp_path / "l.json", LABELS), "brands": write(tmp_path / "b.json", BRANDS)}
    )
    assert taxonomies.taxonomy_value("label", "en:organic") == "en:organic"
    assert taxonomies.taxonomy_value("label", "fr:bio") == "en:organic"
    assert taxonomies.taxonomy_value("label", "fr:bio-europeen") == "en:eu-organic"
    assert taxonomies.taxonomy_value("label", "en:organically-grown") == "en:organic"
    assert taxonomies.taxonomy_value("label", "de:bio") is None  # German synonym not in the file
    assert taxonomies.taxonomy_value("label", "en:unknown") is None
    assert taxonomies.taxonomy_value("brand", "coke") == "xx:coca-cola"
    assert taxonomies.taxonomy_value("brand", "coca-cola") == "xx:coca-cola"
    assert taxonomies.taxonomy_value("store", "lidl") is None  # no taxonomy for stores


def test_without_a_taxonomy_the_value_is_the_tag(tmp_path: Path) -> None:
    taxonomies = Taxonomies(FILES, {"labels": "", "brands": ""})
    assert taxonomies.taxonomy_value("label", "en:whatever") == "en:whatever"
    assert taxonomies.taxonomy_value("category", "en:sodas") == "en:sodas"
    assert taxonomies.taxonomy_value("qr_code", None) is None


def test_loaded_once_and_refreshed_when_changed(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "labels.full.json"
    write(path, LABELS)
    taxonomies = Taxonomies(FILES, {"labels": str(path)}, refresh_s=60, clock=lambda: now[0])
    assert taxonomies.taxonomy_value("label", "en:bio-2") is None
    write(path, {**LABELS, "en:bio-2": {"name": {"en": "Bio 2"}}})
    now[0] = 30.0
    assert taxonomies.taxonomy_value("label", "en:bio-2") is None  # not yet refreshed: loaded once
    now[0] = 61.0
    assert taxonomies.taxonomy_value("label", "en:bio-2") == "en:bio-2"
    path.write_text("{ broken")
    now[0] = 200.0
    assert taxonomies.taxonomy_value("label", "en:bio-2") == "en:bio-2"  # a failed refresh keeps the old one


def test_first_load_failure_is_a_dependency_error(tmp_path: Path) -> None:
    taxonomies = Taxonomies(FILES, {"labels": str(tmp_path / "missing.json")})
    with pytest.raises(DependencyError):
        taxonomies.taxonomy_value("label", "en:organic")


@pytest.fixture
def taxonomy_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "served"
    root.mkdir()
    for name, entries in (("labels", LABELS), ("brands", BRANDS), ("categories", {"en:sodas": {}})):
        write(root / f"{name}.full.json", entries)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_downloads_and_a_url_source_loads(tmp_path: Path, taxonomy_server: str) -> None:
    home = tmp_path / "home"
    counts = fetch_taxonomies(FILES, home / "taxonomies", base_url=taxonomy_server)
    assert counts == {"labels": 3, "brands": 1, "categories": 1}
    sources = default_sources({}, home)
    assert sources["labels"].endswith("taxonomies/labels.full.json")
    assert Taxonomies(FILES, sources).taxonomy_value("label", "fr:bio") == "en:organic"
    by_url = Taxonomies(FILES, {"brands": f"{taxonomy_server}/brands.full.json"})
    assert by_url.taxonomy_value("brand", "coke") == "xx:coca-cola"


def test_fetch_refuses_a_missing_file(tmp_path: Path, taxonomy_server: str) -> None:
    with pytest.raises(DependencyError):
        fetch_taxonomies(FILES, tmp_path / "t", base_url=taxonomy_server + "/nowhere")
    assert not (tmp_path / "t" / "labels.full.json").exists()


class GatedHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``LABELS``; while the server's gate is closed, holds each request until it opens."""

    server: Any

    def do_GET(self) -> None:  # noqa: N802
        self.server.arrivals += 1
        self.server.gate.wait(30)
        body = json.dumps(LABELS).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gated() -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GatedHandler)
    server.daemon_threads = True
    server.arrivals, server.gate = 0, threading.Event()
    server.gate.set()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/labels.full.json"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.gate.set()
    server.shutdown()
    server.server_close()


def test_a_refresh_in_progress_leaves_other_requests_on_the_loaded_taxonomy(gated: Any) -> None:
    now = [0.0]
    taxonomies = Taxonomies(FILES, {"labels": gated.url}, refresh_s=60, clock=lambda: now[0])
    assert taxonomies.taxonomy_value("label", "fr:bio") == "en:organic"
    gated.gate.clear()
    now[0] = 61.0
    with ThreadPoolExecutor(1) as pool:
        refreshing = pool.submit(taxonomies.taxonomy_value, "label", "fr:bio")
        wait_until(lambda: gated.arrivals == 2, 30, interval=0.01, message=lambda: f"{gated.arrivals} arrivals, not 2")
        assert taxonomies.taxonomy_value("label", "ab-europe") == "en:eu-organic"  # from the loaded one
        assert not refreshing.done()  # the old code answered only once the refresh was over
        gated.gate.set()
        assert refreshing.result(timeout=30) == "en:organic"
    assert gated.arrivals == 2


def test_a_first_load_in_progress_is_503_at_once_and_its_failure_is_remembered() -> None:
    now = [0.0]
    silent = SilentHost().start()
    source = f"http://127.0.0.1:{silent.port}/labels.full.json"
    taxonomies = Taxonomies(TaxonomyFiles(timeout_s=20), {"labels": source}, clock=lambda: now[0], failure_ttl_s=30)
    try:
        with ThreadPoolExecutor(1) as pool:
            loading = pool.submit(taxonomies.taxonomy_value, "label", "fr:bio")
            assert silent.wait_for(1)
            with pytest.raises(RetryLaterError):  # not queued behind the load
                taxonomies.taxonomy_value("label", "fr:bio")
            assert not loading.done() and silent.accepted == 1
            silent.release()
            with pytest.raises(DependencyError):
                loading.result(timeout=30)
        with pytest.raises(RetryLaterError) as remembered:
            taxonomies.taxonomy_value("label", "fr:bio")
        assert remembered.value.retry_after_s == 30 and silent.accepted == 1
        now[0] = 31.0
        silent.stop()  # now refused: the load is tried again, and fails again
        with pytest.raises(DependencyError) as tried:
            taxonomies.taxonomy_value("label", "fr:bio")
        assert not isinstance(tried.value, RetryLaterError)
    finally:
        silent.stop()
