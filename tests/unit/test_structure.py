"""The shape of the code: the API package is a tree, and the composition root is typed by port."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from common.bootstrap import Container
from common.pipeline.annotate import Annotator
from common.pipeline.deferred import DeferredWork
from common.pipeline.deliver import MessageHandler
from common.pipeline.detect import DetectDeps
from common.pipeline.embed_index import EmbedDeps
from common.pipeline.intake import Intake
from common.pipeline.linear import EmbeddedPipeline, QueuedPipeline
from common.ports.image_store import ImageStore
from common.ports.metadata_store import MetadataStore
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.remote_images import RemoteImages
from common.ports.sign_in import SignIn
from common.ports.taxonomy_source import TaxonomySource
from common.ports.vector_index import VectorIndex
from common.ports.work_queue import WorkQueue
from common.settings import load_settings
from tests.fakes import BruteForceIndex, CannedDetector, ColourEmbedder, DictImageStore, ListQueue
from tests.unit.test_layers import imports_of

COMMON = Path(__file__).resolve().parents[2] / "common"
API = COMMON / "api"
ROOTS = {"app", "__init__"}


def api_imports() -> dict[str, set[str]]:
    """Each module of ``common.api`` → the ``common.api`` modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in API.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("common.api"):
                if node.module == "common.api":
                    found |= {alias.name for alias in node.names}
                else:
                    found.add(node.module.removeprefix("common.api."))
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("common.api.") for a in node.names if a.name.startswith("common.api.")}
        graph[path.stem] = found
    return graph


def test_the_api_package_is_a_tree() -> None:
    graph = api_imports()
    routes = {name for name in graph if name.startswith("routes_")} | {"openapi"}
    shared = set(graph) - routes - ROOTS  # context, bodies, params, hooks, ...
    assert {"context", "bodies", "params", "hooks"} <= shared
    assert graph["app"] >= routes  # the factory registers every blueprint
    for name in routes:
        assert graph[name] <= shared, f"{name} imports {graph[name] - shared}: route modules import only shared ones"
    for name in shared:
        assert not graph[name] & (routes | ROOTS), f"{name} imports a route module or the factory"
    assert graph["__init__"] == {"app"}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"import cycle: {' -> '.join((*trail, name))}"
        for target in graph.get(name, set()):
            visit(target, (*trail, name))

    for name in graph:
        visit(name, ())


def test_one_helper_turns_a_neighbour_into_json() -> None:
    writers = [path.name for path in API.glob("*.py") if ".distance" in path.read_text()]
    assert writers == ["bodies.py"]


@pytest.mark.parametrize(
    ("member", "port"),
    [
        ("store", MetadataStore),
        ("index", VectorIndex),
        ("images", ImageStore),
        ("queue", WorkQueue),
        ("detector", LogoDetector),
        ("embedder", CropEmbedder),
        ("sign_in", SignIn),
        ("remote_images", RemoteImages),
        ("taxonomy_source", TaxonomySource),
    ],
)
def test_each_container_member_is_typed_by_its_port(member: str, port: type) -> None:
    prop = getattr(Container, member)
    assert isinstance(prop, property)
    assert typing.get_type_hints(prop.fget)["return"] is port
    assert typing.get_type_hints(Container.__init__)[member] == port | None


def test_the_constructor_takes_every_adapter_and_builds_none(tmp_path: Path) -> None:
    from common.adapters.sqlite_store import SqliteStore

    # settings naming services that do not exist here: any adapter built from them would fail
    settings = load_settings(
        {},
        home=tmp_path,
        store="postgres",
        database_url="postgresql://nobody@127.0.0.1:1/none",
        index="elasticsearch",
        es_url="http://127.0.0.1:1",
        image_store="s3",
        s3_endpoint_url="http://127.0.0.1:1",
        queue="pubsub",
        model_runtime="triton",
        triton_url="127.0.0.1:1",
    )
    given = {
        "store": SqliteStore(tmp_path / "meta.sqlite3"),
        "index": BruteForceIndex(),
        "images": DictImageStore(),
        "queue": ListQueue(),
        "detector": CannedDetector([]),
        "embedder": ColourEmbedder(),
    }
    container = Container(settings, **given)  # type: ignore[arg-type]
    for name, adapter in given.items():
        assert getattr(container, name) is adapter
    assert container.fresh_index() is given["index"] and container.embedding_dim() == 8
    assert container.search_service().dim() == 8


def test_adapters_are_built_in_the_composition_root_alone() -> None:
    """Outside the adapters (``common/adapters``, and the embedded index beside them), only
    ``common/bootstrap.py`` imports an adapter module: the use cases, the API and the CLI reach
    adapters through the container."""
    rooms = ("adapters", "embedded_index")
    importers = sorted(
        str(path.relative_to(COMMON))
        for path in COMMON.rglob("*.py")
        if not set(rooms) & set(path.relative_to(COMMON).parts)
        and any(name.startswith(tuple(f"common.{room}" for room in rooms)) for name in imports_of(path))
    )
    assert importers == ["bootstrap.py"]


def test_the_api_keeps_nothing_under_string_keys_of_app_extensions() -> None:
    readers = [
        path.name
        for path in API.glob("*.py")
        if "extensions[" in path.read_text() or "extensions.get" in path.read_text()
    ]
    assert readers == []


@pytest.mark.parametrize(
    "use_case",
    [DetectDeps, EmbedDeps, Intake, EmbeddedPipeline, QueuedPipeline, MessageHandler, DeferredWork, Annotator],
    ids=lambda use_case: use_case.__name__,
)
def test_the_use_cases_are_given_typed_collaborators(use_case: type) -> None:
    """Each is handed the objects it uses, typed by their classes or ports: no ``Any``, and no
    callback into the composition root (a member's type names no ``Container``)."""
    init = use_case.__init__  # type: ignore[misc]
    hints = typing.get_type_hints(init)
    assert hints, f"{use_case.__name__} declares no collaborators"
    for name, hint in hints.items():
        assert hint is not typing.Any and "typing.Any" not in str(hint), f"{use_case.__name__}.{name}: {hint}"
        assert "Container" not in str(hint), f"{use_case.__name__}.{name}: {hint}"
