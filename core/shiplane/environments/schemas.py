from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy.engine import Row

from shiplane.environments.models import Environment
from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, Integral
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


class EnvironmentCreate(EnvironmentFields):
    pass


class EnvironmentReplace(EnvironmentFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


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
        "version": env.version,
        "createdAt": rfc3339(env.created_at),
        "updatedAt": rfc3339(env.updated_at),
    }
