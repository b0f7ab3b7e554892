"""Checks that tie the Terraform to the code. Each returns a list of problems (empty: fine), so the
tests can run them on the real configuration and on deliberately broken snippets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from common import deploy
from common.settings import PREFIX
from tests.infra.hcl import Config, block, dynamic_blocks, labelled, resources

STORAGE_EVENTS = {
    "google.cloud.storage.object.v1.finalized",
    "google.cloud.storage.object.v1.deleted",
}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# Expressions that would put credential material into a plain variable.
_SECRET_MATERIAL = re.compile(r"secret_data|random_password|hmac_key|\.secret\b|password|api_key", re.IGNORECASE)


@dataclass(frozen=True)
class Deployment:
    call: str
    entry_point: str
    source_archive: str
    environment: dict[str, str]  # fixed values, and "deployed:<setting>" for a deployment's own
    secrets: dict[str, str]  # variable => Secret Manager secret name
    event_trigger: dict[str, Any] | None


def function_calls(stack: Config) -> dict[str, dict[str, Any]]:
    """Calls of the ``function`` module in a stack, by name."""
    return {
        name: body
        for name, body in labelled(stack, "module").items()
        if body.get("source", "").rstrip("/").endswith("/function")
    }


def deployments(stack: Config, wiring: dict[str, Any]) -> list[Deployment]:
    """Each call of the ``function`` module with what the wiring gives it."""
    found = []
    for call, body in function_calls(stack).items():
        spec = wiring["deployments"].get(call, {"function": "", "trigger": {"kind": "none"}})
        fn = wiring["functions"].get(spec["function"], {})
        environment = {**fn.get("environment", {}), **{k: f"deployed:{v}" for k, v in fn.get("deployed", {}).items()}}
        trigger = spec["trigger"]
        found.append(
            Deployment(
                call=call,
                entry_point=fn.get("entry_point", body.get("entry_point", "")),
                source_archive=body.get("source_archive", ""),
                environment=environment,
                secrets=fn.get("secrets", {}),
                event_trigger=trigger if trigger["kind"] == "storage" else None,
            )
        )
    return found


def call_problems(stack: Config, wiring: dict[str, Any]) -> list[str]:
    """Every function module call takes its entry point, settings, secrets and trigger from the wiring."""
    calls, wired = function_calls(stack), wiring["deployments"]
    problems = [f"module {c} is not a deployment of the wiring" for c in sorted(calls.keys() - wired.keys())]
    problems += [f"deployment {c} of the wiring is not deployed" for c in sorted(wired.keys() - calls.keys())]
    for call in sorted(calls.keys() & wired.keys()):
        body, fn = calls[call], wiring["deployments"][call]["function"]
        expected = {
            "entry_point": f"${{local.wiring.functions[local.wiring.deployments.{call}.function].entry_point}}",
            "environment": f'${{local.environment["{fn}"]}}',
            "secrets": f'${{local.secrets["{fn}"]}}',
            "service_account_email": f'${{google_service_account.function["{fn}"].email}}',
        }
        if wiring["deployments"][call]["trigger"]["kind"] == "storage":
            expected["event_trigger"] = f'${{local.storage_trigger["{call}"]}}'
        for key, value in expected.items():
            if body.get(key) != value:
                problems.append(f"module {call}: {key} = {body.get(key)!r}, expected {value}")
        if "event_trigger" not in expected and "event_trigger" in body:
            problems.append(f"module {call}: only storage deployments have an Eventarc trigger")
    return problems


def _field(env: str) -> str | None:
    return env[len(PREFIX) :].lower() if env.startswith(PREFIX) and env.isupper() else None


def settings_problems(dep: Deployment) -> list[str]:
    fn = dep.entry_point
    if fn not in deploy.FUNCTION_SETTINGS:
        return [f"{dep.call}: entry point {fn!r} is not a function of common.deploy"]
    reads = deploy.FUNCTION_SETTINGS[fn]
    problems: list[str] = []
    for kind, variables in (("environment", dep.environment), ("secret", dep.secrets)):
        for env in variables:
            field = _field(env)
            if field is None or field not in reads:
                problems.append(f"{dep.call}: {kind} variable {env} is not a setting {fn} reads")
    for env, value in dep.environment.items():
        if _field(env) in deploy.SECRET_SETTINGS:
            problems.append(f"{dep.call}: {env} is a secret but set as a plain environment variable")
        elif _SECRET_MATERIAL.search(str(value)):
            problems.append(f"{dep.call}: {env} = {value} looks like secret material in a plain variable")
    for env, value in dep.secrets.items():
        field = _field(env)
        if field in reads and field not in deploy.SECRET_SETTINGS:
            problems.append(f"{dep.call}: {env} is not a secret setting but comes from Secret Manager")
        elif field in deploy.SECRET_SETTINGS and not re.fullmatch(rf"{field}(-{fn})?", str(value)):
            problems.append(f"{dep.call}: {env} reads the wrong secret: {value}")
    provided = {_field(env) for env in [*dep.environment, *dep.secrets]}
    for field in sorted(deploy.REQUIRED_SETTINGS[fn] - provided):
        problems.append(f"{dep.call}: required setting {PREFIX}{field.upper()} is not provided")
    for field, adapter in deploy.CLOUD_ADAPTERS.items():
        env = PREFIX + field.upper()
        if env in dep.environment and dep.environment[env] != adapter:
            problems.append(f"{dep.call}: {env} = {dep.environment[env]!r}, expected {adapter!r} in the cloud")
    if dep.source_archive != f"${{var.source_dir}}/{fn}.zip":
        problems.append(f"{dep.call}: source archive {dep.source_archive!r} is not {fn}.zip")
    return problems


def passthrough_problems(function_module: Config) -> list[str]:
    """The function module must pass the caller's maps through unchanged and add nothing."""
    problems: list[str] = []
    functions = resources(function_module, "google_cloudfunctions2_function")
    if len(functions) != 1:
        return [f"expected one google_cloudfunctions2_function, found {len(functions)}"]
    body = next(iter(functions.values()))
    build = block(body, "build_config") or {}
    service = block(body, "service_config") or {}
    if build.get("runtime") != "python311":
        problems.append(f"runtime is {build.get('runtime')!r}, expected python311")
    if build.get("entry_point") != "${var.entry_point}":
        problems.append("build_config.entry_point is not var.entry_point")
    if service.get("environment_variables") != "${var.environment}":
        problems.append("service_config.environment_variables is not exactly var.environment")
    if service.get("secret_environment_variables"):
        problems.append("static secret_environment_variables blocks add secrets the caller did not list")
    secrets = dynamic_blocks(service).get("secret_environment_variables")
    if secrets is None or secrets.get("for_each") != "${var.secrets}":
        problems.append("secret_environment_variables must iterate over var.secrets")
    if "event_trigger" in body:
        problems.append("a static event_trigger block ignores var.event_trigger")
    trigger = dynamic_blocks(body).get("event_trigger", {})
    content = (trigger.get("content") or [{}])[0]
    for key in ("event_type", "retry_policy"):
        if content.get(key) != f"${{event_trigger.value.{key}}}":
            problems.append(f"event_trigger.{key} does not come from var.event_trigger")
    return problems


