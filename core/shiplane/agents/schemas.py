from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral, Labels

AgentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9.-]{0,98}[a-z0-9])?$")]
CapabilityId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class AgentRegistration(ApiModel):
    name: AgentName = Field(description="Unique per tenant")
    hostname: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    agent_version: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The agent's software version"
    )
    capabilities: Annotated[list[CapabilityId], Field(max_length=100)] = Field(
        default_factory=list, description="Target types the agent runs"
    )
    labels: Labels = Field(default_factory=dict)


class AgentUpdate(ApiModel):
    labels: Labels = Field(default_factory=dict)
    draining: bool = False
    disabled: bool = False
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


class Heartbeat(ApiModel):
    agent_version: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="The agent's software version, if it changed"
    )
    capabilities: Annotated[list[CapabilityId], Field(max_length=100)] | None = None


AgentStatus = Literal["online", "offline", "draining", "disabled"]


class AgentOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    hostname: str
    agent_version: str = Field(description="The agent's software version")
    capabilities: list[str] = Field(description="Target types the agent runs")
    labels: dict[str, str]
    status: AgentStatus = Field(
        description="disabled or draining as set by an admin; else online when heard from within the liveness "
        "interval, offline otherwise"
    )
    draining: bool
    disabled: bool
    last_heartbeat_at: datetime | None = Field(description="null until its first heartbeat")
    registered_by: str = Field(description="The user of the token that registered it")
    version: int
    created_at: datetime
    updated_at: datetime


class AgentRegistrationOut(ApiOut):
    agent: AgentOut
    credential: str = Field(
        description="The agent's own bearer credential, shown in this answer only (the server keeps its hash)"
    )
    heartbeat_seconds: int = Field(description="How often the agent is to heartbeat")


class AgentHeartbeatOut(ApiOut):
    status: Literal["online", "draining", "disabled"] = Field(
        description="The agent's status now (a draining or disabled agent is offered no new tasks)"
    )
    heartbeat_seconds: int = Field(description="How often the agent is to heartbeat")


def agent_status(row: Any, now: datetime, liveness: timedelta) -> str:
    if row.disabled:
        return "disabled"
    if row.draining:
        return "draining"
    if row.last_heartbeat_at is not None and now - row.last_heartbeat_at < liveness:
        return "online"
    return "offline"


def agent_out(row: Any, now: datetime, liveness: timedelta) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "hostname": row.hostname,
        "agentVersion": row.agent_version,
        "capabilities": list(row.capabilities or []),
        "labels": dict(row.labels or {}),
        "status": agent_status(row, now, liveness),
        "draining": row.draining,
        "disabled": row.disabled,
        "lastHeartbeatAt": rfc3339(row.last_heartbeat_at) if row.last_heartbeat_at else None,
        "registeredBy": row.registered_by,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }
