from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral, Labels

TargetName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9.-]{0,98}[a-z0-9])?$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=36)]


class TargetFields(ApiModel):
    # agentId or agentLabels, not both (the document says so too).
    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["agentId", "agentLabels"],
                "properties": {"agentId": {"type": "string"}, "agentLabels": {"type": "object"}},
            }
        }
    )

    name: TargetName = Field(description="Unique per tenant")
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    environment_id: Reference
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(description="A target type id")
    config: dict[str, Any] = Field(default_factory=dict)
    labels: Labels = Field(default_factory=dict)
    agent_id: Reference | None = Field(default=None, description="The agent that deploys to this target")
    agent_labels: Labels | None = Field(
        default=None, description="Or: labels an agent must carry (and the target type among its capabilities)"
    )


class TargetCreate(TargetFields):
    pass


class TargetReplace(TargetFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


class TargetHealthOut(ApiOut):
    status: Literal["unknown", "healthy", "degraded", "unhealthy", "unreachable"] = Field(
        description="As of the last health check (unknown until one; unreachable when the agent's check failed)"
    )
    message: str
    checked_at: datetime | None


class TargetOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    environment_id: str
    type: str = Field(description="A target type id")
    config: dict[str, Any] = Field(description="Secrets shown masked")
    labels: dict[str, str]
    agent_id: str | None
    agent_labels: dict[str, str] | None
    health: TargetHealthOut
    sticker_read_at: datetime | None = Field(description="When the agent last read the target's sticker")
    problem: dict[str, str] | None = Field(
        description="Why the target's type cannot be used now (its plugin disabled or gone), else null"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class TargetStickerOut(ApiOut):
    target_id: str
    sticker: dict[str, Any] | None = Field(description="The version sticker as the agent read it (null until a check)")
    read_at: datetime | None


class TargetComponentVersionOut(ApiOut):
    version: Any = Field(description="As the agent or the deployment reported it")
    digest: Any = Field(description="As the agent or the deployment reported it")


class TargetDriftDifferenceOut(ApiOut):
    component: str
    expected: TargetComponentVersionOut | None = Field(description="null: the component is not expected")
    actual: TargetComponentVersionOut | None = Field(
        default=None, description="Present when the observed state differs (null: the component is not there)"
    )
    sticker: TargetComponentVersionOut | None = Field(
        default=None,
        description="Present instead of actual when only the sticker differs from the expected state "
        "(null: the sticker does not name the component)",
    )


class TargetDriftOut(ApiOut):
    target_id: str
    status: Literal["in_sync", "drifted", "unknown"] = Field(
        description="unknown until there is an expected and an observed state with components"
    )
    differences: list[TargetDriftDifferenceOut]
    expected: dict[str, Any] | None = Field(
        description="The state the server expects there (the last deploy's sticker; before any, the first sticker read)"
    )
    sticker: dict[str, Any] | None = Field(description="The sticker the agent last read")
    observed: dict[str, Any] | None = Field(description="The state the agent last inspected")
    read_at: datetime | None = Field(description="When the agent last read the sticker")


class TargetCheckRunningOut(ApiOut):
    task_id: str
    agent_id: str = Field(description="The agent that runs the check")
    target_id: str
    state: Literal["running"] = Field(description="Still running after the wait: follow the task")


class TargetCheckOut(ApiOut):
    task_id: str
    agent_id: str = Field(description="The agent that ran the check")
    target_id: str
    state: Literal["done", "failed"] = Field(description="How the check's task ended")
    health: TargetHealthOut
    report: TargetDriftOut = Field(description="What the agent found, and the drift (as GET .../drift)")


def target_out(row: Any, config: dict[str, Any], problem: dict[str, str] | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "environmentId": row.environment_id,
        "type": row.type,
        "config": config,
        "labels": dict(row.labels or {}),
        "agentId": row.agent_id,
        "agentLabels": dict(row.agent_labels) if row.agent_labels is not None else None,
        "health": {
            "status": row.health_status,
            "message": row.health_message,
            "checkedAt": rfc3339(row.health_checked_at) if row.health_checked_at else None,
        },
        "stickerReadAt": rfc3339(row.sticker_read_at) if row.sticker_read_at else None,
        "problem": problem,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }
