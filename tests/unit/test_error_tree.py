"""The exception tree and its status table: every exception the project defines is a
``LogoAnnError`` declared in ``common.errors`` (private control-flow ones excepted), and every
class of the tree has exactly one HTTP status."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from common import errors
from common.errors import HTTP_STATUS, LogoAnnError, http_status

ROOT = Path(__file__).resolve().parents[2]


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
    for path in sorted([*(ROOT / "common").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]):
        if path == ROOT / "common" / "errors.py":
            continue
        public = [name for name in _exception_classes(path) if not name.startswith("_")]
        if public:
            outside[str(path.relative_to(ROOT))] = public
    assert outside == {}
