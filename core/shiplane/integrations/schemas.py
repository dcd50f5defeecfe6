from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral

IntegrationName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")]


class IntegrationFields(ApiModel):
    name: IntegrationName = Field(description="Unique per tenant")
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    type_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="An integration type id (GET /integration-types)"
    )
    config: dict[str, Any] = Field(default_factory=dict)


class IntegrationCreate(IntegrationFields):
    pass


class IntegrationReplace(IntegrationFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


class DiscoverRequest(ApiModel):
    query: Annotated[dict[str, Any], Field(max_length=20)] = Field(
        default_factory=dict, description="Integration-specific filters, e.g. a prefix"
    )


HealthStatus = Literal["ok", "degraded", "failing"]


class IntegrationHealthOut(ApiOut):
    """The last known health of an integration, as stored."""

    status: Literal["unknown", "ok", "degraded", "failing"] = Field(description="unknown: never checked")
    message: str
    checked_at: datetime | None
    latency_ms: float | None


def health_of(row: Any) -> dict[str, Any]:
    return {
        "status": row.health_status,
        "message": row.health_message,
        "checkedAt": rfc3339(row.health_checked_at) if row.health_checked_at else None,
        "latencyMs": row.health_latency_ms,
    }


class IntegrationProblemOut(ApiOut):
    code: Literal["CAPABILITY_MISSING", "PLUGIN_DISABLED"]
    message: str


class IntegrationOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    type_id: str
    config: dict[str, Any] = Field(description="Secrets shown as ***")
    status: Literal["active", "unavailable"]
    problem: IntegrationProblemOut | None = Field(description="Why the integration cannot be used now")
    health: IntegrationHealthOut
    version: int
    created_at: datetime
    updated_at: datetime


def integration_out(row: Any, config: dict[str, Any], problem: dict[str, str] | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "typeId": row.type_id,
        "config": config,
        "status": "active" if problem is None else "unavailable",
        "problem": problem,
        "health": health_of(row),
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


class IntegrationTestOut(ApiOut):
    """A connection test's result: a failed check is a result too (``ok`` false)."""

    ok: bool
    latency_ms: float
    message: str
    details: dict[str, Any] = Field(description="What the integration type reports (never secrets)")


class IntegrationCurrentHealthOut(ApiOut):
    status: HealthStatus
    message: str
    checked_at: datetime
    latency_ms: float


class IntegrationHealthReportOut(ApiOut):
    integration_id: str
    current: IntegrationCurrentHealthOut = Field(
        description="The health now: the type's health check, else its connection test"
    )
    last_known: IntegrationHealthOut = Field(description="As stored before this check")


class DiscoveredItemOut(ApiOut):
    kind: str = Field(description="What it is: repository, image, project ...")
    reference: str = Field(description="What the integration needs to find it again (what list_versions takes)")
    name: str
    metadata: dict[str, Any]


class AuditStreamStatusOut(ApiOut):
    """How far a SIEM sink has accepted the tenant's audit chain."""

    delivered_sequence: int = Field(description="The last audit sequence the sink accepted (0: none yet)")
    head_sequence: int | None = Field(description="The chain's last sequence (null: the sink never ran)")
    behind: int | None = Field(description="How many events the sink has yet to accept (null: the sink never ran)")
    attempts: int = Field(description="Delivery attempts since the last success")
    last_error: str | None
    next_attempt_at: datetime | None
