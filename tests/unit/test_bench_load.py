"""The load stage's bookkeeping: the request paths it sends, and the records it makes of wrk's figures."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from bench import load
from common.off_images import source_image_from_url_path


def test_paths_are_the_games_requests(tmp_path: Path) -> None:
    files = load.write_paths(tmp_path, n=1000, photos=7, count=50)
    ann = files["ann"].read_text().splitlines()
    assert len(ann) == 50 and all(p.startswith("/api/v1/ann/search/") and p.endswith("?count=50") for p in ann)
    assert all(1 <= int(p.split("/")[-1].split("?")[0]) < 1000 for p in ann)
    for line in files["logos"].read_text().splitlines():
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(line).query)
        assert len(query["logo_ids"]) == 50  # repeated, as the game sends them
    for line in files["crop"].read_text().splitlines():
        query = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(line).query).items()}
        image = urllib.parse.urlsplit(query["image_url"])
        assert image.hostname == "images.openfoodfacts.org"
        source = source_image_from_url_path(image.path)
        assert source is not None
        assert 3_000_000_000_000 <= int(source.removesuffix("/1.jpg").replace("/", "")) < 3_000_000_000_007
        assert 0 <= float(query["y_min"]) < float(query["y_max"]) <= 1 and float(query["x_min"]) < float(query["x_max"])


def test_records_carry_each_routes_rate_percentiles_and_every_error() -> None:
    wrk = {
        "requests": 500, "duration_us": 10_000_000, "p50_us": 1500, "p90_us": 4000, "p99_us": 12_500,
        "max_us": 40_000, "connect_errors": 0, "read_errors": 2, "write_errors": 0, "status_errors": 3,
        "timeouts": 1, "connections": 4,
    }  # fmt: skip
    (record,) = load.records_of({"ann": wrk}, 16, 100_000, 16)
    assert record["route"] == "ann" and record["connections"] == 16 and record["route_connections"] == 4
    assert record["requests_per_s"] == 50.0 and (record["p50_ms"], record["p99_ms"]) == (1.5, 12.5)
    assert record["errors"] == 6 and record["error_kinds"] == {"read_errors": 2, "status_errors": 3, "timeouts": 1}
