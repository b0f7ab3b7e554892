"""The local stack runs each function with what Terraform deploys it with (``wiring.json``, which
``common/deploy.py`` renders): the same variables and fixed values, the stack's own addresses and
credentials in place of the cloud's, and nothing else but its local folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common import deploy
from common.settings import env_name
from stack.services import ServiceError
from stack.wiring import STACK_LOCAL, TOPIC, function_env, wired_env

DEPLOYED = json.loads(deploy.WIRING_JSON.read_text())["functions"]  # what Terraform reads


def stack_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    found = {
        "S3_ENDPOINT_URL": "http://127.0.0.1:8333",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
        "TRITON_URL": "127.0.0.1:8000",
        "ES_URL": "http://127.0.0.1:9200",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/logo_ann_stack",
        "MODELS_DIR": "/stack/models",
    }
    ports = {"detect": 9001, "embed_index": 9002, "search": 9003, "bridge": 9004}
    return function_env(found, Path("/stack"), "uploads", ports, overrides or {})


@pytest.mark.parametrize("function", deploy.FUNCTIONS)
def test_each_function_runs_with_exactly_what_terraform_deploys(function: str) -> None:
    deployed = DEPLOYED[function]
    env = wired_env(function, stack_env())
    cloud = {*deployed["environment"], *deployed["deployed"], *deployed["secrets"]}
    assert set(env) - cloud == set(STACK_LOCAL), "the stack gives a setting the cloud does not"
    assert cloud - set(env) == set(), "the stack lacks a setting the cloud gives"
    assert {name: env[name] for name in deployed["environment"]} == deployed["environment"]


def test_the_stack_makes_the_clouds_adapter_choices() -> None:
    env = stack_env()
    assert {field: env[env_name(field)] for field in deploy.CLOUD_ADAPTERS} == deploy.CLOUD_ADAPTERS


def test_search_publishes_re_votes_to_the_crops_topic_as_in_the_cloud() -> None:
    env = stack_env({"LOGO_ANN_REVOTE_INLINE_MAX": "0"})
    search = wired_env("search", env)
    assert (search["LOGO_ANN_QUEUE"], search["LOGO_ANN_CROPS_TOPIC"]) == ("pubsub", TOPIC)
    assert "LOGO_ANN_QUEUE" not in wired_env("embed_index", env)  # it runs re-votes, it sends none
    assert all(wired_env(f, env)["LOGO_ANN_REVOTE_INLINE_MAX"] == "0" for f in deploy.FUNCTIONS)


def test_a_wired_setting_the_stack_lacks_stops_it() -> None:
    env = stack_env()
    del env["LOGO_ANN_ES_INDEX"]
    with pytest.raises(ServiceError, match="LOGO_ANN_ES_INDEX"):
        wired_env("detect", env)
