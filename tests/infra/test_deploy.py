"""common.deploy names only real settings and real dependencies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from common import deploy
from common.errors import ConfigError
from common.settings import CHOICES, Settings

FIELDS = {field.name for field in dataclasses.fields(Settings)}


def test_every_listed_setting_exists() -> None:
    for function, fields in deploy.FUNCTION_SETTINGS.items():
        assert fields <= FIELDS, f"{function}: unknown settings {sorted(fields - FIELDS)}"
    assert deploy.SECRET_SETTINGS <= FIELDS


def test_required_settings_are_read_and_cover_the_adapters() -> None:
    for function in deploy.FUNCTIONS:
        required = deploy.REQUIRED_SETTINGS[function]
        assert required <= deploy.FUNCTION_SETTINGS[function]
        assert {"image_store", "model_runtime", "index", "store", "database_url", "es_url"} <= required
    assert {"queue", "pubsub_project", "crops_topic"} <= deploy.REQUIRED_SETTINGS["detect"]
    assert "queue" not in deploy.FUNCTION_SETTINGS["search"]


def test_cloud_adapters_are_valid_choices() -> None:
    for field, adapter in deploy.CLOUD_ADAPTERS.items():
        assert adapter in CHOICES[field]


def test_requirements_are_pinned_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["Flask >=3,<4", "boto3>=1.34", "numpy", "pillow", '
        '"pg8000", "elasticsearch>=8,<9", "tritonclient[http]>=2.40", "functions_framework>=3.8", '
        '"cloudevents", "onnxruntime>=1.20,<1.23", "orjson>=3.9"]\n'
    )
    assert "Flask >=3,<4" in deploy.requirements_for("search", pyproject)
    assert "functions_framework>=3.8" in deploy.requirements_for("embed_index", pyproject)
    with pytest.raises(ConfigError, match="google-cloud-pubsub"):
        deploy.requirements_for("detect", pyproject)
    with pytest.raises(ConfigError, match="unknown function"):
        deploy.requirements_for("resize", pyproject)


def test_real_pyproject_pins_every_function_dependency() -> None:
    for function in deploy.FUNCTIONS:
        lines = deploy.requirements_for(function)
        assert len(lines) == len(deploy.FUNCTION_DISTRIBUTIONS[function])