def trigger_problems(stack: Config, wiring: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    deps = deployments(stack, wiring)
    seen_events: set[str] = set()
    for dep in deps:
        trigger = dep.event_trigger
        if dep.entry_point != "detect":
            if trigger is not None:
                problems.append(f"{dep.call}: {dep.entry_point} must not have an Eventarc trigger")
            continue
        if trigger is None:
            problems.append(f"{dep.call}: detect has no storage trigger")
            continue
        seen_events.add(trigger.get("event_type", ""))
        if trigger.get("event_type") not in STORAGE_EVENTS:
            problems.append(f"{dep.call}: unexpected event type {trigger.get('event_type')!r}")
        if trigger.get("retry_policy") != "RETRY_POLICY_RETRY":
            problems.append(f"{dep.call}: retry policy {trigger.get('retry_policy')!r}, expected RETRY_POLICY_RETRY")
    for missing in sorted(STORAGE_EVENTS - seen_events):
        problems.append(f"no detect deployment receives {missing}")
    embed_calls = [dep.call for dep in deps if dep.entry_point == "embed_index"]
    return problems + _push_problems(stack, embed_calls)


def _push_problems(stack: Config, embed_calls: list[str]) -> list[str]:
    endpoints = {f"${{module.{call}.uri}}" for call in embed_calls}
    pushing = [
        (name, body)
        for name, body in resources(stack, "google_pubsub_subscription").items()
        if (block(body, "push_config") or {}).get("push_endpoint") in endpoints
    ]
    if len(pushing) != 1 or not embed_calls:
        return [f"expected one push subscription to embed_index, found {len(pushing)}"]
    name, body = pushing[0]
    problems: list[str] = []
    if body.get("topic") != "${google_pubsub_topic.crops.id}":
        problems.append(f"subscription {name} is not on the crops topic")
    retry = block(body, "retry_policy")
    if not retry or not retry.get("minimum_backoff") or not retry.get("maximum_backoff"):
        problems.append(f"subscription {name} has no exponential retry policy")
    dead = block(body, "dead_letter_policy")
    if not dead or not dead.get("max_delivery_attempts"):
        problems.append(f"subscription {name} has no dead-letter policy")
    elif dead.get("dead_letter_topic") == body.get("topic"):
        problems.append(f"subscription {name} dead-letters into its own topic")
    if not (block(body, "push_config") or {}).get("oidc_token"):
        problems.append(f"subscription {name} pushes without an OIDC token")
    return problems


def bucket_problems(config: Config) -> list[str]:
    problems: list[str] = []
    for name, body in resources(config, "google_storage_bucket").items():
        if body.get("uniform_bucket_level_access") is not True:
            problems.append(f"bucket {name}: uniform bucket-level access is off")
        if body.get("public_access_prevention") != "enforced":
            problems.append(f"bucket {name}: public access prevention is not enforced")
    for rtype in ("google_storage_bucket_acl", "google_storage_object_acl", "google_storage_default_object_acl"):
        for name in resources(config, rtype):
            problems.append(f"{rtype}.{name}: ACLs are not used; grant IAM roles instead")
    for rtype in ("google_storage_bucket_iam_member", "google_storage_bucket_iam_binding"):
        for name, body in resources(config, rtype).items():
            members = [body.get("member", "")] + list(body.get("members", []))
            if any(public in str(member) for member in members for public in PUBLIC_MEMBERS):
                problems.append(f"{rtype}.{name}: grants a bucket role to the public")
    return problems


def public_grants(config: Config) -> list[str]:
    """Every resource granting anything to allUsers / allAuthenticatedUsers, as type.name."""
    found = []
    for item in config.get("resource", []):
        for rtype, named in item.items():
            for name, body in named.items():
                members = [body.get("member", "")] + list(body.get("members", []) or [])
                if any(public in str(member) for member in members for public in PUBLIC_MEMBERS):
                    found.append(f"{rtype}.{name}")
    return found


def variable_problems(config: Config, where: str) -> list[str]:
    problems = []
    for name, body in labelled(config, "variable").items():
        for key in ("description", "type"):
            if not body.get(key):
                problems.append(f"{where}: variable {name} has no {key}")
    for name, body in labelled(config, "output").items():
        if not body.get("description"):
            problems.append(f"{where}: output {name} has no description")
    return problems
