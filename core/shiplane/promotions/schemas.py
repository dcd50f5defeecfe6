from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, Integral

Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Comment = Annotated[str, StringConstraints(max_length=2000)]


class ApprovalPolicyCreate(ApiModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    required_approvals: Annotated[int, Field(ge=1, le=20), Integral] = Field(
        default=1, description="How many distinct people must approve"
    )
    approver_roles: Annotated[list[Name], Field(max_length=20)] = Field(
        default_factory=list, description="Members of these roles may approve (with promotions:approve)"
    )
    approver_users: Annotated[list[Name], Field(max_length=200)] = Field(
        default_factory=list,
        description="These users may approve too; with no roles and no users, anyone who holds promotions:approve may",
    )
    allow_self_approval: bool = Field(
        default=False, description="Whether the requester may approve their own promotion"
    )
    expires_after_seconds: Annotated[int, Field(ge=60, le=90 * 86400), Integral] | None = Field(
        default=None,
        description="A promotion still waiting for approvals this long after it was requested is cancelled",
    )


class FreezeOverride(ApiModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class PromotionCreate(ApiModel):
    release_id: Id
    environment_id: Id
    reason: Comment = ""
    freeze_override: FreezeOverride | None = Field(
        default=None,
        description="Promote through the active freeze windows: only for members of every window's override roles",
    )


class GatePreview(ApiModel):
    release_id: Id
    environment_id: Id


class PromotionDecision(ApiModel):
    comment: Comment = ""


def _when(value: Any) -> str | None:
    return rfc3339(value) if value is not None else None


def approval_policy_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "requiredApprovals": row.required_approvals,
        "approverRoles": row.approver_roles,
        "approverUsers": row.approver_users,
        "allowSelfApproval": row.allow_self_approval,
        "expiresAfterSeconds": row.expires_after_seconds,
        "createdBy": row.created_by,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


def approval_out(row: Any) -> dict[str, Any]:
    return {
        "userId": row.user_id,
        "decision": row.decision,
        "comment": row.comment,
        "roles": row.roles,
        "at": rfc3339(row.created_at),
    }


def promotion_out(row: Any, approvals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = {
        "id": row.id,
        "tenantId": row.tenant_id,
        "releaseId": row.release_id,
        "environmentId": row.environment_id,
        "reason": row.reason,
        "requestedBy": row.requested_by,
        "state": row.state,
        "message": row.message,
        "gates": [{k: v for k, v in g.items() if k not in ("inputs", "log")} for g in row.gates or []],
        "evaluatedAt": _when(row.evaluated_at),
        "approvalPolicy": row.policy,
        "freezeOverride": row.freeze_override,
        "recheckAt": _when(row.recheck_at),
        "expiresAt": _when(row.expires_at),
        "finishedAt": _when(row.finished_at),
        "workflowRunId": row.workflow_run_id,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }
    if approvals is not None:
        data["approvals"] = approvals
    return data
