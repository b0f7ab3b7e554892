"""The Terraform, parsed with python-hcl2, agrees with the code it deploys."""

from __future__ import annotations

import ast
import copy
import json
import re
from typing import Any

import pytest

from common import deploy
from common.settings import Settings
from tests.infra import invariants
from tests.infra.hcl import (
    ENVIRONMENTS,
    MODULES_DIR,
    REPO_ROOT,
    TERRAFORM_DIR,
    labelled,
    load_dir,
    module_dirs,
    parse_text,
    resources,
)

STACK = load_dir(MODULES_DIR / "logo_ann")
FUNCTION_MODULE = load_dir(MODULES_DIR / "function")
WIRING = json.loads(deploy.WIRING_JSON.read_text())
DEPLOYMENTS = invariants.deployments(STACK, WIRING)


def _defines_function(path, name: str) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


def test_every_function_is_deployed_once_or_more() -> None:
    assert {dep.entry_point for dep in DEPLOYMENTS} == set(deploy.FUNCTIONS)


def test_terraform_deploys_the_wiring_common_deploy_renders() -> None:
    rendered = deploy.render_wiring()
    assert deploy.WIRING_JSON.read_text() == rendered, "wiring.json is stale: run python -m common.deploy"


def test_every_function_call_takes_its_values_from_the_wiring() -> None:
    assert invariants.call_problems(STACK, WIRING) == []


@pytest.mark.parametrize("entry_point", sorted({dep.entry_point for dep in DEPLOYMENTS}))
def test_entry_point_exists_in_functions(entry_point: str) -> None:
    main = REPO_ROOT / "functions" / entry_point / "main.py"
    assert main.is_file(), f"{main} is missing"
    assert _defines_function(main, entry_point), f"{main} defines no top-level function {entry_point}()"


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=lambda dep: dep.call)
def test_function_settings_match_the_code(dep: invariants.Deployment) -> None:
    assert invariants.settings_problems(dep) == []


def test_function_module_adds_no_settings_of_its_own() -> None:
    assert invariants.passthrough_problems(FUNCTION_MODULE) == []


def test_trigger_event_types_and_retry_policies() -> None:
    assert invariants.trigger_problems(STACK, WIRING) == []


def test_dead_letter_topic_has_a_subscription_and_agent_grants() -> None:
    subscriptions = resources(STACK, "google_pubsub_subscription").values()
    assert any(body.get("topic") == "${google_pubsub_topic.crops_dead_letter.id}" for body in subscriptions)
    topic_grants = resources(STACK, "google_pubsub_topic_iam_member").values()
    assert any(
        g["topic"] == "${google_pubsub_topic.crops_dead_letter.name}" and g["member"] == "${local.pubsub_agent}"
        for g in topic_grants
    ), "Pub/Sub's service agent cannot publish dead letters"
    sub_grants = resources(STACK, "google_pubsub_subscription_iam_member").values()
    assert any(g["member"] == "${local.pubsub_agent}" and g["role"] == "roles/pubsub.subscriber" for g in sub_grants)
    gcs = resources(STACK, "google_project_iam_member")["gcs_agent_publishes"]
    assert gcs["role"] == "roles/pubsub.publisher"


@pytest.mark.parametrize("path", module_dirs(), ids=lambda p: p.name)
def test_no_bucket_is_public(path) -> None:
    assert invariants.bucket_problems(load_dir(path)) == []


def test_only_the_search_api_is_public() -> None:
    public = [grant for path in module_dirs() for grant in invariants.public_grants(load_dir(path))]
    assert public == ["google_cloud_run_v2_service_iam_member.search_public"]
    grant = resources(STACK, "google_cloud_run_v2_service_iam_member")["search_public"]
    assert grant["name"] == "${module.search.name}"


@pytest.mark.parametrize("path", module_dirs(), ids=lambda p: p.name)
def test_variables_and_outputs_are_documented(path) -> None:
    assert invariants.variable_problems(load_dir(path), path.name) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_outputs(env: str) -> None:
    root = load_dir(TERRAFORM_DIR / "environments" / env)
    outputs = labelled(root, "output")
    assert {"search_url", "uploads_bucket", "crops_topic", "dead_letter_topic"} <= outputs.keys()
    call = labelled(root, "module")["logo_ann"]
    assert call["source"] == "../../modules/logo_ann"
    assert call["environment"] == env
    assert call["deletion_protection"] is (env == "prod")


def test_every_secret_setting_has_a_secret() -> None:
    stack_locals = {name: value for item in STACK["locals"] for name, value in item.items()}
    declared = stack_locals["secret_names"] + stack_locals["hmac_secret_names"]
    for field in deploy.SECRET_SETTINGS:
        assert f'"{field}' in declared, f"no Secret Manager secret for {field}"


def test_database_is_postgres_15_private_and_backed_up() -> None:
    db = resources(load_dir(MODULES_DIR / "database"), "google_sql_database_instance")["this"]
    assert db["database_version"] == "POSTGRES_15"
    settings = db["settings"][0]
    assert settings["ip_configuration"][0]["ipv4_enabled"] is False
    assert settings["backup_configuration"][0]["enabled"] is True
    assert db["deletion_protection"] == "${var.deletion_protection}"


def _pbtxt(model: str) -> str:
    return (TERRAFORM_DIR / "model_repository" / model / "config.pbtxt").read_text()


def test_model_repository_names_match_settings() -> None:
    for model in (Settings.detector_triton_name, Settings.embedder_triton_name):
        assert re.search(rf'^name: "{model}"$', _pbtxt(model), re.MULTILINE), model
    batch = re.search(r"^max_batch_size: (\d+)$", _pbtxt(Settings.embedder_triton_name), re.MULTILINE)
    assert batch and int(batch.group(1)) >= Settings.embed_batch_size


