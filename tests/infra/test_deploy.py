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
    # search sends re-votes past revote_inline_max through the crops queue in the cloud
    assert {"queue", "pubsub_project", "crops_topic"} <= deploy.REQUIRED_SETTINGS["search"]
    assert "google-cloud-pubsub" in deploy.FUNCTION_DISTRIBUTIONS["search"]


def test_each_function_receives_what_it_requires_and_only_what_it_reads() -> None:
    for function in deploy.FUNCTIONS:
        received = deploy.RECEIVED_SETTINGS[function]
        assert deploy.REQUIRED_SETTINGS[function] <= received <= deploy.FUNCTION_SETTINGS[function]


def test_the_wiring_gives_each_setting_one_source() -> None:
    wiring = deploy.wiring()
    for function, spec in wiring["functions"].items():
        fixed, deployed, secrets = spec["environment"], spec["deployed"], spec["secrets"]
        assert not (fixed.keys() & deployed.keys() or fixed.keys() & secrets.keys() or deployed.keys() & secrets.keys())
        names = {v.removeprefix("LOGO_ANN_").lower() for v in [*fixed, *deployed, *secrets]}
        assert names == deploy.RECEIVED_SETTINGS[function]
        assert fixed.get("LOGO_ANN_QUEUE") == ("pubsub" if spec["publishes"] else None)
    assert wiring["functions"]["search"]["publishes"] == ["crops"]
    assert wiring["functions"]["embed_index"]["secrets"]["LOGO_ANN_S3_ACCESS_KEY_ID"] == "s3_access_key_id-embed_index"
    assert {d["function"] for d in wiring["deployments"].values()} == set(deploy.FUNCTIONS)
    assert {q["push_to"] for q in wiring["queues"].values()} <= set(deploy.FUNCTIONS)


def test_cloud_adapters_are_valid_choices() -> None:
    for field, adapter in deploy.CLOUD_ADAPTERS.items():
        assert adapter in CHOICES[field]


def test_requirements_are_pinned_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["Flask >=3,<4", "boto3>=1.34", "numpy", "pillow", '
        '"pg8000", "elasticsearch>=8,<9", "tritonclient[http]>=2.40", "functions_framework>=3.8", '
        '"cloudevents", "onnxruntime>=1.20,<1.23", "orjson>=3.9", "cachetools>=5.3"]\n'
    )
    assert "functions_framework>=3.8" in deploy.requirements_for("embed_index", pyproject)
    for publisher in ("detect", "search"):
        with pytest.raises(ConfigError, match="google-cloud-pubsub"):
            deploy.requirements_for(publisher, pyproject)
    pyproject.write_text(pyproject.read_text().replace('"orjson>=3.9"', '"orjson>=3.9", "google-cloud-pubsub>=2.20"'))
    assert "Flask >=3,<4" in deploy.requirements_for("search", pyproject)
    with pytest.raises(ConfigError, match="unknown function"):
        deploy.requirements_for("resize", pyproject)


def test_real_pyproject_pins_every_function_dependency() -> None:
    for function in deploy.FUNCTIONS:
        lines = deploy.requirements_for(function)
        assert len(lines) == len(deploy.FUNCTION_DISTRIBUTIONS[function])
