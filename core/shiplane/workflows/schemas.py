from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral
from shiplane.platform.secrets import mask_sealed

NodeId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
TemplateName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")]
MAX_NODES = 1000


class RetryPolicy(ApiModel):
    max: Annotated[int, Field(ge=0, le=10), Integral] = Field(default=0, description="Retries after the first attempt")
    backoff: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=5.0, description="Seconds before the first retry; doubles per retry (at most 10 minutes)"
    )


class NodeIn(ApiModel):
    id: NodeId = Field(description="Unique in the template; `steps.<id>` in expressions")
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(description="A step type id")
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    config: Annotated[dict[str, Any], Field(max_length=100)] = Field(default_factory=dict)
    depends_on: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=50)] = Field(
        default_factory=list
    )
    when: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        default=None, description="A condition (expression); false skips the step"
    )
    retry: RetryPolicy | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=86400), Integral] | None = Field(
        default=None, description="Default: 3600"
    )
    on_failure: Literal["fail", "continue", "ask"] = Field(
        default="fail",
        description="`fail` fails the run; `continue` lets dependants run; `ask` waits for a person to "
        "retry, skip or abort the failed step",
    )


class TemplateFields(ApiModel):
    name: TemplateName
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    inputs_schema: Annotated[dict[str, Any], Field(max_length=50)] = Field(
        default_factory=lambda: {"type": "object"}, description="JSON Schema of a run's inputs"
    )
    nodes: Annotated[list[NodeIn], Field(min_length=1, max_length=MAX_NODES)]


class TemplateCreate(TemplateFields):
    pass


class TemplateReplace(TemplateFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version of the template resource (or If-Match)"
    )


class StepDecision(ApiModel):
    action: Literal["retry", "skip", "abort", "approve", "reject", "continue"] = Field(
        description=(
            "For a step that failed with onFailure: ask, retry, skip or abort; for a step waiting for "
            "people (approval, manual), one of the actions its `wait` offers"
        )
    )
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""


class RunCreate(ApiModel):
    template_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    template_version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Default: the template's current version"
    )
    inputs: Annotated[dict[str, Any], Field(max_length=100)] = Field(default_factory=dict)
    context: Annotated[dict[str, Any], Field(max_length=20)] = Field(
        default_factory=dict, description="What the run is for (release, environment, promotion ids)"
    )


RunState = Literal["running", "paused", "cancelling", "succeeded", "failed", "cancelled"]
StepState = Literal["pending", "queued", "running", "waiting", "succeeded", "failed", "skipped", "cancelled"]
WaitAction = Literal["approve", "reject", "continue", "abort"]


class WorkflowRetryPolicyOut(ApiOut):
    max: int = Field(description="Retries after the first attempt")
    backoff: float = Field(description="Seconds before the first retry; doubles per retry")


class WorkflowNodeOut(ApiOut):
    id: str
    type: str = Field(description="A step type id")
    name: str
    config: dict[str, Any] = Field(description="The step's configuration; sealed secrets shown masked")
    depends_on: list[str]
    when: str | None = Field(description="A condition (expression); false skips the step")
    retry: WorkflowRetryPolicyOut | None
    timeout_seconds: int | None = Field(description="null: the default (3600)")
    on_failure: Literal["fail", "continue", "ask"]


def node_out(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node["id"],
        "type": node["type"],
        "name": node.get("name", ""),
        "config": mask_sealed(node.get("config", {})),
        "dependsOn": node.get("dependsOn", []),
        "when": node.get("when"),
        "retry": node.get("retry"),
        "timeoutSeconds": node.get("timeoutSeconds"),
        "onFailure": node.get("onFailure", "fail"),
    }


def node_in(node: NodeIn) -> dict[str, Any]:
    return {
        "id": node.id,
        "type": node.type,
        "name": node.name,
        "config": node.config,
        "dependsOn": list(node.depends_on),
        "when": node.when,
        "retry": node.retry.model_dump() if node.retry else None,
        "timeoutSeconds": node.timeout_seconds,
        "onFailure": node.on_failure,
    }


class WorkflowTemplateOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    current_version: int = Field(description="The newest definition's number")
    template_version: int = Field(description="The number of the definition shown")
    inputs_schema: dict[str, Any] = Field(description="JSON Schema of a run's inputs")
    nodes: list[WorkflowNodeOut]
    version: int = Field(description="The template resource's version (ETag, If-Match)")
    created_at: datetime
    updated_at: datetime


def template_out(row: Any, definition: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "currentVersion": row.current_version,
        "templateVersion": definition.number,
        "inputsSchema": definition.inputs_schema,
        "nodes": [node_out(n) for n in definition.nodes],
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


class WorkflowRunOut(ApiOut):
    id: str
    tenant_id: str
    template_id: str
    template_version: int = Field(description="The definition the run pinned")
    inputs: dict[str, Any]
    context: dict[str, Any] = Field(description="What the run is for (release, environment, promotion ids)")
    state: RunState
    message: str
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


def run_out(row: Any) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return rfc3339(value) if value is not None else None

    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "templateId": row.template_id,
        "templateVersion": row.template_version,
        "inputs": row.inputs,
        "context": row.context,
        "state": row.state,
        "message": row.message,
        "createdBy": row.created_by,
        "startedAt": when(row.started_at),
        "finishedAt": when(row.finished_at),
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


class WorkflowStepWaitOut(ApiOut):
    actions: list[WaitAction] = Field(description="The decisions offered")
    kind: str = Field(description="A label (approval, manual)")
    instructions: str
    roles: list[str] = Field(description="If not empty, only members of one of these roles may decide")
    users: list[str] = Field(description="If not empty, these users may decide too")
    allow_self: bool = Field(description="Whether the person who started the run may decide")


class WorkflowStepDecisionOut(ApiOut):
    action: WaitAction
    by: str
    roles: list[str] = Field(description="The roles the person held when deciding")
    comment: str
    at: datetime


class WorkflowStepOut(ApiOut):
    node_id: str
    type: str
    state: StepState
    attempt: int
    outputs: dict[str, Any]
    message: str
    wait: WorkflowStepWaitOut | None = Field(
        description="While the step waits for people (approval, manual); null otherwise, and for a step "
        "waiting after a failure (onFailure: ask)"
    )
    decisions: list[WorkflowStepDecisionOut] = Field(description="What people decided on it, oldest first")
    started_at: datetime | None
    finished_at: datetime | None
    name: str | None = Field(default=None, description="The node's name; present when a step is read")
    depends_on: list[str] | None = Field(default=None, description="Present when a step is read")


class WorkflowRunDetailOut(WorkflowRunOut):
    steps: list[WorkflowStepOut] = Field(description="One per node, in the definition's order")


class WorkflowProblemOut(ApiOut):
    node: str | None = Field(description="The node's id; null for the template itself (its inputs schema)")
    field: str
    code: str
    message: str


class WorkflowValidationOut(ApiOut):
    template_id: str
    template_version: int
    valid: bool
    problems: list[WorkflowProblemOut]


class WorkflowLogLineOut(ApiOut):
    offset: int = Field(description="The line's place in the step's log (0 the first)")
    seq: int = Field(description="The run stream's sequence number of the line")
    at: datetime
    line: str


class WorkflowStepLogsOut(ApiOut):
    node_id: str
    offset: int
    lines: list[WorkflowLogLineOut]
    has_more: bool


class WorkflowArtifactOut(ApiOut):
    name: str
    content_type: str
    size: int = Field(description="Bytes")
    digest: str
    created_at: datetime


def step_out(row: Any, node: dict[str, Any] | None = None) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return rfc3339(value) if value is not None else None

    data = {
        "nodeId": row.node_id,
        "type": row.type,
        "state": row.state,
        "attempt": row.attempt,
        "outputs": row.outputs,
        "message": row.message,
        "wait": row.wait,
        "decisions": row.decisions or [],
        "startedAt": when(row.started_at),
        "finishedAt": when(row.finished_at),
    }
    if node is not None:
        data["name"] = node.get("name", "")
        data["dependsOn"] = node.get("dependsOn", [])
    return data
