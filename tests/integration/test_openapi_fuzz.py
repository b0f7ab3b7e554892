"""The OpenAPI document against the live WSGI app (over fakes), with every Schemathesis check.

Schemathesis runs all of its phases (examples, coverage, fuzzing) and all of its checks on every
documented operation: no 5xx, documented status codes, content types, headers and bodies,
schema-valid requests accepted, schema-violating ones rejected, ``Allow`` on every 405, a
missing required header refused, auth not ignored. The document is as strict as the
validation, with three things no JSON Schema can say, each handled here and nowhere else:

- a crop box must not be empty (``y_min < y_max``, ``x_min < x_max``) and a query vector must not
  be all zeros: such generated requests are not sent (the routes' 400 for them is tested in
  ``tests/unit/test_robotoff_api.py`` and ``tests/unit/test_api.py``);
- Robotoff's logo search ties its parameters: ``value`` and ``taxonomy_value`` need ``type``,
  exclude each other, and ``type=label`` takes ``taxonomy_value``: such generated requests are
  not sent (the 400s are tested in ``tests/unit/test_api_annotations.py``);
- a paging ``cursor`` is a token only the API issues: generated cursors are not sent (cursor
  handling is tested in ``tests/unit/test_api_extensions.py``);
- an uploaded file must be a decodable image: for the two upload operations a 422 is a valid
  answer to schema-valid bytes.

Sign-ins go to a local stand-in of Product Opener's ``/cgi/auth.pl``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from common.api import create_app
from common.api.openapi import document
from tests.api_support import api_container, ingest
from tests.doubles.product_opener import ProductOpenerAuthDouble

pytestmark = pytest.mark.integration

EXAMPLES = 40  # per operation and phase
POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # Schemathesis' default
UPLOADS = ["/api/v1/search/image", "/api/v1/images"]
CONFIG = {
    "generation": {"max-examples": EXAMPLES, "database": "none"},
    "seed": 20261201,
    "operations": [
        {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE, "422"]}}}
        for path in UPLOADS
    ],
}
BOX = ("y_min", "x_min", "y_max", "x_max")


@pytest.fixture(scope="module")
def auth_pl() -> Iterator[ProductOpenerAuthDouble]:
    server = ProductOpenerAuthDouble().start()
    server.add_user("alice", "s3cret")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, auth_pl: ProductOpenerAuthDouble) -> Any:
    container = api_container(Path(tmp_path_factory.mktemp("fuzz")), off_auth_url=auth_pl.url, crop_fetch=False)
    ingest(container, [((255, 0, 0), (0, 0, 255)), ((250, 10, 0), (0, 255, 0)), ((0, 0, 250), (255, 255, 0))])
    return create_app(container)


# the document the app serves (``test_the_served_document_states_the_index_dimension``), loaded
# at collection so that each operation and phase is its own test
schema = schemathesis.openapi.from_dict(document(8), config=SchemathesisConfig.from_dict(CONFIG))


def _number(value: Any) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _ties_search_parameters(path: str, query: dict[str, Any]) -> bool:
    if path != "/api/v1/images/logos/search":
        return False
    value, taxonomy, kind = query.get("value"), query.get("taxonomy_value"), query.get("type")
    return bool(value or taxonomy) and (kind is None or bool(value and taxonomy) or (kind == "label" and bool(value)))


def says_what_no_schema_can(case: Any) -> bool:
    """A generated request that breaks a rule JSON Schema cannot state (see the module docstring)."""
    query = case.query or {}
    if "cursor" in query or _ties_search_parameters(case.path, query):
        return True
    corners = [_number(query.get(name)) for name in BOX]
    if all(v is not None and 0 <= v <= 1 for v in corners):
        y_min, x_min, y_max, x_max = corners
        return not (y_min < y_max and x_min < x_max)  # type: ignore[operator]
    vector = case.body.get("embedding") if isinstance(case.body, dict) else None
    return isinstance(vector, list) and bool(vector) and all(v == 0 for v in vector)


def test_every_route_is_documented_and_every_documented_route_exists(app: Any) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert routes == documented


def test_the_served_document_states_the_index_dimension(app: Any) -> None:
    served = app.test_client().get("/api/v1/openapi.json").get_json()
    assert served == document(8)  # the colour embedder's dimension
    assert served["components"]["schemas"]["EmbeddingRequest"]["properties"]["embedding"]["maxItems"] == 8


@schema.parametrize()
def test_every_check_passes(case: Any, app: Any) -> None:
    if says_what_no_schema_can(case):
        return
    case.call_and_validate(app=app)
