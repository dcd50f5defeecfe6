from __future__ import annotations

import hashlib
from typing import Any

from shiplane_sdk import (
    ConfigError,
    ConnectionTestResult,
    Gate,
    GateContext,
    GateResult,
    HealthReport,
    IntegrationType,
    PluginInfo,
    StepContext,
    StepResult,
    StepType,
    hookimpl,
)
from shiplane_sdk.patterns import PatternError, compile_pattern


class ChangeTicketGate(Gate):
    id = "change-ticket"
    display_name = "Change ticket"
    description = "Passes only when the promotion reason cites a change ticket (e.g. CHG-1234)."
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "pattern": {"type": "string", "minLength": 1, "default": r"CHG-\d+"},
            "ticketSystemUrl": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "ticketSystemToken": {"type": "string", "minLength": 8, "writeOnly": True},
        },
    }

    def validate_config(self, config: Any) -> list[ConfigError]:
        errors = super().validate_config(config)
        if not errors and "pattern" in config:
            # The tenant writes this pattern: RE2 (linear time), checked when saved.
            try:
                compile_pattern(config["pattern"])
            except PatternError as exc:
                errors.append(ConfigError(field="pattern", message=str(exc), code="pattern"))
        return errors

    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult:
        pattern = config.get("pattern", r"CHG-\d+")
        reason = (ctx.promotion or {}).get("reason", "")
        match = compile_pattern(pattern).search(reason)
        details = {"pattern": pattern, "reason": reason, "ticket": match.group(0) if match else None}
        if match:
            return GateResult.passed(f"change ticket {match.group(0)} cited", details)
        return GateResult.failed("the promotion reason cites no change ticket", details)


class ChecksumStep(StepType):
    id = "checksum"
    display_name = "Checksum"
    description = "Outputs the SHA-256 of the configured text."
    idempotent = True
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {"text": {"type": "string"}},
    }

    def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        digest = hashlib.sha256(config["text"].encode()).hexdigest()
        ctx.log(f"sha256 {digest}")
        return StepResult(status="succeeded", outputs={"sha256": digest}, message="computed")


class AcmeRegistry(IntegrationType):
    id = "acme-registry"
    display_name = "Acme artifact registry"
    description = "Acme's artifact registry (configuration example with a secret token)."
    category = "registry"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "apiToken"],
        "properties": {
            "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "apiToken": {"type": "string", "minLength": 8, "writeOnly": True},
            "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 60},
        },
    }

    def test(self, config: dict[str, Any]) -> ConnectionTestResult:
        # The example has no real registry to call; it checks the config offline.
        return ConnectionTestResult(ok=True, message=f"configured for {config['url']}")


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Acme",
        version="1.2.0",
        vendor="Acme Corp",
        description="Change-ticket gate, checksum step and the Acme registry",
        homepage="https://acme.example/shiplane",
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def plugin_health() -> HealthReport:
    return HealthReport(status="ok", message="all good")


@hookimpl
def register_gates() -> list[Gate]:
    return [ChangeTicketGate()]


@hookimpl
def register_step_types() -> list[StepType]:
    return [ChecksumStep()]


@hookimpl
def register_integration_types() -> list[IntegrationType]:
    return [AcmeRegistry()]
