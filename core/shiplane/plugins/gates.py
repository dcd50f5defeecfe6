"""Evaluating a gate for a tenant: the gate's plugin, guarded, failing closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shiplane_sdk import GateResult

from shiplane.platform.errors import ApiError
from shiplane.platform.secrets import secret_values
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.service import PluginService


@dataclass
class CoreGateContext:
    """The core's GateContext (the SDK protocol)."""

    tenant_id: str
    release: dict[str, Any]
    environment: dict[str, Any]
    promotion: dict[str, Any] | None
    now: datetime
    lines: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.lines.append(str(line))


async def evaluate_gate(
    plugins: PluginService, gate_id: str, ctx: CoreGateContext, config: dict[str, Any]
) -> tuple[GateResult, list[str]]:
    """Evaluate one gate, failing closed: a gate that cannot answer blocks."""
    try:
        registered = await plugins.capability("gate", gate_id, for_new_object=True)
    except ApiError as exc:
        return GateResult.failed(f"gate {gate_id!r} unavailable: {exc.message}", {"gate": gate_id}), []
    gate = registered.capability
    # The config was checked when saved; it is checked again (in the guard, off the
    # event loop) because the plugin or its schema may have changed since.
    try:
        errors = await plugins.check_config(registered, config, gate.secret_fields(), "config")
    except ApiError as exc:
        return GateResult.failed(
            f"gate {gate_id!r} configuration could not be checked: {exc.message}", {"gate": gate_id}
        ), []
    if errors:
        details = {"gate": gate_id, "configErrors": [e.model_dump() for e in errors]}
        return GateResult.failed(f"gate {gate_id!r} has an invalid configuration", details), []
    secrets = secret_values(config, gate.secret_fields())
    try:
        result = await plugins.registry.guard.call(
            registered.plugin_id,
            f"gate {gate_id}",
            gate.evaluate,  # type: ignore[attr-defined]
            ctx,
            config,
            secrets=secrets,
            tenant_id=ctx.tenant_id,
        )
        if not isinstance(result, GateResult):
            raise PluginCallFailed(registered.plugin_id, f"gate {gate_id}", f"returned {type(result).__name__}")
    except PluginCallFailed as exc:
        return GateResult.failed(str(exc), {"gate": gate_id, "plugin": exc.plugin_id, "error": exc.reason}), ctx.lines
    return result, ctx.lines
