"""Schemathesis hooks: the API's rules that an OpenAPI document cannot state.

Loaded by ``run_schemathesis.py`` (``SCHEMATHESIS_HOOKS``). They touch *positive*
test cases only, the ones schemathesis expects the server to accept
(``positive_data_acceptance``); negative cases reach the server as generated, so
``negative_data_rejection`` still sees every schema violation.

The rules, each documented in ``docs/api-conventions.md``:

- no string or object key anywhere in a body contains NUL (PostgreSQL cannot store
  it); such positive cases are dropped;
- a list takes ``page`` or ``cursor``, not both, and a cursor is one the server
  issued: a generated cursor is removed from positive cases;
- a reference in a body must resolve (an installed plugin's capability, a registered
  gate type with a valid config, an existing environment, agent, integration or
  component, a component's stored version, a target type's or integration type's
  config): positive cases get references that resolve in the fuzz server (the runner
  creates an environment, an agent, a git integration of a local repository, a
  component with a stored version, a draft and a sealed release, an approval policy
  first), the rest of the body as generated.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from schemathesis import GenerationMode

# (pluginId, capabilityKind, capabilityId, config): capabilities of the built-in plugin
# whose configs a positive case can carry.
INSTANCE_TARGETS = [
    ("builtin", "rollout_strategy", "all-at-once", {}),
    ("builtin", "rollout_strategy", "rolling", {"batchSize": 2}),
    ("builtin", "gate", "approval", {"requiredApprovals": 2}),
    ("builtin", "step_type", "wait", {"seconds": 5}),
]
WINDOWS = [
    {"startsAt": "2030-01-01T00:00:00Z", "endsAt": "2030-01-02T00:00:00Z"},
    {"rrule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", "duration": "PT64H", "timeZone": "Europe/Berlin"},
]
GATES = [
    ("pipeline-order", {}),
    ("release-not-deprecated", {}),
    ("freeze-window", {"allowOverride": False}),
    ("approval", {"requiredApprovals": 1}),
    ("policy", {"rules": {"type": "object"}}),
]


def _positive(case: Any) -> bool:
    meta = getattr(case, "_meta", None)
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in str(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _pick(options: list[Any], seed: Any) -> Any:
    digest = hashlib.sha256(repr(seed).encode("utf-8", "surrogatepass")).digest()
    return options[digest[0] % len(options)]


def _first_terms(sort: str) -> list[str]:
    terms: dict[str, str] = {}
    for term in sort.split(","):
        terms.setdefault(term.lstrip("-"), term)
    return list(terms.values())


#: The server's body limit (SHIPLANE_MAX_BODY_BYTES): a larger body is 413 before any
#: schema is looked at, which schemathesis cannot tell from a schema-violating case.
BODY_LIMIT = 1_048_576


def _too_large(body: Any) -> bool:
    if body is None:
        return False
    try:
        return len(json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")) > BODY_LIMIT - 4096
    except (TypeError, ValueError):
        return False


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    if _too_large(getattr(case, "body", None)):
        return False
    if not _positive(case):
        return True
    return not _has_nul(case.body) and not _has_nul(case.query)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    params = getattr(case, "path_parameters", None)
    if (
        isinstance(params, dict)
        and params.get("release_id") == os.environ.get("SHIPLANE_FUZZ_RELEASE_ID")
        and case.operation.path.endswith("/deprecate")
    ):
        # The sealed release the positive promotions use stays promotable: a deprecation
        # aimed at it goes to an id that does not exist (404).
        params["release_id"] = "fuzz-kept-promotable"
    if not _positive(case):
        return case
    if isinstance(case.query, dict):
        # A cursor is one the server issued, a filter follows the grammar of
        # docs/api-conventions.md; each sort field appears once.
        case.query.pop("cursor", None)
        case.query.pop("filter", None)
        if isinstance(case.query.get("sort"), str):
            case.query["sort"] = ",".join(_first_terms(case.query["sort"]))
    body = case.body
    if not isinstance(body, dict) or case.method.upper() not in ("POST", "PUT"):
        return case
    path = case.operation.path
    if path.startswith("/api/v1/plugin-instances"):
        plugin_id, kind, capability_id, config = _pick(INSTANCE_TARGETS, body.get("name"))
        body.update(pluginId=plugin_id, capabilityKind=kind, capabilityId=capability_id, config=dict(config))
    elif path.startswith("/api/v1/targets"):
        body.update(environmentId=os.environ["SHIPLANE_FUZZ_ENVIRONMENT_ID"], type="local")
        body["config"] = {"directory": "/tmp/shiplane-fuzz-target"}
        # The runner's agent may have been deleted by then (stateful tests delete agents).
        body["agentId"] = None
    elif path.endswith("/freeze-windows"):
        # One of the two shapes, with a rule and times that hold; the rest as generated.
        for field in ("startsAt", "endsAt", "rrule", "duration", "timeZone"):
            body.pop(field, None)
        body.update(_pick(WINDOWS, body.get("reason")))
        body["overrideRoles"] = ["release-manager"] if body.get("overrideRoles") else []
    elif path in ("/api/v1/integrations", "/api/v1/integrations/{integration_id}"):
        # A git integration of the runner's local repository (any other config is the type's to refuse).
        body.update(typeId="git", config={"url": os.environ["SHIPLANE_FUZZ_GIT_URL"]})
    elif path in ("/api/v1/components", "/api/v1/components/{component_id}"):
        body.update(integrationId=os.environ["SHIPLANE_FUZZ_INTEGRATION_ID"], reference=".")
        body["versionPattern"] = None
    elif path == "/api/v1/releases/from-latest":
        body["componentIds"] = [os.environ["SHIPLANE_FUZZ_COMPONENT_ID"]]
    elif path in ("/api/v1/releases", "/api/v1/releases/{release_id}"):
        # One component at its stored version; a draft (sealing it would make later PUTs 409).
        body.update(components=[{"componentId": os.environ["SHIPLANE_FUZZ_COMPONENT_ID"], "version": "v1.0.0"}])
        body["state"] = "draft"
    elif path in ("/api/v1/workflow-templates", "/api/v1/workflow-templates/{template_id}"):
        # One node of a step type the fuzz server has, with a config it accepts.
        body["nodes"] = [{"id": "pause", "type": "wait", "config": {"seconds": 0}}]
        body["inputsSchema"] = {"type": "object"}
    elif path == "/api/v1/workflow-runs":
        body.update(templateId=os.environ["SHIPLANE_FUZZ_TEMPLATE_ID"], inputs={})
        body.pop("templateVersion", None)
    elif path in ("/api/v1/promotions", "/api/v1/promotions/preview-gates"):
        # The runner's sealed release into its environment (no gates there: no override needed).
        body.update(
            releaseId=os.environ["SHIPLANE_FUZZ_RELEASE_ID"], environmentId=os.environ["SHIPLANE_FUZZ_ENVIRONMENT_ID"]
        )
        body.pop("freezeOverride", None)
    elif path == "/api/v1/rollbacks":
        # The runner's environment (nothing earlier deployed there: a 409 at most).
        body.update(environmentId=os.environ["SHIPLANE_FUZZ_ENVIRONMENT_ID"])
        body.pop("jobId", None)
        body.pop("releaseId", None)
    elif path in ("/api/v1/variable-sets", "/api/v1/variable-sets/{set_id}"):
        # Each name and scope once; a secret's `***` means "keep the stored one", so a
        # positive case sends a value instead.
        variables, seen = [], set()
        for variable in body.get("variables") or []:
            if not isinstance(variable, dict):
                continue
            key = repr((variable.get("name"), variable.get("scope")))
            if key in seen:
                continue
            seen.add(key)
            if variable.get("value") == "***":
                variable["value"] = "fuzz-value"
            variables.append(variable)
        if "variables" in body:
            body["variables"] = variables
    elif path == "/api/v1/ab-releases":
        # The runner's two sealed releases, its router instance and a progressive strategy
        # with its default steps; checks that hold (an http URL, a threshold, a known integration).
        body.update(
            environmentId=os.environ["SHIPLANE_FUZZ_ENVIRONMENT_ID"],
            controlReleaseId=os.environ["SHIPLANE_FUZZ_RELEASE_ID"],
            candidateReleaseId=os.environ["SHIPLANE_FUZZ_CANDIDATE_ID"],
            routerInstanceId=os.environ["SHIPLANE_FUZZ_ROUTER_ID"],
            strategy=_pick(["canary", "blue-green", "ab"], body.get("name")),
            strategyConfig={},
        )
        analysis = body.get("analysis")
        if isinstance(analysis, dict):
            for probe in analysis.get("probes") or []:
                if isinstance(probe, dict):
                    probe["url"] = "http://127.0.0.1:9/healthz"
            for check in analysis.get("metrics") or []:
                if isinstance(check, dict):
                    check["integrationId"] = os.environ["SHIPLANE_FUZZ_INTEGRATION_ID"]
                    if check.get("min") is None and check.get("max") is None:
                        check["max"] = 1.0
    elif path == "/api/v1/audit-reports":
        # A period that holds (the last day), every environment.
        end = datetime.now(UTC)
        body.update(periodStart=(end - timedelta(days=1)).isoformat(), periodEnd=end.isoformat(), environmentIds=[])
    elif path.startswith("/api/v1/environments"):
        if body.get("requiredPredecessors"):
            body["requiredPredecessors"] = []
        if body.get("variableSetIds"):
            body["variableSetIds"] = []
        if body.get("approvalPolicyId"):
            body["approvalPolicyId"] = os.environ["SHIPLANE_FUZZ_POLICY_ID"]
        gates = body.get("gates")
        if isinstance(gates, list):
            for index, gate in enumerate(gates):
                if isinstance(gate, dict):
                    gate_type, config = _pick(GATES, (index, gate.get("type")))
                    gate.update(type=gate_type, config=dict(config), id=None, problem=None)
    return case
