"""Every error the project raises names its outcome, and the entry points and the API map each."""

from __future__ import annotations

import ast
import inspect
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import PIL.Image
import pytest
from cloudevents.http import CloudEvent

import common.bootstrap as bootstrap
import common.errors as errors
from common.api import create_app
from common.bootstrap import Container
from common.domain import Detection
from common.entrypoints import FINALIZED, handle_storage_event
from common.ports.metadata_store import FAILED
from tests.api_support import api_container, two_squares

COMMON = Path(__file__).resolve().parents[2] / "common"
OUTCOMES = (errors.PermanentError, errors.TransientError, errors.FaultError)
ABSTRACT = {"LogoAnnError", "FaultError"}  # a raise names an outcome (or a leaf of one)


def test_every_error_class_has_exactly_one_outcome() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.LogoAnnError)]
    assert {c.__name__ for c in classes} >= {"ConfigError", "InternalError", "DependencyError", "NotFoundError"}
    for kind in classes:
        if kind.__name__ != "LogoAnnError":
            assert sum(issubclass(kind, outcome) for outcome in OUTCOMES) == 1, kind


def test_nothing_raises_an_abstract_error() -> None:
    raised: list[str] = []
    for path in COMMON.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", None))
                if name in ABSTRACT:
                    raised.append(f"{path.relative_to(COMMON)}:{node.lineno} raises {name}")
    assert raised == []


class FailingDetector:
    version = "failing-1"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def detect(self, image: PIL.Image.Image) -> list[Detection]:
        raise self.error


CASES = {
    # a bad image is the use case's to record: the event is done (acknowledged), the image failed
    "permanent": (errors.ModelError("output tensor has the wrong shape"), None, "done", 422),
    "transient": (errors.DependencyError("triton", "unreachable"), errors.TransientError, "retry", 503),
    "config": (errors.ConfigError("LOGO_ANN_X is wrong"), errors.ConfigError, "fault", 500),
    "internal": (errors.InternalError("an invariant broke"), errors.InternalError, "fault", 500),
}


@pytest.fixture
def failing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Container, tuple[Any, ...]]]:
    case = CASES[request.param]
    plain = api_container(tmp_path)
    container = Container(plain.settings, store=plain.store, images=plain.images, index=plain.index,
                          embedder=plain.embedder, detector=FailingDetector(case[0]))  # fmt: skip
    previous = bootstrap.set_container(container)
    yield container, case
    bootstrap.set_container(previous)


@pytest.mark.parametrize("failing", list(CASES), indirect=True)
def test_the_detect_function_maps_each_outcome(
    failing: tuple[Container, tuple[Any, ...]], caplog: pytest.LogCaptureFixture
) -> None:
    container, (_, raised, outcome, _) = failing
    ref = container.images.put("uploads", "a.png", two_squares((255, 0, 0), (0, 0, 255)))
    event = CloudEvent({"type": FINALIZED, "source": "//storage", "id": "e1"},
                       {"bucket": "uploads", "name": "a.png", "generation": ref.generation})  # fmt: skip
    with caplog.at_level(logging.INFO, logger="logo_ann.function"):
        if raised is None:
            handle_storage_event(event)  # acknowledged
        else:
            with pytest.raises(raised):
                handle_storage_event(event)  # the platform retries, then dead-letters
    (line,) = [r for r in caplog.records if r.name == "logo_ann.function"]
    assert line.fields["outcome"] == outcome  # type: ignore[attr-defined]
    assert line.levelno == {"done": logging.INFO, "retry": logging.WARNING, "fault": logging.ERROR}[outcome]
    image = container.store.find_images("uploads", "a.png")[0]
    assert (image.status == FAILED) == (outcome == "done")
    assert image.attempts == (1 if outcome == "retry" else 0)


@pytest.mark.parametrize("failing", list(CASES), indirect=True)
def test_the_api_maps_each_outcome(failing: tuple[Container, tuple[Any, ...]]) -> None:
    container, (_, _, _, status) = failing
    response = create_app(container).test_client().post("/api/v1/search/image", data=two_squares((1, 2, 3), (4, 5, 6)))
    assert response.status_code == status and response.get_json()["status"] == status
    if status == 500:
        assert response.get_json()["error"] == "internal error"  # no internals leak
