from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral
from shiplane.promotions.states import PromotionState

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


class ApprovalPolicyOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    required_approvals: int = Field(description="How many distinct people must approve")
    approver_roles: list[str]
    approver_users: list[str]
    allow_self_approval: bool
    expires_after_seconds: int | None
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime


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


class PromotionApprovalOut(ApiOut):
    user_id: str
    decision: Literal["approve", "reject"]
    comment: str
    roles: list[str] = Field(description="The person's roles when they decided")
    at: datetime


def approval_out(row: Any) -> dict[str, Any]:
    return {
        "userId": row.user_id,
        "decision": row.decision,
        "comment": row.comment,
        "roles": row.roles,
        "at": rfc3339(row.created_at),
    }


class PromotionGateResultOut(ApiOut):
    """One gate's verdict in a promotion's last evaluation (service.evaluate)."""

    gate_id: str | None = Field(
        description="The environment's gate id (null for the approval requirement and gates stored before ids)"
    )
    type: str = Field(description="The gate type, or approval-policy for the approval requirement")
    name: str
    status: Literal["pass", "fail", "pending", "warn"]
    message: str
    details: dict[str, Any] = Field(description="What the gate judged (free-form, per gate type)")
    evaluated_at: datetime


class PromotionGateEvaluationOut(PromotionGateResultOut):
    """A gate's verdict with what it was given and what it logged."""

    inputs: dict[str, Any] = Field(description="What the gate was given (its config with secrets masked, ...)")
    log: list[str]


class PromotionApprovalPolicyOut(ApiOut):
    """The approval requirement as it was when the promotion was requested."""

    id: str | None = Field(description="The approval policy (null: the environment's approval gate)")
    name: str
    required_approvals: int
    approver_roles: list[str]
    approver_users: list[str]
    allow_self_approval: bool
    expires_after_seconds: int | None


class PromotionFreezeOverrideOut(ApiOut):
    by: str = Field(description="Who overrode the freeze")
    roles: list[str]
    reason: str
    windows: list[str] = Field(description="The freeze windows active then, by id")
    at: datetime


class PromotionOut(ApiOut):
    id: str
    tenant_id: str
    release_id: str
    environment_id: str
    reason: str
    requested_by: str
    state: PromotionState
    message: str = Field(description="Why the promotion is in its state")
    gates: list[PromotionGateResultOut] = Field(description="The last evaluation (GET .../decision has its inputs)")
    evaluated_at: datetime | None
    approval_policy: PromotionApprovalPolicyOut | None = Field(description="null: no approval needed")
    freeze_override: PromotionFreezeOverrideOut | None
    recheck_at: datetime | None = Field(description="When a blocked promotion is evaluated again")
    expires_at: datetime | None = Field(description="When a promotion still awaiting approval is cancelled")
    finished_at: datetime | None
    workflow_run_id: str | None = Field(description="The deployment workflow run of an approved promotion")
    version: int
    created_at: datetime
    updated_at: datetime


class PromotionDetailOut(PromotionOut):
    """One promotion, with the people's decisions on it."""

    approvals: list[PromotionApprovalOut] = Field(description="Oldest first")


class PromotionDecisionOut(ApiOut):
    """``PromotionService.decision``: everything the promotion was decided on."""

    promotion_id: str
    state: PromotionState
    outcome: str = Field(description="The promotion's message")
    evaluated_at: datetime | None
    gates: list[PromotionGateEvaluationOut]
    approval_policy: PromotionApprovalPolicyOut | None
    approvals: list[PromotionApprovalOut]
    freeze_override: PromotionFreezeOverrideOut | None


class PromotionGatePreviewOut(ApiOut):
    """``PromotionService.preview``: the gates evaluated now, nothing recorded."""

    release_id: str
    environment_id: str
    outcome: Literal["blocked", "awaiting_approval", "approved"] = Field(
        description="The state a promotion requested now would reach"
    )
    message: str
    gates: list[PromotionGateEvaluationOut]
    approval_policy: PromotionApprovalPolicyOut | None


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
