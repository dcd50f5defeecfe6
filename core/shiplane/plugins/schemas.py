from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.schemas import ApiModel, ApiOut, Integral

CapabilityKindName = Literal[
    "integration_type", "step_type", "gate", "rollout_strategy", "target_type", "traffic_router"
]


class PluginInstanceFields(ApiModel):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    plugin_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    capability_kind: CapabilityKindName
    capability_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    config: dict[str, Any] = Field(default_factory=dict)


class PluginInstanceCreate(PluginInstanceFields):
    pass


class PluginInstanceReplace(PluginInstanceFields):
    version: Annotated[int, Field(ge=1), Integral] | None = None


# -- responses -------------------------------------------------------------------------------

PluginState = Literal["enabled", "disabled", "failed"]
HealthStatus = Literal["ok", "degraded", "failing"]


class PluginCapabilityFields(ApiOut):
    """What every capability's description holds (``Capability.describe`` in the SDK)."""

    id: str
    display_name: str
    description: str
    config_schema: dict[str, Any] = Field(description="JSON Schema (draft 2020-12) of the capability's config")


class PluginIntegrationTypeOut(PluginCapabilityFields):
    kind: Literal["integration_type"]
    category: str | None = Field(
        description="registry, scm, ci, notification, secrets, monitoring, router or siem (null: the plugin set none)"
    )
    operations: list[Literal["test", "discover", "list_versions", "health", "notify", "query_metrics", "send_audit"]]


class PluginStepTypeOut(PluginCapabilityFields):
    kind: Literal["step_type"]
    idempotent: bool = Field(description="Whether running the step twice has the effect of running it once")
    runs_on: str = Field(description="server (in the engine) or agent (the work is sent to a host agent)")


class PluginGateTypeOut(PluginCapabilityFields):
    kind: Literal["gate"]


class PluginRolloutStrategyOut(PluginCapabilityFields):
    kind: Literal["rollout_strategy"]
    progressive: bool = Field(description="Whether the strategy shifts traffic step by step")


class PluginTargetTypeOut(PluginCapabilityFields):
    kind: Literal["target_type"]


class PluginTrafficRouterOut(PluginCapabilityFields):
    kind: Literal["traffic_router"]


class PluginCapabilityIdsOut(ApiOut):
    """The ids of what a plugin provides, per capability kind."""

    integration_types: list[str]
    step_types: list[str]
    gates: list[str]
    rollout_strategies: list[str]
    target_types: list[str]
    traffic_routers: list[str]


class PluginCapabilitiesOut(ApiOut):
    """What a plugin provides, per capability kind, described."""

    integration_types: list[PluginIntegrationTypeOut]
    step_types: list[PluginStepTypeOut]
    gates: list[PluginGateTypeOut]
    rollout_strategies: list[PluginRolloutStrategyOut]
    target_types: list[PluginTargetTypeOut]
    traffic_routers: list[PluginTrafficRouterOut]


class PluginWorkerOut(ApiOut):
    pid: int
    started_at: datetime
    calls: int = Field(description="Calls the worker has served")
    busy: bool
    rss_bytes: int | None = Field(default=None, description="Resident memory (present where /proc is readable)")
    cpu_seconds: float | None = Field(default=None, description="CPU time used (present where /proc is readable)")


class PluginWorkerExitOut(ApiOut):
    pid: int
    reason: str
    at: datetime


class PluginWorkerLimitsOut(ApiOut):
    memory_mb: int | None = Field(description="Memory limit per worker (null: none)")
    cpu_seconds: int | None = Field(description="CPU time limit per worker (null: none)")
    workers: int = Field(description="Workers per plugin")
    call_timeout_kills_worker: bool


class PluginRuntimeOut(ApiOut):
    """Where the plugin runs. The worker fields are present only in a plugin's detail
    (``GET /plugins/{pluginId}``, enable, disable) for a plugin that runs in worker processes."""

    isolation: Literal["process", "in_process", "none"] = Field(
        description="process: in worker processes; in_process: in the server; none: it failed to load"
    )
    workers: list[PluginWorkerOut] | None = None
    restarts: int | None = None
    consecutive_crashes: int | None = None
    last_exit: PluginWorkerExitOut | None = Field(default=None, description="The last worker that ended, and why")
    limits: PluginWorkerLimitsOut | None = None


class PluginFields(ApiOut):
    id: str
    name: str
    version: str | None
    vendor: str | None
    description: str
    homepage: str | None
    distribution: str | None = Field(description="The Python distribution that installed the plugin")
    sdk_requires: str | None = Field(description="The SDK versions the plugin supports (null when it failed early)")
    first_party: bool
    state: PluginState = Field(description="For this tenant")
    load_error: str | None
    health: Literal["ok", "degraded", "failing", "failed"] = Field(
        description="failed: not loaded; degraded: a circuit breaker is open; else the plugin's own last report"
    )
    runtime: PluginRuntimeOut


class PluginSummaryOut(PluginFields):
    """A plugin as listed: its capabilities by id."""

    capabilities: PluginCapabilityIdsOut


class PluginOut(PluginFields):
    """A plugin in detail: its capabilities described, and its worker processes."""

    capabilities: PluginCapabilitiesOut


class PluginBreakerOut(ApiOut):
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    total_failures: int
    total_calls: int
    last_error: str | None = Field(description="The kind of the last failure (exception type, timeout)")
    last_failure_at: datetime | None


class PluginOwnHealthOut(ApiOut):
    status: HealthStatus
    message: str
    details: dict[str, Any]


class PluginHealthOut(ApiOut):
    plugin_id: str
    status: Literal["ok", "degraded", "failing", "failed"]
    load_state: Literal["loaded", "failed"]
    load_error: str | None
    state: PluginState = Field(description="For this tenant")
    breaker: PluginBreakerOut = Field(description="This tenant's circuit breaker for the plugin")
    plugin_health: PluginOwnHealthOut | None = Field(
        description="The plugin's own report (null: it has no health hook, or failed to load)"
    )
    checked_at: datetime


class PluginInstanceProblemOut(ApiOut):
    code: Literal["PLUGIN_UNAVAILABLE", "CAPABILITY_MISSING", "PLUGIN_DISABLED"]
    message: str


class PluginInstanceOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    plugin_id: str
    capability_kind: CapabilityKindName
    capability_id: str
    config: dict[str, Any] = Field(description="Secrets shown as ***")
    status: Literal["active", "unavailable"]
    problem: PluginInstanceProblemOut | None = Field(description="Why the instance cannot be used now")
    version: int
    created_at: datetime
    updated_at: datetime


# -- capability listings (plugins.catalog) ---------------------------------------------------


class IntegrationTypeOut(PluginIntegrationTypeOut):
    plugin_id: str


class StepTypeOut(PluginStepTypeOut):
    plugin_id: str


class GateTypeOut(PluginGateTypeOut):
    plugin_id: str


class RolloutStrategyOut(PluginRolloutStrategyOut):
    plugin_id: str


class TargetTypeOut(PluginTargetTypeOut):
    plugin_id: str


class TrafficRouterOut(PluginTrafficRouterOut):
    plugin_id: str


CAPABILITY_OUT: dict[str, type[ApiOut]] = {
    "integration_type": IntegrationTypeOut,
    "step_type": StepTypeOut,
    "gate": GateTypeOut,
    "rollout_strategy": RolloutStrategyOut,
    "target_type": TargetTypeOut,
    "traffic_router": TrafficRouterOut,
}
