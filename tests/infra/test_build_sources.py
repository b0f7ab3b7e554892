"""Function source archives: main.py at the root, the common/ package and requirements.txt."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from common import deploy
from common.errors import ConfigError
from tests.infra.hcl import REPO_ROOT, TERRAFORM_DIR

PYPROJECT = """
[project]
name = "x"
dependencies = [
  "numpy>=1.26,<3", "pillow>=10", "onnxruntime>=1.20", "flask>=3", "functions-framework>=3.8",
  "cloudevents>=1.10", "tritonclient[http]>=2.40,<3", "elasticsearch>=8.12,<9", "pg8000>=1.30",
  "boto3>=1.34", "google-cloud-pubsub>=2.20", "usearch>=2.12", "cachetools>=5.3",
]
"""


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_sources", TERRAFORM_DIR / "build_sources.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A tiny repository: one function, a package with a sub-package and build litter."""
    root = tmp_path / "repo"
    (root / "functions" / "detect").mkdir(parents=True)
    (root / "functions" / "detect" / "main.py").write_text("def detect(event):\n    return None\n")
    (root / "common" / "adapters" / "__pycache__").mkdir(parents=True)
    (root / "common" / "__init__.py").write_text("")
    (root / "common" / "adapters" / "s3.py").write_text("X = 1\n")
    (root / "common" / "adapters" / "__pycache__" / "s3.cpython-311.pyc").write_bytes(b"\0")
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root


def test_archive_holds_main_common_and_requirements(repo: Path, tmp_path: Path) -> None:
    archive = builder.build_archive("detect", tmp_path / "out", repo_root=repo)
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        requirements = zipped.read("requirements.txt").decode().split()
        main = zipped.read("main.py").decode()
    assert names == {"main.py", "requirements.txt", "common/__init__.py", "common/adapters/s3.py"}
    assert main.startswith("def detect(")
    assert "google-cloud-pubsub>=2.20" in requirements and "tritonclient[http]>=2.40,<3" in requirements
    assert not any(line.startswith(("usearch", "torch", "tqdm")) for line in requirements)


def test_archives_are_reproducible(repo: Path, tmp_path: Path) -> None:
    first = builder.build_archive("detect", tmp_path / "a", repo_root=repo).read_bytes()
    (repo / "common" / "adapters" / "s3.py").touch()
    second = builder.build_archive("detect", tmp_path / "b", repo_root=repo).read_bytes()
    assert first == second


def test_missing_entry_point_is_refused(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="main.py is missing"):
        builder.build_archive("search", tmp_path / "out", repo_root=repo)


def test_the_real_repository_builds(tmp_path: Path) -> None:
    assert builder.main(["--out", str(tmp_path)]) == 0
    for function in ("detect", "embed_index", "search"):
        with zipfile.ZipFile(tmp_path / f"{function}.zip") as zipped:
            names = zipped.namelist()
            assert zipped.read("main.py") == (REPO_ROOT / "functions" / function / "main.py").read_bytes()
        assert "requirements.txt" in names and "common/settings.py" in names and "common/deploy.py" in names


# Top-level modules of the pyproject dependencies a function may leave out of its archive.
_OPTIONAL_MODULES = {
    "usearch": "usearch",
    "onnxruntime": "onnxruntime",
    "tqdm": "tqdm",
    "google-cloud-pubsub": "google.cloud.pubsub",
}
_IMPORT_WITHOUT = """
import importlib.abc, runpy, sys
blocked = set(sys.argv[2:])
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ImportError(f"{name} is not in this function's requirements.txt")
sys.meta_path.insert(0, Block())
sys.path.insert(0, ".")
runpy.run_path(sys.argv[1])
"""


@pytest.mark.parametrize("function", ["detect", "embed_index", "search"])
def test_function_imports_with_only_its_requirements(function: str) -> None:
    shipped = " ".join(deploy.requirements_for(function))
    blocked = [module for dist, module in _OPTIONAL_MODULES.items() if dist not in shipped]
    main = f"functions/{function}/main.py"
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITHOUT, main, *blocked],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


# After main: what the function's cloud settings build (Triton, Elasticsearch, PostgreSQL, S3, and
# for detect Pub/Sub), constructed without connecting, or imported where a constructor connects.
_CLOUD_WIRING = """
import sys
from common.settings import load_settings
from common.adapters import build
settings = load_settings()
build.build_images(settings)
import common.inference.detector, common.inference.embedder  # a session connects when built
import common.adapters.triton_session
import common.adapters.elasticsearch_index
import common.adapters.postgres_store
if sys.argv[-1] == "detect":
    build.build_queue(settings)
if sys.argv[-1] == "search":
    from common.api import create_app
    from common.bootstrap import Container
    create_app(Container(settings))
for module in ("onnxruntime", "usearch"):
    assert module not in sys.modules, f"{module} was imported"
"""
_CLOUD_ENV = {
    "LOGO_ANN_IMAGE_STORE": "s3",
    "LOGO_ANN_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    "LOGO_ANN_QUEUE": "pubsub",
    "LOGO_ANN_MODEL_RUNTIME": "triton",
    "LOGO_ANN_TRITON_URL": "127.0.0.1:9",
    "LOGO_ANN_INDEX": "elasticsearch",
    "LOGO_ANN_ES_URL": "http://127.0.0.1:9",
    "LOGO_ANN_STORE": "postgres",
    "LOGO_ANN_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
    "LOGO_ANN_PIPELINE": "platform",
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",  # the publisher client needs no credentials then
}


@pytest.mark.parametrize("function", ["detect", "embed_index", "search"])
def test_cloud_wiring_loads_neither_onnxruntime_nor_usearch(function: str, tmp_path: Path) -> None:
    shipped = " ".join(deploy.requirements_for(function))
    assert "onnxruntime" not in shipped and "usearch" not in shipped
    blocked = [module for dist, module in _OPTIONAL_MODULES.items() if dist not in shipped]
    script = tmp_path / "wiring.py"
    script.write_text(f"import runpy\nrunpy.run_path({f'functions/{function}/main.py'!r})\n{_CLOUD_WIRING}")
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITHOUT, str(script), *blocked, function],
        cwd=REPO_ROOT,
        env={**os.environ, **_CLOUD_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
