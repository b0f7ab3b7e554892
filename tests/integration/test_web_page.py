"""The web page in real headless Chromium, against a running server over indexed images:
open a logo, see its neighbours as crops, click one to pivot, search by an uploaded photo."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from common.api import create_app
from tests.api_support import api_container, ingest, two_squares

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PAIRS = [
    ((230, 30, 30), (30, 30, 230)),
    ((220, 60, 20), (30, 200, 60)),
    ((30, 40, 220), (240, 220, 20)),
    ((20, 180, 90), (180, 20, 180)),
    ((130, 130, 20), (20, 130, 130)),
    ((240, 130, 10), (90, 90, 90)),
    ((200, 20, 90), (60, 160, 230)),
    ((110, 60, 20), (250, 180, 190)),
]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    container = api_container(Path(tmp_path_factory.mktemp("web")))
    ingest(container, PAIRS)
    server = make_server("127.0.0.1", 0, create_app(container), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


def grid_ids(page: Any) -> list[int]:
    return [int(v) for v in page.eval_on_selector_all("#grid .card", "cards => cards.map(c => c.dataset.logoId)")]


def test_click_a_neighbour_to_pivot(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/?logo=1")
    page.wait_for_selector("#grid .card img")
    assert page.text_content("#query-id") == "1"
    assert page.is_hidden("#standin-banner")  # the fakes use no model file, so nothing to warn about
    before = grid_ids(page)
    assert len(before) == len(PAIRS) * 2 - 1 and 1 not in before
    page.wait_for_function("() => [...document.querySelectorAll('#grid img')].every(i => i.complete)")
    assert page.eval_on_selector("#query-crop", "img => img.naturalWidth") == 60  # the 0.1..0.4 box of 200 px

    target = before[0]
    page.click(f"#grid .card[data-logo-id='{target}']")
    page.wait_for_function("id => document.getElementById('query-id').textContent === String(id)", arg=target)
    page.wait_for_function("id => !document.querySelector(`#grid .card[data-logo-id='${id}']`)", arg=target)
    after = grid_ids(page)
    assert after != before and target not in after and 1 in after
    assert page.url.endswith(f"?logo={target}")
    distances = page.eval_on_selector_all("#grid .distance", "els => els.map(e => parseFloat(e.textContent.slice(4)))")
    assert distances == sorted(distances) and all(0 <= d <= 1 for d in distances)
    page.wait_for_function("() => [...document.querySelectorAll('#grid img')].every(i => i.complete)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)

    page.go_back()
    page.wait_for_function("() => document.getElementById('query-id').textContent === '1'")


def test_upload_a_photo_to_search_by_image(page: Any, base_url: str, tmp_path: Path) -> None:
    photo = tmp_path / "shelf.png"
    photo.write_bytes(two_squares(*PAIRS[3]))  # the pixels of photo-3, whose logos are 7 and 8
    page.goto(f"{base_url}/?logo=2")
    page.wait_for_selector("#grid .card")
    page.set_input_files("#upload-input", str(photo))
    page.wait_for_selector("#upload-results:not([hidden]) .upload-logo")
    rows = page.query_selector_all(".upload-logo")
    assert len(rows) == 2
    firsts = [int(row.query_selector(".card").get_attribute("data-logo-id")) for row in rows]
    assert firsts == [7, 8]
    assert page.eval_on_selector(".upload-logo canvas", "c => [c.width, c.height]") == [60, 60]
    # the results land at the top of the view, above the opened logo and its neighbours, in sight
    top = "ids => ids.map(i => document.getElementById(i).getBoundingClientRect().top)"
    results, query, neighbours = page.evaluate(top, ["upload-results", "query", "neighbours"])
    assert results < query and results < neighbours
    assert -1 <= results < page.viewport_size["height"]  # scrolled into view (a fraction of a pixel off)
    page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)
