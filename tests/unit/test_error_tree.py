"""Every error the project raises names its outcome, lives in ``common.errors`` and has one HTTP
status in ``HTTP_STATUS``; the entry points and the API map each."""

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
from common.errors import HTTP_STATUS, LogoAnnError, http_status
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


# --- the status table ----------------------------------------------------------------------


def _tree() -> list[type[LogoAnnError]]:
    found: list[type[LogoAnnError]] = [LogoAnnError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == "common.errors"]


def test_every_class_of_the_tree_is_in_the_table_and_nothing_else_is() -> None:
    declared = {cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, BaseException)}
    assert declared == set(_tree())
    assert set(HTTP_STATUS) == declared


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.BadQuery, 400),
        (errors.InvalidAnnotationError, 400),
        (errors.UnauthorizedError, 401),
        (errors.ForbiddenError, 403),
        (errors.FetchRefused, 403),
        (errors.NotFoundError, 404),
        (errors.ConflictError, 409),
        (errors.InvalidImageError, 422),
        (errors.InvalidEventError, 422),
        (errors.ModelError, 422),
        (errors.RetryLaterError, 503),
        (errors.ConfigError, 500),
        (errors.InternalError, 500),
    ],
)
def test_each_leaf_answers_its_status(cls: type[LogoAnnError], status: int) -> None:
    exc = cls.__new__(cls)
    assert http_status(exc) == status


def test_a_leaf_has_the_status_family_of_its_branch() -> None:
    families = {errors.PermanentError: range(400, 500), errors.TransientError: (503,), errors.FaultError: (500,)}
    for cls in _tree():
        for branch, allowed in families.items():
            if issubclass(cls, branch):
                assert HTTP_STATUS[cls] in allowed, cls.__name__


def test_a_class_declared_elsewhere_resolves_through_its_nearest_base() -> None:
    class Unlisted(errors.ConflictError):
        pass

    assert http_status(Unlisted("x")) == 409


def _exception_classes(path: Path) -> list[str]:
    """Names of the classes in ``path`` that derive from something named like an exception."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
            if any(base.endswith(("Error", "Exception", "Refused", "Warning")) for base in bases):
                names.append(node.name)
    return names


def test_every_project_exception_lives_in_the_tree() -> None:
    outside = {}
    for path in sorted([*(COMMON).rglob("*.py"), *(COMMON.parent / "functions").rglob("*.py")]):
        if path == COMMON / "errors.py":
            continue
        public = [name for name in _exception_classes(path) if not name.startswith("_")]
        if public:
            outside[str(path.relative_to(COMMON.parent))] = public
    assert outside == {}
