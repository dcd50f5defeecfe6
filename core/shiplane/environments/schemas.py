from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, TypeAdapter
from sqlalchemy.engine import Row

from shiplane.environments.models import Environment
from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral
from shiplane.platform.secrets import mask_sealed

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
OptionalId = Annotated[str, StringConstraints(min_length=1, max_length=36)] | None


class GateConfig(ApiModel):
    """A gate the environment applies to promotions; evaluated by the promotions module."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
        default=None, description="Assigned by the server; send it back to update this gate in place"
    )
    type: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    # Read-only (the server reports it); accepted and ignored so a GET can be PUT back.
    problem: dict[str, Any] | None = Field(default=None, exclude=True)


Principal = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class Protection(ApiModel):
    """A protected environment: only these roles or users promote into it, or roll it back
    (each on top of the permission; an empty pair of lists leaves that action to anyone
    who holds the permission)."""

    promote_roles: Annotated[list[Principal], Field(max_length=20)] = Field(default_factory=list)
    promote_users: Annotated[list[Principal], Field(max_length=200)] = Field(default_factory=list)
    rollback_roles: Annotated[list[Principal], Field(max_length=20)] = Field(default_factory=list)
    rollback_users: Annotated[list[Principal], Field(max_length=200)] = Field(default_factory=list)


class RollbackPolicy(ApiModel):
    """What happens when a deployment's post-deployment health checks fail."""

    on_failed_checks: Literal["rollback", "hold"] = Field(
        default="rollback",
        description="rollback: the environment goes back to the release it had, by itself; hold: the new "
        "release stays (for releases whose migrations cannot be undone)",
    )
    check_targets: bool = Field(
        default=True, description="Run every deployed target's health check on its agent after a deployment"
    )
    hook_template_id: OptionalId = Field(
        default=None, description="A workflow template run after every successful rollback of the environment"
    )


class EnvironmentFields(ApiModel):
    name: Slug = Field(description="Slug, unique per tenant")
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    order: Annotated[int, Field(ge=0, le=1_000_000), Integral] | None = Field(
        default=None, description="Place in the pipeline; defaults to after the last environment"
    )
    is_production: bool = False
    required_predecessors: Annotated[list[str], Field(max_length=50)] | None = Field(
        default=None, description="Environment ids; null means the environment just before in order"
    )
    gates: Annotated[list[GateConfig], Field(max_length=50)] = Field(default_factory=list)
    approval_policy_id: OptionalId = None
    deployment_workflow_template_id: OptionalId = None
    variable_set_ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=36)]], Field(max_length=20)
    ] = Field(
        default_factory=list,
        description="The variable sets its deployments resolve, in order: a later set wins a tie",
    )
    rollback_policy: RollbackPolicy | None = Field(
        default=None, description="null: the default (post-deployment checks; roll back by itself when they fail)"
    )
    protection: Protection | None = Field(
        default=None,
        description="Who may promote into the environment and roll it back (null: anyone with the permission)",
    )


class EnvironmentCreate(EnvironmentFields):
    pass


