"""Crops of remote images under their own bound: a hung image host holds at most that many
threads, the next crop is answered 503 with ``Retry-After`` at once, and a URL that missed or
failed is not fetched again for a while.

The hung host is a real TCP listener on 127.0.0.1 that never answers (``SilentHost``), allowed
through the settings a deployment would use (host, port, network); the missing image is a 404 of
the real local HTTPS server of ``test_remote_images``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.adapters.http_images import DEPENDENCY, FetchPolicy, HttpImages, public_or_within
from common.adapters.sqlite_store import SqliteStore
from common.api import create_app
from common.domain import Box
from common.errors import DependencyError, FetchRefused, NotFoundError, RetryLaterError
from common.outbound import Outbound
from common.pipeline.crops import CropService, DecodedImageCache
from tests.api_support import api_container
from tests.doubles.silent_host import SilentHost
from tests.fakes import DictImageStore
from tests.unit.test_remote_images import policy_for, server, tls, url  # noqa: F401 (fixtures)

WHOLE = Box(0, 0, 1, 1)
BOX_QUERY = "&y_min=0&x_min=0&y_max=1&x_max=1"


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def service(tmp_path: Path, policy: FetchPolicy, limit: int) -> CropService:
    store = SqliteStore(tmp_path / "meta.sqlite3")
    remote = Outbound(DEPENDENCY, limit, miss_ttl_s=60, failure_ttl_s=10)
    images = HttpImages(policy)
    return CropService(store, DictImageStore(), DecodedImageCache(10**7), images, True, 10**8, 10**8, remote)


def silent_policy(host: SilentHost) -> FetchPolicy:
    loopback = (ipaddress.ip_network("127.0.0.1/32"),)
    return FetchPolicy(
        frozenset({"127.0.0.1"}), timeout_s=20, ports=frozenset({host.port}), address_allowed=public_or_within(loopback)
    )


def test_fetches_beyond_the_bound_are_refused_at_once_and_a_failure_is_remembered(
    tmp_path: Path, silent: SilentHost, pool: ThreadPoolExecutor
) -> None:
    crops = service(tmp_path, silent_policy(silent), limit=2)
    base = f"https://127.0.0.1:{silent.port}/images"
    hung = [pool.submit(crops.crop, f"{base}/hung-{i}.jpg", WHOLE) for i in range(2)]
    assert silent.wait_for(2)
    with pytest.raises(RetryLaterError) as refused:
        crops.crop(f"{base}/third.jpg", WHOLE)  # the old code connected too, and waited 20 s
    assert refused.value.retry_after_s == 1 and silent.accepted == 2
    with pytest.raises(FetchRefused):
        crops.crop("https://elsewhere.example/x.jpg", WHOLE)  # a refusal is not a fetch: no slot needed
    silent.release()
    for future in hung:
        with pytest.raises(DependencyError):
            future.result(timeout=30)
    with pytest.raises(RetryLaterError) as remembered:
        crops.crop(f"{base}/hung-0.jpg", WHOLE)
    assert 1 <= remembered.value.retry_after_s <= 10 and silent.accepted == 2  # not fetched again
    assert silent.wait_for(3, timeout_s=0) is False


def test_a_missing_image_is_fetched_once(tmp_path: Path, server: Any, tls: tuple[Path, Path]) -> None:  # noqa: F811
    crops = service(tmp_path, policy_for(server, tls), limit=4)
    missing = url(server, "/not-there.jpg")
    for _ in range(3):
        with pytest.raises(NotFoundError):
            crops.crop(missing, WHOLE)
    assert [path for path, _ in server.seen].count("/not-there.jpg") == 1


def test_the_route_answers_503_with_retry_after_beyond_the_bound(
    tmp_path: Path, silent: SilentHost, pool: ThreadPoolExecutor
) -> None:
    container = api_container(
        tmp_path,
        crop_fetch=True,
        crop_hosts="127.0.0.1",
        crop_fetch_ports=str(silent.port),
        crop_fetch_networks="127.0.0.1/32",
        crop_fetch_concurrency=1,
        crop_fetch_timeout_s=20,
    )
    app = create_app(container)
    base = f"/api/v1/images/crop?image_url=https://127.0.0.1:{silent.port}/images"
    first = pool.submit(lambda: app.test_client().get(f"{base}/a.jpg{BOX_QUERY}"))
    assert silent.wait_for(1)
    busy = app.test_client().get(f"{base}/b.jpg{BOX_QUERY}")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert busy.get_json()["status"] == 503 and silent.accepted == 1
    silent.release()
    assert first.result(timeout=30).status_code == 503  # the host hung up: a dependency failure
    again = app.test_client().get(f"{base}/a.jpg{BOX_QUERY}")
    assert again.status_code == 503 and 1 <= int(again.headers["Retry-After"]) <= 10 and silent.accepted == 1


def test_the_bound_and_memory_are_settings() -> None:
    from common.errors import ConfigError
    from common.settings import load_settings

    s = load_settings({"LOGO_ANN_CROP_FETCH_CONCURRENCY": "2", "LOGO_ANN_CROP_FETCH_NETWORKS": "10.0.0.0/8"})
    assert s.crop_fetch_concurrency == 2 and s.crop_network_list == (ipaddress.ip_network("10.0.0.0/8"),)
    assert public_or_within(s.crop_network_list)(ipaddress.ip_address("10.1.2.3"))
    assert not public_or_within(s.crop_network_list)(ipaddress.ip_address("192.168.1.1"))
    for name, bad in (("CROP_FETCH_CONCURRENCY", "0"), ("CROP_FETCH_NETWORKS", "ten"), ("CROP_FETCH_PORTS", "x")):
        with pytest.raises(ConfigError, match=f"LOGO_ANN_{name}"):
            load_settings({f"LOGO_ANN_{name}": bad})
