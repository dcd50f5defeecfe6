"""Built-in gates. Each judges only what the gate context carries, and says what it judged.

The promotion module fills the context (DESIGN §5, PROMOT):

- ``environment["requiredPredecessors"]``: the effective predecessor ids;
- ``environment["freezeWindows"]``: ``[{"id", "active", "reason", "overrideRoles"}]``;
- ``release["state"]`` and ``release["succeededEnvironmentIds"]`` (where it deployed successfully);
- ``promotion["approvals"]``: ``[{"userId", "decision": "approve" | "reject", ...}]``,
  ``promotion["freezeOverride"]``: ``{"by", "reason"}`` when someone allowed to override did.
"""

from __future__ import annotations

from typing import Any

from shiplane_sdk import ConfigError, Gate, GateContext, GateResult
from shiplane_sdk.patterns import schema_problems, schema_validator

_NO_CONFIG = {"type": "object", "additionalProperties": False, "properties": {}}


class ReleaseNotDeprecated(Gate):
    id = "release-not-deprecated"
    display_name = "Release not deprecated"
    description = "Blocks the promotion of a deprecated (quarantined) release."
    config_schema = _NO_CONFIG

    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult:
        state = ctx.release.get("state")
        details = {"releaseId": ctx.release.get("id"), "releaseState": state}
        if state == "deprecated":
            return GateResult.failed("the release is deprecated", details)
        return GateResult.passed("the release is not deprecated", details)


class PipelineOrder(Gate):
    id = "pipeline-order"
    display_name = "Pipeline order"
    description = "The release must have succeeded in every required predecessor environment."
    config_schema = _NO_CONFIG

    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult:
        required = list(ctx.environment.get("requiredPredecessors") or [])
        succeeded = set(ctx.release.get("succeededEnvironmentIds") or [])
        missing = [env_id for env_id in required if env_id not in succeeded]
        details = {"required": required, "succeeded": sorted(succeeded), "missing": missing}
        if missing:
            return GateResult.failed(f"not yet succeeded in {len(missing)} required environment(s)", details)
        return GateResult.passed("succeeded in every required predecessor", details)


class FreezeWindow(Gate):
    id = "freeze-window"
    display_name = "Freeze window"
    description = "Blocks while a freeze window of the environment is active, unless overridden."
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"allowOverride": {"type": "boolean", "default": True}},
    }

    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult:
        active = [w for w in ctx.environment.get("freezeWindows") or [] if w.get("active")]
        override = (ctx.promotion or {}).get("freezeOverride")
        details: dict[str, Any] = {"activeWindows": active, "override": override}
        if not active:
            return GateResult.passed("no freeze window is active", details)
        if override and config.get("allowOverride", True):
            return GateResult.warn(f"freeze overridden by {override.get('by')}: {override.get('reason')}", details)
        reasons = "; ".join(str(w.get("reason") or w.get("id")) for w in active)
        return GateResult.failed(f"frozen: {reasons}", details)


class Approval(Gate):
    id = "approval"
    display_name = "Approval"
    description = "Waits for the required number of approvals; one rejection blocks."
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"requiredApprovals": {"type": "integer", "minimum": 1, "maximum": 20, "default": 1}},
    }

    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult:
        required = int(config.get("requiredApprovals", 1))
        decisions = (ctx.promotion or {}).get("approvals") or []
        approvers = sorted({a.get("userId") for a in decisions if a.get("decision") == "approve"})
        rejecters = sorted({a.get("userId") for a in decisions if a.get("decision") == "reject"})
        details = {"required": required, "approvedBy": approvers, "rejectedBy": rejecters}
        if rejecters:
            return GateResult.failed(f"rejected by {', '.join(map(str, rejecters))}", details)
        if len(approvers) >= required:
            return GateResult.passed(f"{len(approvers)} of {required} approval(s)", details)
        return GateResult.pending(f"{len(approvers)} of {required} approval(s)", details)


class Policy(Gate):
    id = "policy"
    display_name = "Policy"
    description = "The release (with its components and their metadata) must satisfy a JSON Schema."
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["rules"],
        "properties": {
            "rules": {"type": "object", "description": "A JSON Schema (2020-12) the release must match"},
            "name": {"type": "string", "maxLength": 100},
        },
    }

    def validate_config(self, config: Any) -> list[ConfigError]:
        errors = super().validate_config(config)
        if not errors:
            # A tenant's schema: bounded, patterns on RE2, no remote or file references.
            for path, message in schema_problems(config["rules"]):
                errors.append(ConfigError(field=f"rules.{path}" if path else "rules", message=message, code="schema"))
        return errors

    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult:
        validator = schema_validator(config["rules"])
        violations = [
            {"path": ".".join(str(p) for p in error.absolute_path), "message": error.message}
            for error in validator.iter_errors(ctx.release)
        ]
        details = {"policy": config.get("name"), "violations": violations}
        if violations:
            return GateResult.failed(f"{len(violations)} policy violation(s)", details)
        return GateResult.passed("the release satisfies the policy", details)
