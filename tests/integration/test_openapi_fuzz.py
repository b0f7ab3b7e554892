"""The OpenAPI document against the live WSGI app (over fakes): every route is documented, and
generated requests, valid and invalid, never get a 5xx nor an answer the document does not allow."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from common.api import create_app
from common.api.openapi import document
from tests.api_support import api_container, ingest

EXAMPLES = 40  # per operation and mode (25 cases): about 1,000 requests in about 25 s
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]
OPERATIONS = [(path, method) for path, item in document()["paths"].items() for method in item]


def can_be_invalid(operation: dict[str, Any]) -> bool:
    """Whether a request can break the document at all (a free-form string path cannot)."""
    constrained = [p for p in operation.get("parameters", []) if p["schema"] != {"type": "string"}]
    return "requestBody" in operation or bool(constrained)


CASES = [(path, method, GenerationMode.POSITIVE) for path, method in OPERATIONS] + [
    (path, method, GenerationMode.NEGATIVE)
    for path, method in OPERATIONS
    if can_be_invalid(document()["paths"][path][method])
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    container = api_container(Path(tmp_path_factory.mktemp("fuzz")))
    ingest(container, [((255, 0, 0), (0, 0, 255)), ((250, 10, 0), (0, 255, 0)), ((0, 0, 250), (255, 255, 0))])
    return create_app(container)


@pytest.fixture(scope="module")
def schema(app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_every_route_is_documented_and_every_documented_route_exists(app: Any) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(OPERATIONS)


def test_the_served_document_is_the_module_document(app: Any) -> None:
    assert app.test_client().get("/api/v1/openapi.json").get_json() == document()


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_generated_requests_get_documented_answers(schema: Any, path: str, method: str, mode: GenerationMode) -> None:
    operation = schema[path][method.upper()]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()