# The checks themselves must catch what they exist for.

_BROKEN_STACK = """
module "detect" {
  source         = "../function"
  entry_point    = "detect"
  source_archive = "${var.source_dir}/search.zip"
  environment = {
    LOGO_ANN_IMAGE_STORE = "s3"
  }
  secrets = local.secrets["detect"]
}
resource "google_pubsub_subscription" "embed" {
  topic = google_pubsub_topic.crops.id
  push_config {
    push_endpoint = module.embed.uri
  }
}
module "embed" {
  source      = "../function"
  entry_point = "embed_index"
}
resource "google_storage_bucket" "open" {
  uniform_bucket_level_access = false
}
resource "google_storage_bucket_iam_member" "world" {
  member = "allUsers"
}
"""


def _broken_wiring() -> dict[str, Any]:
    wiring = copy.deepcopy(WIRING)
    detect = wiring["functions"]["detect"]
    detect["environment"].update(
        {
            "LOGO_ANN_IMAGE_STORE": "local",
            "LOGO_ANN_DATABASE_URL": "postgresql://u:p@h/db",
            "LOGO_ANN_EMBED_BATCH_SIZE": "8",
            "LOGO_ANN_CROPS_TOPIC": "google_secret_manager_secret_version.x.secret_data",
        }
    )
    del detect["deployed"]["LOGO_ANN_ES_URL"], detect["deployed"]["LOGO_ANN_CROPS_TOPIC"]
    detect["secrets"].update({"LOGO_ANN_S3_ACCESS_KEY_ID": "s3_access_key_id-search", "LOGO_ANN_BUCKET": "bucket"})
    wiring["deployments"]["detect"]["trigger"]["retry_policy"] = "RETRY_POLICY_DO_NOT_RETRY"
    del wiring["deployments"]["detect_deleted"]
    return wiring


def test_checks_catch_a_broken_configuration() -> None:
    broken, wiring = parse_text(_BROKEN_STACK), _broken_wiring()
    detect = next(dep for dep in invariants.deployments(broken, wiring) if dep.call == "detect")
    problems = "\n".join(invariants.settings_problems(detect))
    assert "LOGO_ANN_DATABASE_URL is a secret but set as a plain" in problems
    assert "LOGO_ANN_EMBED_BATCH_SIZE is not a setting detect reads" in problems
    assert "LOGO_ANN_CROPS_TOPIC" in problems and "secret material" in problems
    assert "LOGO_ANN_S3_ACCESS_KEY_ID reads the wrong secret" in problems
    assert "LOGO_ANN_BUCKET is not a secret setting" in problems
    assert "required setting LOGO_ANN_ES_URL is not provided" in problems
    assert "LOGO_ANN_IMAGE_STORE = 'local'" in problems
    assert "source archive" in problems
    calls = "\n".join(invariants.call_problems(broken, wiring))
    assert "module embed is not a deployment of the wiring" in calls
    assert "deployment search of the wiring is not deployed" in calls
    assert "module detect: environment = " in calls and "module detect: event_trigger = None" in calls
    triggers = "\n".join(invariants.trigger_problems(broken, wiring))
    assert "expected RETRY_POLICY_RETRY" in triggers
    assert "google.cloud.storage.object.v1.deleted" in triggers
    assert "no exponential retry policy" in triggers and "no dead-letter policy" in triggers
    buckets = "\n".join(invariants.bucket_problems(broken))
    assert "uniform bucket-level access is off" in buckets
    assert "public access prevention is not enforced" in buckets
    assert "grants a bucket role to the public" in buckets


def test_passthrough_check_catches_an_added_variable() -> None:
    broken = parse_text(
        """
resource "google_cloudfunctions2_function" "this" {
  build_config {
    runtime     = "python310"
    entry_point = "detect"
  }
  service_config {
    environment_variables = merge(var.environment, { LOGO_ANN_API_TOKEN = "x" })
    secret_environment_variables {
      key    = "LOGO_ANN_DATABASE_URL"
      secret = "db"
    }
  }
}
"""
    )
    problems = "\n".join(invariants.passthrough_problems(broken))
    for expected in ("python311", "entry_point", "exactly var.environment", "static secret_environment", "var.secrets"):
        assert expected in problems


def test_backfill_topic_pushes_to_detect_with_its_own_dead_letters() -> None:
    subscriptions = resources(STACK, "google_pubsub_subscription")
    push = subscriptions["backfill_detect"]
    assert push["topic"] == "${google_pubsub_topic.backfill.id}"
    (config,) = push["push_config"]
    assert config["push_endpoint"] == "${module.detect.uri}"
    (token,) = config["oidc_token"]
    assert token["service_account_email"] == "${google_service_account.backfill_pusher.email}"
    (policy,) = push["dead_letter_policy"]
    assert policy["dead_letter_topic"] == "${google_pubsub_topic.backfill_dead_letter.id}"
    assert policy["max_delivery_attempts"] == "${var.backfill_max_delivery_attempts}"
    assert push["retry_policy"], "failed pushes must be retried with back-off"
    kept = subscriptions["backfill_dead_letter"]
    assert kept["topic"] == "${google_pubsub_topic.backfill_dead_letter.id}" and "push_config" not in kept
    invokers = resources(STACK, "google_cloud_run_v2_service_iam_member")
    assert invokers["backfill_pusher_invokes_detect"]["member"] == "${google_service_account.backfill_pusher.member}"
    grants = resources(STACK, "google_pubsub_topic_iam_member").values()
    assert any(
        g["topic"] == "${google_pubsub_topic.backfill_dead_letter.name}" and g["member"] == "${local.pubsub_agent}"
        for g in grants
    ), "Pub/Sub's service agent cannot publish backfill dead letters"
