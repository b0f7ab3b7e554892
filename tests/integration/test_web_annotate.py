"""Annotating from the web page's grid in real headless Chromium: select the neighbours that are
the same logo, give a type and a value, sign in; then the prediction and history are shown."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from common.api import create_app
from tests.api_support import api_container, ingest
from tests.doubles.product_opener import ProductOpenerAuthDouble
from tests.integration.test_web_page import ARTIFACTS, page  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

RED, BLUE, GREEN = (230, 20, 20), (20, 20, 230), (20, 200, 20)


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    auth_pl = ProductOpenerAuthDouble().start()
    auth_pl.add_user("alice", "pw-a")
    container = api_container(tmp_path, off_auth_url=auth_pl.url)
    ingest(container, [(RED, BLUE), (RED, GREEN), (RED, BLUE), (GREEN, BLUE)])  # red: 1 3 5; green 4 7
    server = make_server("127.0.0.1", 0, create_app(container), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-annotate-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    auth_pl.stop()


def api(base_url: str, path: str) -> Any:
    with urllib.request.urlopen(base_url + path, timeout=10) as response:
        return json.load(response)


def test_annotate_from_the_grid_then_see_prediction_and_history(page: Any, base_url: str) -> None:  # noqa: F811
    page.set_default_timeout(90_000)  # a wait, not a speed check: the machine may be busy
    page.goto(f"{base_url}/?logo=1")
    page.wait_for_selector("#annotate:not([hidden])")
    page.wait_for_selector("#grid .card[data-logo-id='3']")
    assert page.text_content("#prediction") == "none"
    assert page.text_content("#history") == "no change yet"

    page.check("#select-mode")
    page.click("#grid .card[data-logo-id='3']")  # ticks it; does not open it
    assert page.text_content("#query-id") == "1"
    assert page.eval_on_selector_all("#grid .card.picked", "cs => cs.map(c => c.dataset.logoId)") == ["3"]
    page.select_option("#label-type", "brand")
    page.fill("#label-value", "Coca Cola")

    page.fill("#auth-user", "alice")
    page.fill("#auth-password", "wrong")
    page.click("#annotate-button")
    refused = "() => document.getElementById('annotate-status').textContent.startsWith('Annotation refused')"
    page.wait_for_function(refused)
    assert api(base_url, "/api/v1/images/logos/3")["annotation_type"] is None

    page.fill("#auth-password", "pw-a")
    page.click("#annotate-button")
    page.wait_for_function("() => document.getElementById('annotate-status').textContent.startsWith('2 of 2')")
    page.wait_for_function("() => document.getElementById('label-now').textContent.includes('alice')")
    assert page.text_content("#label-now") == "brand = Coca Cola (by alice)"
    assert "alice annotate: none → brand = Coca Cola" in page.text_content("#history")
    for logo_id in (1, 3):
        logo = api(base_url, f"/api/v1/images/logos/{logo_id}")
        assert (logo["annotation_value"], logo["username"]) == ("Coca Cola", "alice")

    page.goto(f"{base_url}/?logo=5")  # the third red logo: predicted from the two just annotated
    # the value people typed, not its tag ("coca-cola")
    shown = "() => document.getElementById('prediction').textContent.startsWith('brand = Coca Cola, confidence')"
    page.wait_for_function(shown)
    assert "2 for, 0 against" in page.text_content("#prediction")
    assert "not enough samples yet" in page.text_content("#prediction")  # never "precision 0.00"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-annotate.png"), full_page=True)
