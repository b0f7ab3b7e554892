"""The routes the Hunger Games annotation game calls, from a page of another origin (a second
local port), with ``credentials: "include"``, in real headless Chromium: ANN search by logo and
at random, logo details by repeated ids, one logo, crops (as images and by fetch), annotate,
change one logo (a PUT, so the browser sends a preflight first), search logos.

The API runs over indexed images, with sign-ins checked by the local stand-in of Product
Opener's ``/cgi/auth.pl``; the browser holds the API origin's Open Food Facts ``session``
cookie. A browser drops every credentialed answer whose CORS headers are wrong, so each call
that returns a readable body shows the API answers CORS as the game needs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from common.api import create_app
from tests.api_support import api_container, ingest
from tests.doubles.product_opener import ProductOpenerAuthDouble

pytestmark = pytest.mark.browser

PAIRS = [((230, 30, 30), (30, 30, 230)), ((220, 60, 20), (30, 200, 60)), ((30, 40, 220), (240, 220, 20))]
GAME_PAGE = b"<!doctype html><html><head><title>game</title></head><body><div id=crops></div></body></html>"


class Recorder:
    """WSGI middleware keeping (method, path) of every request the API received."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen = app, []  # type: ignore[var-annotated]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return self.app(environ, start_response)


class GamePage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(GAME_PAGE)))
        self.end_headers()
        self.wfile.write(GAME_PAGE)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@pytest.fixture(scope="module")
def auth_pl() -> Iterator[ProductOpenerAuthDouble]:
    server = ProductOpenerAuthDouble().start()
    server.add_user("alice", "s3cret")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, auth_pl: ProductOpenerAuthDouble) -> Iterator[tuple[str, Any]]:
    container = api_container(Path(tmp_path_factory.mktemp("cors")), off_auth_url=auth_pl.url, crop_fetch=False)
    ingest(container, PAIRS)
    app = create_app(container)
    recorder = Recorder(app.wsgi_app)
    app.wsgi_app = recorder  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", recorder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def game_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GamePage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser: Any, api: tuple[str, Any], game_origin: str, auth_pl: ProductOpenerAuthDouble) -> Iterator[Any]:
    context = browser.new_context()
    cookie = auth_pl.open_session("alice", "browser-session")
    context.add_cookies([{"name": "session", "value": cookie, "url": api[0]}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(game_origin + "/")
    yield page
    context.close()
    assert not errors, errors


CALL = """async ([url, init]) => {
    const response = await fetch(url, {credentials: "include", ...init});
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : (await response.arrayBuffer()).byteLength;
    return {status: response.status, body};
}"""


def call(page: Any, url: str, **init: Any) -> dict[str, Any]:
    """``fetch`` from the game's page; a CORS refusal raises (``TypeError: Failed to fetch``)."""
    result: dict[str, Any] = page.evaluate(CALL, [url, init])
    return result


def test_the_games_logo_pages_read_every_answer(page: Any, api: tuple[str, Any]) -> None:
    base, _ = api
    neighbours = call(page, f"{base}/api/v1/ann/search/1?count=50")
    assert neighbours["status"] == 200 and neighbours["body"]["query_logo_id"] == 1
    ids = [1] + [r["logo_id"] for r in neighbours["body"]["results"]]  # the game prepends the query logo
    assert len(ids) == len(PAIRS) * 2
    random = call(page, f"{base}/api/v1/ann/search?count=50")
    assert random["status"] == 200 and random["body"]["query_logo_id"] in ids
    query = "&".join(f"logo_ids={i}" for i in ids)
    details = call(page, f"{base}/api/v1/images/logos?{query}")
    assert details["status"] == 200 and [logo["id"] for logo in details["body"]["logos"]] == ids
    one = call(page, f"{base}/api/v1/images/logos/{ids[1]}")
    assert one["status"] == 200 and one["body"]["id"] == ids[1]

    logos = details["body"]["logos"]
    sizes = page.evaluate(
        """async (urls) => Promise.all(urls.map(src => new Promise((ok, fail) => {
            const img = document.createElement("img");
            img.onload = () => ok([img.naturalWidth, img.naturalHeight]);
            img.onerror = () => fail(new Error("crop failed: " + src));
            img.src = src;
            document.getElementById("crops").append(img);
        })))""",
        [crop_url(base, logo) for logo in logos],
    )
    assert sizes == [[60, 60] if logo["bounding_box"][0] < 0.2 else [80, 80] for logo in logos]
    crop = call(page, crop_url(base, logos[0]))
    assert crop["status"] == 200 and crop["body"] > 0  # readable by script too, with credentials


def crop_url(base: str, logo: dict[str, Any]) -> str:
    y0, x0, y1, x1 = logo["bounding_box"]
    image_url = "https://images.openfoodfacts.org/images/products" + logo["image"]["source_image"]
    return f"{base}/api/v1/images/crop?image_url={image_url}&y_min={y0}&x_min={x0}&y_max={y1}&x_max={x1}"


def test_errors_are_readable_by_the_page_too(page: Any, api: tuple[str, Any]) -> None:
    base, _ = api
    missing = call(page, f"{base}/api/v1/images/logos/999")
    assert missing["status"] == 404 and missing["body"]["error"]


def test_the_game_annotates_as_the_signed_in_user(page: Any, api: tuple[str, Any]) -> None:
    base, recorder = api
    json_headers = {"Content-Type": "application/json"}
    body = '{"annotations": [{"logo_id": 3, "type": "brand", "value": "Carrefour"}]}'
    annotated = call(page, f"{base}/api/v1/images/logos/annotate", method="POST", headers=json_headers, body=body)
    assert annotated == {"status": 200, "body": {"annotated": 1}}

    changed = call(page, f"{base}/api/v1/images/logos/4", method="PUT", headers=json_headers,
                   body='{"type": "label", "value": "en:organic"}')  # fmt: skip
    assert changed["status"] == 204
    assert ("OPTIONS", "/api/v1/images/logos/4") in recorder.seen  # the browser's PUT preflight, answered

    one = call(page, f"{base}/api/v1/images/logos/3")["body"]
    assert (one["annotation_type"], one["annotation_value"], one["username"]) == ("brand", "Carrefour", "alice")
    assert one["annotation_value_tag"] == "carrefour" and one["completed_at"]
    found = call(page, f"{base}/api/v1/images/logos/search?type=brand&value=Carrefour&count=25")
    assert found["status"] == 200 and [logo["id"] for logo in found["body"]["logos"]] == [3]
    labelled = call(page, f"{base}/api/v1/images/logos/search?type=label&count=25")
    assert [logo["id"] for logo in labelled["body"]["logos"]] == [4]


def test_writes_without_a_verified_session_are_refused_readably(page: Any, api: tuple[str, Any]) -> None:
    base, _ = api
    json_headers = {"Content-Type": "application/json"}
    body = '{"type": "brand", "value": "Danone"}'
    anonymous = call(page, f"{base}/api/v1/images/logos/5", method="PUT", headers=json_headers, body=body,
                     credentials="omit")  # fmt: skip
    assert anonymous["status"] == 401 and anonymous["body"]["error"]
    page.context.add_cookies([{"name": "session", "value": "user_id&alice&user_session&forged", "url": base}])
    forged = call(page, f"{base}/api/v1/images/logos/5", method="PUT", headers=json_headers, body=body)
    assert forged["status"] == 403 and "did not recognise" in forged["body"]["error"]
    assert call(page, f"{base}/api/v1/images/logos/5")["body"]["annotation_type"] is None


def test_an_origin_off_the_configured_list_cannot_read_answers(
    page: Any, tmp_path: Path, auth_pl: ProductOpenerAuthDouble
) -> None:
    container = api_container(tmp_path, off_auth_url=auth_pl.url, cors_origins="https://hunger.openfoodfacts.org")
    ingest(container, PAIRS[:1])
    server = make_server("127.0.0.1", 0, create_app(container), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(Exception, match="Failed to fetch"):  # the browser withholds the answer
            call(page, f"http://127.0.0.1:{server.server_port}/api/v1/ann/search/1?count=5")
    finally:
        server.shutdown()
        server.server_close()
