from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, Integral

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


def health_of(row: Any) -> dict[str, Any]:
    return {
        "status": row.health_status,
        "message": row.health_message,
        "checkedAt": rfc3339(row.health_checked_at) if row.health_checked_at else None,
        "latencyMs": row.health_latency_ms,
    }


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
