"""Robotoff's logo routes at Robotoff's paths: LogoDetails keys, id lists, trailing slashes,
crops by Open Food Facts URL, CORS with credentials."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from common.api import create_app
from common.pipeline.detect import detect_object
from tests.api_support import BOXES, api_container, ingest, two_squares

OFF = "https://images.openfoodfacts.org/images/products"
LOGO_KEYS = {
    "id", "index", "bounding_box", "score", "annotation_type", "annotation_value", "annotation_value_tag",
    "taxonomy_value", "username", "completed_at", "nearest_neighbors", "barcode", "source_image", "text",
    "server_type", "image",
    "prediction",  # beyond Robotoff: the label predicted from the neighbours (null when none)
}  # fmt: skip
IMAGE_KEYS = {"id", "barcode", "uploaded_at", "image_id", "source_image", "width", "height", "deleted", "server_type"}


@pytest.fixture
def client(tmp_path: Path) -> Any:
    container = api_container(tmp_path, off_image_prefix="data/", crop_fetch=False)
    ingest(container, [((255, 0, 0), (0, 0, 255))])  # logos 1, 2 in /photo-0.png
    ref = container.images.put("uploads", "data/324/227/210/2359/4.jpg", two_squares((0, 255, 0), (9, 9, 9), 400))
    detect_object(ref, None, "image/png", container.detect_deps())  # logos 3, 4
    return create_app(container).test_client()


def crop_url(image: str, box: tuple[float, float, float, float]) -> str:
    y0, x0, y1, x1 = box
    return f"/api/v1/images/crop?image_url={OFF}{image}&y_min={y0}&x_min={x0}&y_max={y1}&x_max={x1}"


def test_one_logo_has_every_robotoff_key(client: Any) -> None:
    logo = client.get("/api/v1/images/logos/3").get_json()
    assert set(logo) == LOGO_KEYS and set(logo["image"]) == IMAGE_KEYS
    assert (logo["barcode"], logo["source_image"], logo["index"]) == ("3242272102359", "/324/227/210/2359/4.jpg", 0)
    image = logo["image"]
    assert (image["barcode"], image["image_id"], image["source_image"]) == (
        "3242272102359", "4", "/324/227/210/2359/4.jpg",
    )  # fmt: skip
    assert (image["width"], image["height"], image["deleted"], image["server_type"]) == (400, 400, False, "off")
    assert image["uploaded_at"] and logo["bounding_box"] == pytest.approx(BOXES[0].as_list())
    assert client.get("/api/v1/images/logos/4").get_json()["index"] == 1


def test_a_plain_object_gets_slash_name_and_no_barcode(client: Any) -> None:
    image = client.get("/api/v1/images/logos/1").get_json()["image"]
    assert (image["source_image"], image["barcode"], image["image_id"]) == ("/photo-0.png", None, None)


def test_logo_ids_repeated_or_comma_separated_in_the_order_asked(client: Any) -> None:
    for query in ("logo_ids=4&logo_ids=1&logo_ids=999", "logo_ids=4,1,999", "logo_ids=4,1&logo_ids=999"):
        body = client.get(f"/api/v1/images/logos?{query}").get_json()
        assert [logo["id"] for logo in body["logos"]] == [4, 1] and body["count"] == 2
        assert all(set(logo) == LOGO_KEYS for logo in body["logos"])


def test_trailing_slashes_are_accepted(client: Any) -> None:
    assert client.get("/api/v1/images/logos/3/").get_json()["id"] == 3
    assert client.get("/api/v1/images/logos/?logo_ids=1").get_json()["count"] == 1
    assert client.get("/api/v1/ann/search/1/?count=1").status_code == 200


def test_unknown_and_bad_ids(client: Any) -> None:
    missing = client.get("/api/v1/images/logos/999")
    assert missing.status_code == 404 and missing.get_json()["status"] == 404
    # an id that is not an integer names no logo route (as Robotoff's ``{logo_id:int}``): 404, JSON
    bad = client.get("/api/v1/images/logos/abc")
    assert bad.status_code == 404 and bad.get_json()["status"] == 404
    assert client.get("/api/v1/images/logos/0").status_code == 400


def test_a_crop_by_open_food_facts_url_comes_from_the_bucket(client: Any) -> None:
    response = client.get(crop_url("/324/227/210/2359/4.jpg", (0.1, 0.1, 0.4, 0.4)))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    crop = Image.open(io.BytesIO(response.data)).convert("RGB")
    assert crop.size == (120, 120)
    red, green, blue = crop.getpixel((60, 60))  # type: ignore[misc]
    assert green > 200 and red < 40 and blue < 40  # the green square of that photo
    assert response.headers["ETag"] and "max-age" in response.headers["Cache-Control"]
    again = client.get(crop_url("/324/227/210/2359/4.jpg", (0.1, 0.1, 0.4, 0.4)),
                       headers={"If-None-Match": response.headers["ETag"]})  # fmt: skip
    assert again.status_code == 304 and not again.data


def test_crop_errors(client: Any) -> None:
    bad_boxes = [(0.5, 0.1, 0.4, 0.4), (-0.1, 0.1, 0.4, 0.4), (0.1, 0.1, 0.4, 1.5), (0.1, 0.1, 0.1, 0.4)]
    for box in bad_boxes:
        response = client.get(crop_url("/photo-0.png", box))
        assert response.status_code == 400 and response.get_json()["error"], box
    assert client.get(f"/api/v1/images/crop?image_url={OFF}/photo-0.png&y_min=0&x_min=0&y_max=1").status_code == 400
    assert client.get("/api/v1/images/crop?y_min=0&x_min=0&y_max=1&x_max=1").status_code == 400
    assert client.get(crop_url("/999/999/999/9999/1.jpg", (0, 0, 1, 1))).status_code == 404


def test_urls_off_the_allow_list_are_refused_when_fetching_is_on(tmp_path: Path) -> None:
    client = create_app(api_container(tmp_path, crop_fetch=True)).test_client()
    urls = ("http://169.254.169.254/latest/meta-data", "https://127.0.0.1/images/products/x.jpg",
            "file:///etc/passwd", "https://images.openfoodfacts.org.evil.test/images/products/1.jpg")  # fmt: skip
    for url in urls:
        response = client.get(f"/api/v1/images/crop?image_url={url}&y_min=0&x_min=0&y_max=1&x_max=1")
        assert response.status_code == 403 and "refused" in response.get_json()["error"], url


def test_cors_echoes_the_origin_with_credentials(client: Any) -> None:
    origin = "https://hunger.openfoodfacts.org"
    response = client.get("/api/v1/images/logos/1", headers={"Origin": origin})
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]
    error = client.get("/api/v1/images/logos/999", headers={"Origin": origin})
    assert error.headers["Access-Control-Allow-Origin"] == origin  # the page can read the error too


def test_preflights_answer_the_asked_headers_and_the_routes_methods(client: Any) -> None:
    asked = {
        "Origin": "http://localhost:5173",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
    }
    response = client.options("/api/v1/ann/batch", headers=asked)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type, authorization"
    assert "POST" in response.headers["Access-Control-Allow-Methods"].split(", ")
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    put = client.options("/api/v1/images/logos/1", headers={**asked, "Access-Control-Request-Method": "PUT"})
    assert put.status_code == 204 and "PUT" in put.headers["Access-Control-Allow-Methods"].split(", ")
    assert set(put.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PUT"}  # what this route has


def test_only_listed_origins_when_configured(tmp_path: Path) -> None:
    client = create_app(api_container(tmp_path, cors_origins="https://hunger.openfoodfacts.org")).test_client()
    listed = client.get("/api/v1/info", headers={"Origin": "https://hunger.openfoodfacts.org"})
    other = client.get("/api/v1/info", headers={"Origin": "https://evil.example"})
    assert listed.headers["Access-Control-Allow-Origin"] == "https://hunger.openfoodfacts.org"
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Credentials" not in other.headers


def test_method_not_allowed_names_the_allowed_methods(client: Any) -> None:
    response = client.delete("/api/v1/images/crop")
    assert response.status_code == 405 and response.is_json
    assert {"GET", "OPTIONS"} <= set(response.headers["Allow"].split(", "))
