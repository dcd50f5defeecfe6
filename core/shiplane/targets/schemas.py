from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, Integral, Labels

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