class EnvironmentReplace(EnvironmentFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


class GateOut(ApiOut):
    id: str | None = Field(description="Assigned by the server (null on gates stored before ids)")
    type: str
    name: str | None = None
    config: dict[str, Any] = Field(description="Sealed secrets shown masked")
    problem: dict[str, str] | None = Field(
        default=None, description="Present when the gate cannot run now (its plugin disabled or gone)"
    )


class RollbackPolicyOut(ApiOut):
    on_failed_checks: Literal["rollback", "hold"]
    check_targets: bool
    hook_template_id: str | None


class ProtectionOut(ApiOut):
    promote_roles: list[str]
    promote_users: list[str]
    rollback_roles: list[str]
    rollback_users: list[str]


class EnvironmentOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    display_name: str | None
    description: str
    order: int = Field(description="Place in the pipeline")
    is_production: bool
    required_predecessors: list[str] | None = Field(description="null: the environment just before in order")
    gates: list[GateOut]
    approval_policy_id: str | None
    deployment_workflow_template_id: str | None
    current_release_id: str | None
    protection: ProtectionOut | None
    variable_set_ids: list[str]
    rollback_policy: RollbackPolicyOut
    version: int
    created_at: datetime
    updated_at: datetime


def gate_out(gate: dict[str, Any], problem: dict[str, str] | None) -> dict[str, Any]:
    out = {**gate, "config": mask_sealed(gate.get("config", {}))}
    if problem is not None:
        out["problem"] = problem
    return out


def environment_out(
    env: Environment | Row[Any], gate_problems: list[dict[str, str] | None] | None = None
) -> dict[str, Any]:
    return {
        "id": env.id,
        "tenantId": env.tenant_id,
        "name": env.name,
        "displayName": env.display_name,
        "description": env.description,
        "order": env.position,
        "isProduction": env.is_production,
        "requiredPredecessors": env.required_predecessors,
        "gates": [gate_out(g, (gate_problems or [None] * len(env.gates))[i]) for i, g in enumerate(env.gates)],
        "approvalPolicyId": env.approval_policy_id,
        "deploymentWorkflowTemplateId": env.deployment_template_id,
        "currentReleaseId": env.current_release_id,
        "protection": env.protection,
        "variableSetIds": list(env.variable_set_ids or []),
        "rollbackPolicy": env.rollback_policy
        or {"onFailedChecks": "rollback", "checkTargets": True, "hookTemplateId": None},
        "version": env.version,
        "createdAt": rfc3339(env.created_at),
        "updatedAt": rfc3339(env.updated_at),
    }


RoleName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class FreezeWindowCreate(ApiModel):
    """A one-off window (``startsAt``, ``endsAt``) or a recurring one (``rrule``,
    ``duration``, ``timeZone``, and ``startsAt`` as the series start, default now)."""

    starts_at: Annotated[AwareDatetime, Field(strict=False)] | None = None
    ends_at: Annotated[AwareDatetime, Field(strict=False)] | None = None
    rrule: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = Field(
        default=None, description="RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0"
    )
    duration: Annotated[timedelta, Field(strict=False)] | None = Field(
        default=None, description="ISO 8601 duration of each occurrence, wall-clock time (P2DT16H)"
    )
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="IANA time zone the rule's times are in (Europe/Berlin)"
    )
    reason: Annotated[str, StringConstraints(max_length=500)] = ""
    override_roles: Annotated[list[RoleName], Field(max_length=20)] = Field(
        default_factory=list, description="Roles whose members may override the freeze, with a reason"
    )


_DURATION = TypeAdapter(timedelta)


class FreezeWindowOut(ApiOut):
    id: str
    environment_id: str
    kind: Literal["once", "recurring"]
    starts_at: datetime = Field(description="The window's start (a recurring window's series start)")
    ends_at: datetime | None
    rrule: str | None
    duration: str | None = Field(description="ISO 8601 duration of each occurrence (recurring windows)")
    time_zone: str | None
    reason: str
    override_roles: list[str]
    active: bool = Field(description="Whether the window holds now")
    next_start: datetime | None
    next_end: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int


def freeze_window_out(window: Any, state: dict[str, Any]) -> dict[str, Any]:
    recurring = window.rrule is not None
    return {
        "id": window.id,
        "environmentId": window.environment_id,
        "kind": "recurring" if recurring else "once",
        "startsAt": rfc3339(window.starts_at),
        "endsAt": rfc3339(window.ends_at) if window.ends_at else None,
        "rrule": window.rrule,
        "duration": _DURATION.dump_python(timedelta(seconds=window.duration_seconds), mode="json")
        if recurring
        else None,
        "timeZone": window.time_zone,
        "reason": window.reason,
        "overrideRoles": list(window.override_roles or []),
        "active": state["active"],
        "nextStart": rfc3339(state["nextStart"]) if state["nextStart"] else None,
        "nextEnd": rfc3339(state["nextEnd"]) if state["nextEnd"] else None,
        "createdBy": window.created_by,
        "createdAt": rfc3339(window.created_at),
        "updatedAt": rfc3339(window.updated_at),
        "version": window.version,
    }
