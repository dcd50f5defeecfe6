# Generated from the Shiplane server's OpenAPI document by datamodel-code-generator 0.89.0.
# Do not edit: regenerate with
#     python sdk/scripts/generate_client_models.py            (from shiplane.app.create_app())
#     python sdk/scripts/generate_client_models.py --url URL  (from a running server)
# sdk/tests/test_client_models.py fails when this file and the live document differ.
#
# Request bodies, and the data of every answer the document describes (the *Out models);
# RESPONSES at the end maps each operation to its answer's model (shiplane_sdk.client._typed).

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field, RootModel, StringConstraints
from typing_extensions import TypeAliasType


class ABMeasurementOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[int, Field(title="Id")]
    step: Annotated[int, Field(title="Step")]
    """
    0-based index of the step it was measured in
    """
    kind: Annotated[Literal["probe", "metric"], Field(title="Kind")]
    name: Annotated[str, Field(title="Name")]
    query: Annotated[str, Field(title="Query")]
    """
    The probe's URL or the metric query
    """
    values: Annotated[list[Any], Field(title="Values")]
    threshold: Annotated[dict[str, Any], Field(title="Threshold")]
    """
    A probe's expectStatus, or a metric's min and max
    """
    verdict: Annotated[Literal["pass", "fail", "inconclusive"], Field(title="Verdict")]
    message: Annotated[str, Field(title="Message")]
    at: Annotated[AwareDatetime, Field(title="At")]


class ABMetricCheckOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(title="Name")]
    integration_id: Annotated[str, Field(alias="integrationId", title="Integrationid")]
    query: Annotated[str, Field(title="Query")]
    min: Annotated[float | None, Field(title="Min")]
    max: Annotated[float | None, Field(title="Max")]
    side: Annotated[Literal["control", "candidate"], Field(title="Side")]


class ABProbeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(title="Name")]
    url: Annotated[str, Field(title="Url")]
    expect_status: Annotated[list[int], Field(alias="expectStatus", title="Expectstatus")]
    timeout_seconds: Annotated[float, Field(alias="timeoutSeconds", title="Timeoutseconds")]
    side: Annotated[Literal["control", "candidate"], Field(title="Side")]


class ABRollback(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    reason: Annotated[str | None, Field(max_length=2000, title="Reason")] = ""


class ABRouterRefOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    instance_id: Annotated[str, Field(alias="instanceId", title="Instanceid")]
    type: Annotated[str | None, Field(title="Type")]
    """
    The traffic router's capability id (null: its instance is gone or unusable)
    """


class ABSideHealthOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    status: Annotated[Literal["unknown", "healthy", "degraded", "unhealthy"], Field(title="Status")]
    checks: Annotated[dict[str, Literal["pass", "fail", "inconclusive"]], Field(title="Checks")]
    """
    Each of the side's checks by name: its latest verdict
    """


class ABSidesHealthOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    control: ABSideHealthOut
    candidate: ABSideHealthOut


class ABStepOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    weight: Annotated[int, Field(title="Weight")]
    """
    Percent of the traffic sent to the candidate
    """
    pause_seconds: Annotated[int | None, Field(alias="pauseSeconds", title="Pauseseconds")]
    """
    How long the step lasts at least (null: no timed pause)
    """
    manual: Annotated[bool, Field(title="Manual")]
    """
    The step waits for a person's advance
    """


class ABWeightsOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    control: Annotated[int, Field(title="Control")]
    """
    Percent of the traffic to the control release (A)
    """
    candidate: Annotated[int, Field(title="Candidate")]
    """
    Percent of the traffic to the candidate release (B)
    """


class AgentHeartbeatOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    status: Annotated[Literal["online", "draining", "disabled"], Field(title="Status")]
    """
    The agent's status now (a draining or disabled agent is offered no new tasks)
    """
    heartbeat_seconds: Annotated[int, Field(alias="heartbeatSeconds", title="Heartbeatseconds")]
    """
    How often the agent is to heartbeat
    """


class AgentOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    hostname: Annotated[str, Field(title="Hostname")]
    agent_version: Annotated[str, Field(alias="agentVersion", title="Agentversion")]
    """
    The agent's software version
    """
    capabilities: Annotated[list[str], Field(title="Capabilities")]
    """
    Target types the agent runs
    """
    labels: Annotated[dict[str, str], Field(title="Labels")]
    status: Annotated[Literal["online", "offline", "draining", "disabled"], Field(title="Status")]
    """
    disabled or draining as set by an admin; else online when heard from within the liveness interval, offline otherwise
    """
    draining: Annotated[bool, Field(title="Draining")]
    disabled: Annotated[bool, Field(title="Disabled")]
    last_heartbeat_at: Annotated[AwareDatetime | None, Field(alias="lastHeartbeatAt", title="Lastheartbeatat")]
    """
    null until its first heartbeat
    """
    registered_by: Annotated[str, Field(alias="registeredBy", title="Registeredby")]
    """
    The user of the token that registered it
    """
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class Capability(RootModel[str]):
    root: Annotated[str, Field(max_length=128, min_length=1)]


class AgentRegistration(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9.-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant
    """
    hostname: Annotated[str, Field(max_length=255, min_length=1, title="Hostname")]
    agent_version: Annotated[str, Field(alias="agentVersion", max_length=64, min_length=1, title="Agentversion")]
    """
    The agent's software version
    """
    capabilities: Annotated[list[Capability] | None, Field(max_length=100, title="Capabilities")] = None
    """
    Target types the agent runs
    """
    labels: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")], str] | None,
        Field(title="Labels"),
    ] = None


class AgentRegistrationOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    agent: AgentOut
    credential: Annotated[str, Field(title="Credential")]
    """
    The agent's own bearer credential, shown in this answer only (the server keeps its hash)
    """
    heartbeat_seconds: Annotated[int, Field(alias="heartbeatSeconds", title="Heartbeatseconds")]
    """
    How often the agent is to heartbeat
    """


class Version(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class AgentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    labels: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")], str] | None,
        Field(title="Labels"),
    ] = None
    draining: Annotated[bool | None, Field(title="Draining")] = False
    disabled: Annotated[bool | None, Field(title="Disabled")] = False
    version: Annotated[Version | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class ConsecutiveFailureLimit(RootModel[int]):
    root: Annotated[int, Field(ge=1, le=100, title="Consecutivefailurelimit")]
    """
    Roll back as soon as this many checks in a row fail
    """


class ApproverRole(RootModel[str]):
    root: Annotated[str, Field(max_length=255, min_length=1)]


class ApproverUser(RootModel[str]):
    root: Annotated[str, Field(max_length=255, min_length=1)]


class ExpiresAfterSeconds(RootModel[int]):
    root: Annotated[int, Field(ge=60, le=7776000, title="Expiresafterseconds")]
    """
    A promotion still waiting for approvals this long after it was requested is cancelled
    """


class ApprovalPolicyCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    required_approvals: Annotated[
        int | None, Field(alias="requiredApprovals", ge=1, le=20, title="Requiredapprovals")
    ] = 1
    """
    How many distinct people must approve
    """
    approver_roles: Annotated[
        list[ApproverRole] | None, Field(alias="approverRoles", max_length=20, title="Approverroles")
    ] = None
    """
    Members of these roles may approve (with promotions:approve)
    """
    approver_users: Annotated[
        list[ApproverUser] | None, Field(alias="approverUsers", max_length=200, title="Approverusers")
    ] = None
    """
    These users may approve too; with no roles and no users, anyone who holds promotions:approve may
    """
    allow_self_approval: Annotated[bool | None, Field(alias="allowSelfApproval", title="Allowselfapproval")] = False
    """
    Whether the requester may approve their own promotion
    """
    expires_after_seconds: Annotated[
        ExpiresAfterSeconds | None, Field(alias="expiresAfterSeconds", title="Expiresafterseconds")
    ] = None
    """
    A promotion still waiting for approvals this long after it was requested is cancelled
    """


class ApprovalPolicyOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    required_approvals: Annotated[int, Field(alias="requiredApprovals", title="Requiredapprovals")]
    """
    How many distinct people must approve
    """
    approver_roles: Annotated[list[str], Field(alias="approverRoles", title="Approverroles")]
    approver_users: Annotated[list[str], Field(alias="approverUsers", title="Approverusers")]
    allow_self_approval: Annotated[bool, Field(alias="allowSelfApproval", title="Allowselfapproval")]
    expires_after_seconds: Annotated[int | None, Field(alias="expiresAfterSeconds", title="Expiresafterseconds")]
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class AuditActorOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    type: Annotated[Literal["user", "agent", "system"], Field(title="Type")]
    id: Annotated[str, Field(title="Id")]


class AuditEventOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    sequence: Annotated[int, Field(title="Sequence")]
    """
    The event's place in the tenant's chain
    """
    occurred_at: Annotated[AwareDatetime, Field(alias="occurredAt", title="Occurredat")]
    actor: AuditActorOut
    action: Annotated[str, Field(title="Action")]
    resource_type: Annotated[str, Field(alias="resourceType", title="Resourcetype")]
    resource_id: Annotated[str | None, Field(alias="resourceId", title="Resourceid")]
    request_id: Annotated[str | None, Field(alias="requestId", title="Requestid")]
    outcome: Annotated[Literal["success", "denied", "failure"], Field(title="Outcome")]
    changes: Annotated[dict[str, Any], Field(title="Changes")]
    """
    before, after and details, each when recorded; secrets redacted
    """
    prev_hash: Annotated[str, Field(alias="prevHash", title="Prevhash")]
    hash: Annotated[str, Field(title="Hash")]
    """
    sha256 of prevHash and the event's canonical form
    """


class EnvironmentId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1)]


class AuditReportCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    period_start: Annotated[AwareDatetime, Field(alias="periodStart", title="Periodstart")]
    """
    RFC 3339; changes requested at or after it
    """
    period_end: Annotated[AwareDatetime, Field(alias="periodEnd", title="Periodend")]
    """
    RFC 3339; changes requested before it
    """
    environment_ids: Annotated[
        list[EnvironmentId] | None, Field(alias="environmentIds", max_length=100, title="Environmentids")
    ] = None
    """
    Only these environments (none: all)
    """
    format: Annotated[Literal["json", "csv", "html"] | None, Field(title="Format")] = "json"


class AuditReportOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    period_start: Annotated[AwareDatetime, Field(alias="periodStart", title="Periodstart")]
    period_end: Annotated[AwareDatetime, Field(alias="periodEnd", title="Periodend")]
    environment_ids: Annotated[list[str], Field(alias="environmentIds", title="Environmentids")]
    """
    Only these environments (none: all)
    """
    format: Annotated[Literal["json", "csv", "html"], Field(title="Format")]
    state: Annotated[Literal["pending", "ready", "failed"], Field(title="State")]
    message: Annotated[str, Field(title="Message")]
    changes: Annotated[int, Field(title="Changes")]
    """
    How many changes the report lists (0 until it is ready)
    """
    size: Annotated[int | None, Field(title="Size")]
    """
    Bytes of the report (null until it is ready)
    """
    digest: Annotated[str | None, Field(title="Digest")]
    """
    sha256:... of the report's bytes (null until it is ready)
    """
    requested_by: Annotated[str, Field(alias="requestedBy", title="Requestedby")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]


class AuditStreamStatusOut(BaseModel):
    """
    How far a SIEM sink has accepted the tenant's audit chain.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    delivered_sequence: Annotated[int, Field(alias="deliveredSequence", title="Deliveredsequence")]
    """
    The last audit sequence the sink accepted (0: none yet)
    """
    head_sequence: Annotated[int | None, Field(alias="headSequence", title="Headsequence")]
    """
    The chain's last sequence (null: the sink never ran)
    """
    behind: Annotated[int | None, Field(title="Behind")]
    """
    How many events the sink has yet to accept (null: the sink never ran)
    """
    attempts: Annotated[int, Field(title="Attempts")]
    """
    Delivery attempts since the last success
    """
    last_error: Annotated[str | None, Field(alias="lastError", title="Lasterror")]
    next_attempt_at: Annotated[AwareDatetime | None, Field(alias="nextAttemptAt", title="Nextattemptat")]


class VersionPattern(RootModel[str]):
    root: Annotated[str, Field(max_length=1000, min_length=1, title="Versionpattern")]
    """
    Which tags are versions: a regex the whole tag matches (RE2), or a semver range
    """


class ComponentCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant: lowercase letters, digits and '-'
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    integration_id: Annotated[str, Field(alias="integrationId", max_length=36, min_length=1, title="Integrationid")]
    """
    A registry or SCM integration of the tenant whose type lists versions
    """
    reference: Annotated[str, Field(max_length=500, min_length=1, title="Reference")]
    """
    What to version in the integration: an image repository, a git repository (see discover)
    """
    version_pattern: Annotated[VersionPattern | None, Field(alias="versionPattern", title="Versionpattern")] = None
    """
    Which tags are versions: a regex the whole tag matches (RE2), or a semver range
    """
    version_pattern_type: Annotated[
        Literal["regex", "semver"] | None, Field(alias="versionPatternType", title="Versionpatterntype")
    ] = "regex"
    """
    How versionPattern reads: `regex` or `semver` (an npm-style range)
    """


class ComponentReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant: lowercase letters, digits and '-'
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    integration_id: Annotated[str, Field(alias="integrationId", max_length=36, min_length=1, title="Integrationid")]
    """
    A registry or SCM integration of the tenant whose type lists versions
    """
    reference: Annotated[str, Field(max_length=500, min_length=1, title="Reference")]
    """
    What to version in the integration: an image repository, a git repository (see discover)
    """
    version_pattern: Annotated[VersionPattern | None, Field(alias="versionPattern", title="Versionpattern")] = None
    """
    Which tags are versions: a regex the whole tag matches (RE2), or a semver range
    """
    version_pattern_type: Annotated[
        Literal["regex", "semver"] | None, Field(alias="versionPatternType", title="Versionpatterntype")
    ] = "regex"
    """
    How versionPattern reads: `regex` or `semver` (an npm-style range)
    """
    version: Annotated[Version | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class ComponentSyncChangeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    tag: Annotated[str, Field(title="Tag")]
    digest: Annotated[str | None, Field(title="Digest")]
    previous_digest: Annotated[str | None, Field(alias="previousDigest", title="Previousdigest")]


class ComponentSyncStatusOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    status: Annotated[Literal["never", "ok", "failed"], Field(title="Status")]
    """
    never: not synced since it was made or its source changed; ok: the last sync stored the versions; failed: the last sync failed and left the versions as they were
    """
    message: Annotated[str, Field(title="Message")]
    """
    Why the last sync failed (empty unless failed)
    """
    at: Annotated[AwareDatetime | None, Field(title="At")]
    """
    When the last sync ended (null: never)
    """


class ComponentSyncedVersionOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    tag: Annotated[str, Field(title="Tag")]
    digest: Annotated[str | None, Field(title="Digest")]


class ComponentVersionOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    component_id: Annotated[str, Field(alias="componentId", title="Componentid")]
    tag: Annotated[str, Field(title="Tag")]
    digest: Annotated[str | None, Field(title="Digest")]
    created_at: Annotated[AwareDatetime | None, Field(alias="createdAt", title="Createdat")]
    """
    When the registry or SCM says the version was made (null: unknown)
    """
    metadata: Annotated[dict[str, Any], Field(title="Metadata")]
    """
    What the integration told about the version
    """
    discovered_at: Annotated[AwareDatetime, Field(alias="discoveredAt", title="Discoveredat")]
    """
    When a sync first stored the version
    """
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class DeploymentArtifactOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    job_id: Annotated[str, Field(alias="jobId", title="Jobid")]
    name: Annotated[str, Field(title="Name")]
    """
    manifest.json, variables.json or stickers.json
    """
    content_type: Annotated[str, Field(alias="contentType", title="Contenttype")]
    size: Annotated[int, Field(title="Size")]
    """
    Bytes
    """
    digest: Annotated[str, Field(title="Digest")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]


class DeploymentTaskLogLineOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    offset: Annotated[int, Field(title="Offset")]
    """
    The line's place in the task's log (0 the first)
    """
    line: Annotated[str, Field(title="Line")]


class DeploymentTaskLogsOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    task_id: Annotated[str, Field(alias="taskId", title="Taskid")]
    offset: Annotated[int, Field(title="Offset")]
    lines: Annotated[list[DeploymentTaskLogLineOut], Field(title="Lines")]
    has_more: Annotated[bool, Field(alias="hasMore", title="Hasmore")]


class DeploymentTaskOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    job_id: Annotated[str, Field(alias="jobId", title="Jobid")]
    target_id: Annotated[str, Field(alias="targetId", title="Targetid")]
    target_name: Annotated[str, Field(alias="targetName", title="Targetname")]
    agent_id: Annotated[str | None, Field(alias="agentId", title="Agentid")]
    """
    The agent the task went to (null until dispatched)
    """
    batch: Annotated[int, Field(title="Batch")]
    """
    The rollout batch, 0 the first
    """
    state: Annotated[
        Literal["queued", "dispatched", "succeeded", "failed", "timed_out", "cancelled"], Field(title="State")
    ]
    message: Annotated[str, Field(title="Message")]
    result: Annotated[dict[str, Any], Field(title="Result")]
    """
    What the agent reported (its log is at .../logs)
    """
    started_at: Annotated[AwareDatetime | None, Field(alias="startedAt", title="Startedat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]


class DeploymentVariableSetRefOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    revision: Annotated[int, Field(title="Revision")]
    """
    The set's revision the deployment resolved
    """


class DeploymentVariablesOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    sets: Annotated[list[DeploymentVariableSetRefOut], Field(title="Sets")]
    """
    The variable sets resolved, in order
    """
    targets: Annotated[dict[str, dict[str, str]], Field(title="Targets")]
    """
    Per target id, each variable's value (secret values shown as ***)
    """


class DiscoverRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    query: Annotated[dict[str, Any] | None, Field(max_length=20, title="Query")] = None
    """
    Integration-specific filters, e.g. a prefix
    """


class DiscoveredItemOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    kind: Annotated[str, Field(title="Kind")]
    """
    What it is: repository, image, project ...
    """
    reference: Annotated[str, Field(title="Reference")]
    """
    What the integration needs to find it again (what list_versions takes)
    """
    name: Annotated[str, Field(title="Name")]
    metadata: Annotated[dict[str, Any], Field(title="Metadata")]


class DisplayName(RootModel[str]):
    root: Annotated[str, Field(max_length=200, min_length=1, title="Displayname")]


class Order(RootModel[int]):
    root: Annotated[int, Field(ge=0, le=1000000, title="Order")]
    """
    Place in the pipeline; defaults to after the last environment
    """


class RequiredPredecessors(RootModel[list[str]]):
    root: Annotated[list[str], Field(max_length=50, title="Requiredpredecessors")]
    """
    Environment ids; null means the environment just before in order
    """


class ApprovalPolicyId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Approvalpolicyid")]


class DeploymentWorkflowTemplateId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Deploymentworkflowtemplateid")]


class VariableSetId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1)]


class EvidencePacketDetailOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    kind: Annotated[Literal["promotion-decision", "deployment-outcome", "ab-release-decision"], Field(title="Kind")]
    outcome: Annotated[
        Literal["approved", "rejected", "cancelled", "failed", "succeeded", "partially_applied", "rolled_back", "promoted"],
        Field(title="Outcome"),
    ]
    """
    A promotion's decision (approved, rejected, cancelled, failed), a deployment job's final state, or an A/B release's end (promoted, rolled_back)
    """
    promotion_id: Annotated[str | None, Field(alias="promotionId", title="Promotionid")]
    deployment_job_id: Annotated[str | None, Field(alias="deploymentJobId", title="Deploymentjobid")]
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    """
    Empty when the environment was gone when the packet was written
    """
    subject_digest: Annotated[str, Field(alias="subjectDigest", title="Subjectdigest")]
    payload_type: Annotated[str, Field(alias="payloadType", title="Payloadtype")]
    """
    The DSSE envelope's payloadType
    """
    key_id: Annotated[str, Field(alias="keyId", title="Keyid")]
    """
    The signing key (GET /signing-keys)
    """
    payload_sha256: Annotated[str, Field(alias="payloadSha256", title="Payloadsha256")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    statement: Annotated[dict[str, Any], Field(title="Statement")]
    """
    The signed in-toto Statement, decoded
    """


class EvidencePacketOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    kind: Annotated[Literal["promotion-decision", "deployment-outcome", "ab-release-decision"], Field(title="Kind")]
    outcome: Annotated[
        Literal["approved", "rejected", "cancelled", "failed", "succeeded", "partially_applied", "rolled_back", "promoted"],
        Field(title="Outcome"),
    ]
    """
    A promotion's decision (approved, rejected, cancelled, failed), a deployment job's final state, or an A/B release's end (promoted, rolled_back)
    """
    promotion_id: Annotated[str | None, Field(alias="promotionId", title="Promotionid")]
    deployment_job_id: Annotated[str | None, Field(alias="deploymentJobId", title="Deploymentjobid")]
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    """
    Empty when the environment was gone when the packet was written
    """
    subject_digest: Annotated[str, Field(alias="subjectDigest", title="Subjectdigest")]
    payload_type: Annotated[str, Field(alias="payloadType", title="Payloadtype")]
    """
    The DSSE envelope's payloadType
    """
    key_id: Annotated[str, Field(alias="keyId", title="Keyid")]
    """
    The signing key (GET /signing-keys)
    """
    payload_sha256: Annotated[str, Field(alias="payloadSha256", title="Payloadsha256")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]


class FreezeOverride(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    reason: Annotated[str, Field(max_length=2000, min_length=1, title="Reason")]


class Rrule(RootModel[str]):
    root: Annotated[str, Field(max_length=300, min_length=1, title="Rrule")]
    """
    RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0
    """


class TimeZone(RootModel[str]):
    root: Annotated[str, Field(max_length=64, min_length=1, title="Timezone")]
    """
    IANA time zone the rule's times are in (Europe/Berlin)
    """


class OverrideRole(RootModel[str]):
    root: Annotated[str, Field(max_length=64, min_length=1)]


class FreezeWindowCreate(BaseModel):
    """
    A one-off window (``startsAt``, ``endsAt``) or a recurring one (``rrule``,
    ``duration``, ``timeZone``, and ``startsAt`` as the series start, default now).
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    starts_at: Annotated[AwareDatetime | None, Field(alias="startsAt", title="Startsat")] = None
    ends_at: Annotated[AwareDatetime | None, Field(alias="endsAt", title="Endsat")] = None
    rrule: Annotated[Rrule | None, Field(title="Rrule")] = None
    """
    RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0
    """
    duration: Annotated[timedelta | None, Field(title="Duration")] = None
    """
    ISO 8601 duration of each occurrence, wall-clock time (P2DT16H)
    """
    time_zone: Annotated[TimeZone | None, Field(alias="timeZone", title="Timezone")] = None
    """
    IANA time zone the rule's times are in (Europe/Berlin)
    """
    reason: Annotated[str | None, Field(max_length=500, title="Reason")] = ""
    override_roles: Annotated[
        list[OverrideRole] | None, Field(alias="overrideRoles", max_length=20, title="Overrideroles")
    ] = None
    """
    Roles whose members may override the freeze, with a reason
    """


class FreezeWindowOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    kind: Annotated[Literal["once", "recurring"], Field(title="Kind")]
    starts_at: Annotated[AwareDatetime, Field(alias="startsAt", title="Startsat")]
    """
    The window's start (a recurring window's series start)
    """
    ends_at: Annotated[AwareDatetime | None, Field(alias="endsAt", title="Endsat")]
    rrule: Annotated[str | None, Field(title="Rrule")]
    duration: Annotated[str | None, Field(title="Duration")]
    """
    ISO 8601 duration of each occurrence (recurring windows)
    """
    time_zone: Annotated[str | None, Field(alias="timeZone", title="Timezone")]
    reason: Annotated[str, Field(title="Reason")]
    override_roles: Annotated[list[str], Field(alias="overrideRoles", title="Overrideroles")]
    active: Annotated[bool, Field(title="Active")]
    """
    Whether the window holds now
    """
    next_start: Annotated[AwareDatetime | None, Field(alias="nextStart", title="Nextstart")]
    next_end: Annotated[AwareDatetime | None, Field(alias="nextEnd", title="Nextend")]
    created_by: Annotated[str | None, Field(alias="createdBy", title="Createdby")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]
    version: Annotated[int, Field(title="Version")]


class Id(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Id")]
    """
    Assigned by the server; send it back to update this gate in place
    """


class Name(RootModel[str]):
    root: Annotated[str, Field(max_length=100, min_length=1, title="Name")]


class GateConfig(BaseModel):
    """
    A gate the environment applies to promotions; evaluated by the promotions module.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[Id | None, Field(title="Id")] = None
    """
    Assigned by the server; send it back to update this gate in place
    """
    type: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", title="Type")]
    name: Annotated[Name | None, Field(title="Name")] = None
    config: Annotated[dict[str, Any] | None, Field(title="Config")] = None
    problem: Annotated[dict[str, Any] | None, Field(title="Problem")] = None


class GateOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str | None, Field(title="Id")]
    """
    Assigned by the server (null on gates stored before ids)
    """
    type: Annotated[str, Field(title="Type")]
    name: Annotated[str | None, Field(title="Name")] = None
    config: Annotated[dict[str, Any], Field(title="Config")]
    """
    Sealed secrets shown masked
    """
    problem: Annotated[dict[str, str] | None, Field(title="Problem")] = None
    """
    Present when the gate cannot run now (its plugin disabled or gone)
    """


class GatePreview(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    release_id: Annotated[str, Field(alias="releaseId", max_length=36, min_length=1, title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", max_length=36, min_length=1, title="Environmentid")]


class AgentVersion(RootModel[str]):
    root: Annotated[str, Field(max_length=64, min_length=1, title="Agentversion")]
    """
    The agent's software version, if it changed
    """


class Capabilities(RootModel[list[Capability]]):
    root: Annotated[list[Capability], Field(max_length=100, title="Capabilities")]


class Heartbeat(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    agent_version: Annotated[AgentVersion | None, Field(alias="agentVersion", title="Agentversion")] = None
    """
    The agent's software version, if it changed
    """
    capabilities: Annotated[Capabilities | None, Field(title="Capabilities")] = None


class IntegrationCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    type_id: Annotated[str, Field(alias="typeId", max_length=128, min_length=1, title="Typeid")]
    """
    An integration type id (GET /integration-types)
    """
    config: Annotated[dict[str, Any] | None, Field(title="Config")] = None


class IntegrationCurrentHealthOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    status: Annotated[Literal["ok", "degraded", "failing"], Field(title="Status")]
    message: Annotated[str, Field(title="Message")]
    checked_at: Annotated[AwareDatetime, Field(alias="checkedAt", title="Checkedat")]
    latency_ms: Annotated[float, Field(alias="latencyMs", title="Latencyms")]


class IntegrationHealthOut(BaseModel):
    """
    The last known health of an integration, as stored.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    status: Annotated[Literal["unknown", "ok", "degraded", "failing"], Field(title="Status")]
    """
    unknown: never checked
    """
    message: Annotated[str, Field(title="Message")]
    checked_at: Annotated[AwareDatetime | None, Field(alias="checkedAt", title="Checkedat")]
    latency_ms: Annotated[float | None, Field(alias="latencyMs", title="Latencyms")]


class IntegrationHealthReportOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    integration_id: Annotated[str, Field(alias="integrationId", title="Integrationid")]
    current: IntegrationCurrentHealthOut
    """
    The health now: the type's health check, else its connection test
    """
    last_known: Annotated[IntegrationHealthOut, Field(alias="lastKnown")]
    """
    As stored before this check
    """


class IntegrationProblemOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    code: Annotated[Literal["CAPABILITY_MISSING", "PLUGIN_DISABLED"], Field(title="Code")]
    message: Annotated[str, Field(title="Message")]


class IntegrationReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    type_id: Annotated[str, Field(alias="typeId", max_length=128, min_length=1, title="Typeid")]
    """
    An integration type id (GET /integration-types)
    """
    config: Annotated[dict[str, Any] | None, Field(title="Config")] = None
    version: Annotated[Version | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class IntegrationTestOut(BaseModel):
    """
    A connection test's result: a failed check is a result too (``ok`` false).
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    ok: Annotated[bool, Field(title="Ok")]
    latency_ms: Annotated[float, Field(alias="latencyMs", title="Latencyms")]
    message: Annotated[str, Field(title="Message")]
    details: Annotated[dict[str, Any], Field(title="Details")]
    """
    What the integration type reports (never secrets)
    """


class IntegrationTypeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["integration_type"], Field(title="Kind")]
    category: Annotated[str | None, Field(title="Category")]
    """
    registry, scm, ci, notification, secrets, monitoring, router or siem (null: the plugin set none)
    """
    operations: Annotated[
        list[Literal["test", "discover", "list_versions", "health", "notify", "query_metrics", "send_audit"]],
        Field(title="Operations"),
    ]
    plugin_id: Annotated[str, Field(alias="pluginId", title="Pluginid")]


class MetricCheck(BaseModel):
    """
    A metric query through a monitoring integration, against a threshold: the value
    (the first series' latest point) must be within [min, max].
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, pattern="^[A-Za-z0-9][A-Za-z0-9_.-]*$", title="Name")]
    integration_id: Annotated[str, Field(alias="integrationId", max_length=36, min_length=1, title="Integrationid")]
    query: Annotated[str, Field(max_length=4000, min_length=1, title="Query")]
    min: Annotated[float | None, Field(title="Min")] = None
    max: Annotated[float | None, Field(title="Max")] = None
    side: Annotated[Literal["control", "candidate"] | None, Field(title="Side")] = "candidate"
    """
    Whose health this check is
    """


class DependsOnItem(RootModel[str]):
    root: Annotated[str, Field(max_length=64)]


class When(RootModel[str]):
    root: Annotated[str, Field(max_length=1000, min_length=1, title="When")]
    """
    A condition (expression); false skips the step
    """


class TimeoutSeconds(RootModel[int]):
    root: Annotated[int, Field(ge=1, le=86400, title="Timeoutseconds")]
    """
    Default: 3600
    """


class PluginBreakerOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    state: Annotated[Literal["closed", "open", "half_open"], Field(title="State")]
    consecutive_failures: Annotated[int, Field(alias="consecutiveFailures", title="Consecutivefailures")]
    total_failures: Annotated[int, Field(alias="totalFailures", title="Totalfailures")]
    total_calls: Annotated[int, Field(alias="totalCalls", title="Totalcalls")]
    last_error: Annotated[str | None, Field(alias="lastError", title="Lasterror")]
    """
    The kind of the last failure (exception type, timeout)
    """
    last_failure_at: Annotated[AwareDatetime | None, Field(alias="lastFailureAt", title="Lastfailureat")]


class PluginCapabilityIdsOut(BaseModel):
    """
    The ids of what a plugin provides, per capability kind.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    integration_types: Annotated[list[str], Field(alias="integrationTypes", title="Integrationtypes")]
    step_types: Annotated[list[str], Field(alias="stepTypes", title="Steptypes")]
    gates: Annotated[list[str], Field(title="Gates")]
    rollout_strategies: Annotated[list[str], Field(alias="rolloutStrategies", title="Rolloutstrategies")]
    target_types: Annotated[list[str], Field(alias="targetTypes", title="Targettypes")]
    traffic_routers: Annotated[list[str], Field(alias="trafficRouters", title="Trafficrouters")]


class PluginGateTypeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["gate"], Field(title="Kind")]


class PluginInstanceCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    plugin_id: Annotated[str, Field(alias="pluginId", max_length=128, min_length=1, title="Pluginid")]
    capability_kind: Annotated[
        Literal["integration_type", "step_type", "gate", "rollout_strategy", "target_type", "traffic_router"],
        Field(alias="capabilityKind", title="Capabilitykind"),
    ]
    capability_id: Annotated[str, Field(alias="capabilityId", max_length=128, min_length=1, title="Capabilityid")]
    config: Annotated[dict[str, Any] | None, Field(title="Config")] = None


class PluginInstanceProblemOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    code: Annotated[Literal["PLUGIN_UNAVAILABLE", "CAPABILITY_MISSING", "PLUGIN_DISABLED"], Field(title="Code")]
    message: Annotated[str, Field(title="Message")]


class Version4(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]


class PluginInstanceReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    plugin_id: Annotated[str, Field(alias="pluginId", max_length=128, min_length=1, title="Pluginid")]
    capability_kind: Annotated[
        Literal["integration_type", "step_type", "gate", "rollout_strategy", "target_type", "traffic_router"],
        Field(alias="capabilityKind", title="Capabilitykind"),
    ]
    capability_id: Annotated[str, Field(alias="capabilityId", max_length=128, min_length=1, title="Capabilityid")]
    config: Annotated[dict[str, Any] | None, Field(title="Config")] = None
    version: Annotated[Version4 | None, Field(title="Version")] = None


class PluginIntegrationTypeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["integration_type"], Field(title="Kind")]
    category: Annotated[str | None, Field(title="Category")]
    """
    registry, scm, ci, notification, secrets, monitoring, router or siem (null: the plugin set none)
    """
    operations: Annotated[
        list[Literal["test", "discover", "list_versions", "health", "notify", "query_metrics", "send_audit"]],
        Field(title="Operations"),
    ]


class PluginOwnHealthOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    status: Annotated[Literal["ok", "degraded", "failing"], Field(title="Status")]
    message: Annotated[str, Field(title="Message")]
    details: Annotated[dict[str, Any], Field(title="Details")]


class PluginRolloutStrategyOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["rollout_strategy"], Field(title="Kind")]
    progressive: Annotated[bool, Field(title="Progressive")]
    """
    Whether the strategy shifts traffic step by step
    """


class PluginStepTypeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["step_type"], Field(title="Kind")]
    idempotent: Annotated[bool, Field(title="Idempotent")]
    """
    Whether running the step twice has the effect of running it once
    """
    runs_on: Annotated[str, Field(alias="runsOn", title="Runson")]
    """
    server (in the engine) or agent (the work is sent to a host agent)
    """


class PluginTargetTypeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["target_type"], Field(title="Kind")]


class PluginTrafficRouterOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["traffic_router"], Field(title="Kind")]


class PluginWorkerExitOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    pid: Annotated[int, Field(title="Pid")]
    reason: Annotated[str, Field(title="Reason")]
    at: Annotated[AwareDatetime, Field(title="At")]


class PluginWorkerLimitsOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    memory_mb: Annotated[int | None, Field(alias="memoryMb", title="Memorymb")]
    """
    Memory limit per worker (null: none)
    """
    cpu_seconds: Annotated[int | None, Field(alias="cpuSeconds", title="Cpuseconds")]
    """
    CPU time limit per worker (null: none)
    """
    workers: Annotated[int, Field(title="Workers")]
    """
    Workers per plugin
    """
    call_timeout_kills_worker: Annotated[bool, Field(alias="callTimeoutKillsWorker", title="Calltimeoutkillsworker")]


class PluginWorkerOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    pid: Annotated[int, Field(title="Pid")]
    started_at: Annotated[AwareDatetime, Field(alias="startedAt", title="Startedat")]
    calls: Annotated[int, Field(title="Calls")]
    """
    Calls the worker has served
    """
    busy: Annotated[bool, Field(title="Busy")]
    rss_bytes: Annotated[int | None, Field(alias="rssBytes", title="Rssbytes")] = None
    """
    Resident memory (present where /proc is readable)
    """
    cpu_seconds: Annotated[float | None, Field(alias="cpuSeconds", title="Cpuseconds")] = None
    """
    CPU time used (present where /proc is readable)
    """


class ExpectStatu(RootModel[int]):
    root: Annotated[int, Field(ge=100, le=599)]


class Probe(BaseModel):
    """
    An HTTP check: the analysis fallback when no monitoring integration is used.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, pattern="^[A-Za-z0-9][A-Za-z0-9_.-]*$", title="Name")]
    url: Annotated[AnyUrl, Field(title="Url")]
    """
    GET this URL (http or https)
    """
    expect_status: Annotated[
        list[ExpectStatu] | None, Field(alias="expectStatus", max_length=20, min_length=1, title="Expectstatus")
    ] = None
    """
    Statuses that pass
    """
    timeout_seconds: Annotated[float | None, Field(alias="timeoutSeconds", gt=0.0, le=30.0, title="Timeoutseconds")] = (
        5.0
    )
    side: Annotated[Literal["control", "candidate"] | None, Field(title="Side")] = "candidate"
    """
    Whose health this check is
    """


class PromotionApprovalOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    user_id: Annotated[str, Field(alias="userId", title="Userid")]
    decision: Annotated[Literal["approve", "reject"], Field(title="Decision")]
    comment: Annotated[str, Field(title="Comment")]
    roles: Annotated[list[str], Field(title="Roles")]
    """
    The person's roles when they decided
    """
    at: Annotated[AwareDatetime, Field(title="At")]


class PromotionApprovalPolicyOut(BaseModel):
    """
    The approval requirement as it was when the promotion was requested.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str | None, Field(title="Id")]
    """
    The approval policy (null: the environment's approval gate)
    """
    name: Annotated[str, Field(title="Name")]
    required_approvals: Annotated[int, Field(alias="requiredApprovals", title="Requiredapprovals")]
    approver_roles: Annotated[list[str], Field(alias="approverRoles", title="Approverroles")]
    approver_users: Annotated[list[str], Field(alias="approverUsers", title="Approverusers")]
    allow_self_approval: Annotated[bool, Field(alias="allowSelfApproval", title="Allowselfapproval")]
    expires_after_seconds: Annotated[int | None, Field(alias="expiresAfterSeconds", title="Expiresafterseconds")]


class PromotionCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    release_id: Annotated[str, Field(alias="releaseId", max_length=36, min_length=1, title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", max_length=36, min_length=1, title="Environmentid")]
    reason: Annotated[str | None, Field(max_length=2000, title="Reason")] = ""
    freeze_override: Annotated[FreezeOverride | None, Field(alias="freezeOverride")] = None
    """
    Promote through the active freeze windows: only for members of every window's override roles
    """


class PromotionDecision(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    comment: Annotated[str | None, Field(max_length=2000, title="Comment")] = ""


class PromotionFreezeOverrideOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    by: Annotated[str, Field(title="By")]
    """
    Who overrode the freeze
    """
    roles: Annotated[list[str], Field(title="Roles")]
    reason: Annotated[str, Field(title="Reason")]
    windows: Annotated[list[str], Field(title="Windows")]
    """
    The freeze windows active then, by id
    """
    at: Annotated[AwareDatetime, Field(title="At")]


class PromotionGateEvaluationOut(BaseModel):
    """
    A gate's verdict with what it was given and what it logged.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    gate_id: Annotated[str | None, Field(alias="gateId", title="Gateid")]
    """
    The environment's gate id (null for the approval requirement and gates stored before ids)
    """
    type: Annotated[str, Field(title="Type")]
    """
    The gate type, or approval-policy for the approval requirement
    """
    name: Annotated[str, Field(title="Name")]
    status: Annotated[Literal["pass", "fail", "pending", "warn"], Field(title="Status")]
    message: Annotated[str, Field(title="Message")]
    details: Annotated[dict[str, Any], Field(title="Details")]
    """
    What the gate judged (free-form, per gate type)
    """
    evaluated_at: Annotated[AwareDatetime, Field(alias="evaluatedAt", title="Evaluatedat")]
    inputs: Annotated[dict[str, Any], Field(title="Inputs")]
    """
    What the gate was given (its config with secrets masked, ...)
    """
    log: Annotated[list[str], Field(title="Log")]


class PromotionGatePreviewOut(BaseModel):
    """
    ``PromotionService.preview``: the gates evaluated now, nothing recorded.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    outcome: Annotated[Literal["blocked", "awaiting_approval", "approved"], Field(title="Outcome")]
    """
    The state a promotion requested now would reach
    """
    message: Annotated[str, Field(title="Message")]
    gates: Annotated[list[PromotionGateEvaluationOut], Field(title="Gates")]
    approval_policy: Annotated[PromotionApprovalPolicyOut | None, Field(alias="approvalPolicy")]


class PromotionGateResultOut(BaseModel):
    """
    One gate's verdict in a promotion's last evaluation (service.evaluate).
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    gate_id: Annotated[str | None, Field(alias="gateId", title="Gateid")]
    """
    The environment's gate id (null for the approval requirement and gates stored before ids)
    """
    type: Annotated[str, Field(title="Type")]
    """
    The gate type, or approval-policy for the approval requirement
    """
    name: Annotated[str, Field(title="Name")]
    status: Annotated[Literal["pass", "fail", "pending", "warn"], Field(title="Status")]
    message: Annotated[str, Field(title="Message")]
    details: Annotated[dict[str, Any], Field(title="Details")]
    """
    What the gate judged (free-form, per gate type)
    """
    evaluated_at: Annotated[AwareDatetime, Field(alias="evaluatedAt", title="Evaluatedat")]


class PromotionOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    reason: Annotated[str, Field(title="Reason")]
    requested_by: Annotated[str, Field(alias="requestedBy", title="Requestedby")]
    state: Annotated[
        Literal["pending", "evaluating", "blocked", "awaiting_approval", "approved", "deploying", "succeeded", "failed", "rolled_back", "rejected", "cancelled"],
        Field(title="State"),
    ]
    message: Annotated[str, Field(title="Message")]
    """
    Why the promotion is in its state
    """
    gates: Annotated[list[PromotionGateResultOut], Field(title="Gates")]
    """
    The last evaluation (GET .../decision has its inputs)
    """
    evaluated_at: Annotated[AwareDatetime | None, Field(alias="evaluatedAt", title="Evaluatedat")]
    approval_policy: Annotated[PromotionApprovalPolicyOut | None, Field(alias="approvalPolicy")]
    """
    null: no approval needed
    """
    freeze_override: Annotated[PromotionFreezeOverrideOut | None, Field(alias="freezeOverride")]
    recheck_at: Annotated[AwareDatetime | None, Field(alias="recheckAt", title="Recheckat")]
    """
    When a blocked promotion is evaluated again
    """
    expires_at: Annotated[AwareDatetime | None, Field(alias="expiresAt", title="Expiresat")]
    """
    When a promotion still awaiting approval is cancelled
    """
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    workflow_run_id: Annotated[str | None, Field(alias="workflowRunId", title="Workflowrunid")]
    """
    The deployment workflow run of an approved promotion
    """
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class PromoteRole(RootModel[str]):
    root: Annotated[str, Field(max_length=255, min_length=1)]


class PromoteUser(RootModel[str]):
    root: Annotated[str, Field(max_length=255, min_length=1)]


class RollbackRole(RootModel[str]):
    root: Annotated[str, Field(max_length=255, min_length=1)]


class RollbackUser(RootModel[str]):
    root: Annotated[str, Field(max_length=255, min_length=1)]


class Protection(BaseModel):
    """
    A protected environment: only these roles or users promote into it, or roll it back
    (each on top of the permission; an empty pair of lists leaves that action to anyone
    who holds the permission).
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    promote_roles: Annotated[
        list[PromoteRole] | None, Field(alias="promoteRoles", max_length=20, title="Promoteroles")
    ] = None
    promote_users: Annotated[
        list[PromoteUser] | None, Field(alias="promoteUsers", max_length=200, title="Promoteusers")
    ] = None
    rollback_roles: Annotated[
        list[RollbackRole] | None, Field(alias="rollbackRoles", max_length=20, title="Rollbackroles")
    ] = None
    rollback_users: Annotated[
        list[RollbackUser] | None, Field(alias="rollbackUsers", max_length=200, title="Rollbackusers")
    ] = None


class ProtectionOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    promote_roles: Annotated[list[str], Field(alias="promoteRoles", title="Promoteroles")]
    promote_users: Annotated[list[str], Field(alias="promoteUsers", title="Promoteusers")]
    rollback_roles: Annotated[list[str], Field(alias="rollbackRoles", title="Rollbackroles")]
    rollback_users: Annotated[list[str], Field(alias="rollbackUsers", title="Rollbackusers")]


class Digest(RootModel[str]):
    root: Annotated[
        str, Field(max_length=200, pattern="^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$", title="Digest")
    ]
    """
    Optional: the digest you expect; a different current digest is refused
    """


class ReleaseComponentIn(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    component_id: Annotated[str, Field(alias="componentId", max_length=36, min_length=1, title="Componentid")]
    version: Annotated[str, Field(max_length=255, min_length=1, title="Version")]
    """
    A tag among the component's versions (GET /components/{id}/versions)
    """
    digest: Annotated[Digest | None, Field(title="Digest")] = None
    """
    Optional: the digest you expect; a different current digest is refused
    """


class ReleaseComponentOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    component_id: Annotated[str, Field(alias="componentId", title="Componentid")]
    component_name: Annotated[str, Field(alias="componentName", title="Componentname")]
    reference: Annotated[str, Field(title="Reference")]
    """
    The component's reference (image or git repository) when it was added
    """
    version: Annotated[str, Field(title="Version")]
    """
    The version's tag
    """
    digest: Annotated[str | None, Field(title="Digest")]
    """
    The version's digest (always set in a sealed release)
    """


class ReleaseComponentPinOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    version: Annotated[str, Field(title="Version")]
    digest: Annotated[str | None, Field(title="Digest")]


class ReleaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$", title="Name")]
    """
    Unique per tenant, e.g. shop-2.4.0
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    components: Annotated[list[ReleaseComponentIn], Field(max_length=200, min_length=1, title="Components")]
    state: Annotated[Literal["draft", "ready"] | None, Field(title="State")] = "draft"
    """
    `ready` seals the release: digests pinned, manifest digest computed, immutable
    """


class ReleaseDeprecate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    reason: Annotated[str, Field(max_length=2000, min_length=1, title="Reason")]
    """
    Why no environment may receive this release any more
    """


class ReleaseEnvironmentStateOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    environment_name: Annotated[str, Field(alias="environmentName", title="Environmentname")]
    state: Annotated[Literal["deployed", "never"], Field(title="State")]
    """
    deployed: the environment's current release is this one
    """


class Name1(RootModel[str]):
    root: Annotated[str, Field(pattern="^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$", title="Name")]
    """
    Default: latest-<UTC date and time>
    """


class ComponentId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1)]


class ReleaseFromLatest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[Name1 | None, Field(title="Name")] = None
    """
    Default: latest-<UTC date and time>
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    component_ids: Annotated[
        list[ComponentId], Field(alias="componentIds", max_length=200, min_length=1, title="Componentids")
    ]
    """
    The components to include, each at its newest stored version
    """


class ReleaseOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    state: Annotated[Literal["draft", "ready", "deprecated"], Field(title="State")]
    """
    draft: changeable; ready: sealed, immutable; deprecated: never promoted again
    """
    components: Annotated[list[ReleaseComponentOut], Field(title="Components")]
    """
    Sorted by component name
    """
    manifest_digest: Annotated[str | None, Field(alias="manifestDigest", title="Manifestdigest")]
    """
    sha256 of the canonical manifest, set when sealed
    """
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    sealed_at: Annotated[AwareDatetime | None, Field(alias="sealedAt", title="Sealedat")]
    sealed_by: Annotated[str | None, Field(alias="sealedBy", title="Sealedby")]
    deprecated_at: Annotated[AwareDatetime | None, Field(alias="deprecatedAt", title="Deprecatedat")]
    deprecated_by: Annotated[str | None, Field(alias="deprecatedBy", title="Deprecatedby")]
    deprecation_reason: Annotated[str | None, Field(alias="deprecationReason", title="Deprecationreason")]
    promoted: Annotated[bool, Field(title="Promoted")]
    """
    Whether the release was ever promoted (then it cannot be deleted)
    """
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class Version5(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class ReleaseReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$", title="Name")]
    """
    Unique per tenant, e.g. shop-2.4.0
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    components: Annotated[list[ReleaseComponentIn], Field(max_length=200, min_length=1, title="Components")]
    state: Annotated[Literal["draft", "ready"] | None, Field(title="State")] = "draft"
    """
    `ready` seals the release: digests pinned, manifest digest computed, immutable
    """
    version: Annotated[Version5 | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class ReleaseStateOut(BaseModel):
    """
    ``ReleaseService.state``: the release in each environment, in pipeline order.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    release_state: Annotated[Literal["draft", "ready", "deprecated"], Field(alias="releaseState", title="Releasestate")]
    environments: Annotated[list[ReleaseEnvironmentStateOut], Field(title="Environments")]


class ReleaseSummaryOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    state: Annotated[Literal["draft", "ready", "deprecated"], Field(title="State")]
    manifest_digest: Annotated[str | None, Field(alias="manifestDigest", title="Manifestdigest")]


class RetentionCutoffsOut(BaseModel):
    """
    Up to when each kind was pruned; a kind is present when the policy prunes it.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    evidence: Annotated[AwareDatetime | None, Field(title="Evidence")] = None
    """
    Present when evidenceDays is set
    """
    logs: Annotated[AwareDatetime | None, Field(title="Logs")] = None
    """
    Present when logsDays is set
    """
    artifacts: Annotated[AwareDatetime | None, Field(title="Artifacts")] = None
    """
    Present when artifactsDays is set
    """


class EvidenceDays(RootModel[int]):
    root: Annotated[int, Field(ge=1, le=36500, title="Evidencedays")]
    """
    Keep evidence packets this many days (null: forever)
    """


class LogsDays(RootModel[int]):
    root: Annotated[int, Field(ge=1, le=36500, title="Logsdays")]
    """
    Keep deployment task and workflow step log lines this many days (null: forever)
    """


class ArtifactsDays(RootModel[int]):
    root: Annotated[int, Field(ge=1, le=36500, title="Artifactsdays")]
    """
    Keep deployment and workflow artifacts this many days (null: forever)
    """


class RetentionPolicyBody(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    evidence_days: Annotated[EvidenceDays | None, Field(alias="evidenceDays", title="Evidencedays")] = None
    """
    Keep evidence packets this many days (null: forever)
    """
    logs_days: Annotated[LogsDays | None, Field(alias="logsDays", title="Logsdays")] = None
    """
    Keep deployment task and workflow step log lines this many days (null: forever)
    """
    artifacts_days: Annotated[ArtifactsDays | None, Field(alias="artifactsDays", title="Artifactsdays")] = None
    """
    Keep deployment and workflow artifacts this many days (null: forever)
    """


class RetentionRemovedOut(BaseModel):
    """
    How many of each were removed; a kind is present when the policy prunes it.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    evidence_packets: Annotated[int | None, Field(alias="evidencePackets", title="Evidencepackets")] = None
    """
    Present when evidenceDays is set
    """
    workflow_log_lines: Annotated[int | None, Field(alias="workflowLogLines", title="Workflowloglines")] = None
    """
    Present when logsDays is set
    """
    ab_measurements: Annotated[int | None, Field(alias="abMeasurements", title="Abmeasurements")] = None
    """
    Present when logsDays is set
    """
    deployment_log_lines: Annotated[int | None, Field(alias="deploymentLogLines", title="Deploymentloglines")] = None
    """
    Present when logsDays is set
    """
    deployment_task_logs: Annotated[int | None, Field(alias="deploymentTaskLogs", title="Deploymenttasklogs")] = None
    """
    Deployment tasks whose log was emptied; present when logsDays is set
    """
    deployment_artifacts: Annotated[int | None, Field(alias="deploymentArtifacts", title="Deploymentartifacts")] = None
    """
    Present when artifactsDays is set
    """
    workflow_artifacts: Annotated[int | None, Field(alias="workflowArtifacts", title="Workflowartifacts")] = None
    """
    Present when artifactsDays is set
    """


class RetryPolicy(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    max: Annotated[int | None, Field(ge=0, le=10, title="Max")] = 0
    """
    Retries after the first attempt
    """
    backoff: Annotated[float | None, Field(ge=0.0, le=3600.0, title="Backoff")] = 5.0
    """
    Seconds before the first retry; doubles per retry (at most 10 minutes)
    """


class EnvironmentId1(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Environmentid")]
    """
    Roll this environment back (or give jobId)
    """


class JobId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Jobid")]
    """
    Undo this deployment job: its environment goes back to the release it had before
    """


class ReleaseId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Releaseid")]
    """
    The release to go back to; default: the previous successful release there
    """


class RollbackCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    environment_id: Annotated[EnvironmentId1 | None, Field(alias="environmentId", title="Environmentid")] = None
    """
    Roll this environment back (or give jobId)
    """
    job_id: Annotated[JobId | None, Field(alias="jobId", title="Jobid")] = None
    """
    Undo this deployment job: its environment goes back to the release it had before
    """
    release_id: Annotated[ReleaseId | None, Field(alias="releaseId", title="Releaseid")] = None
    """
    The release to go back to; default: the previous successful release there
    """
    reason: Annotated[str, Field(max_length=2000, min_length=1, title="Reason")]


class HookTemplateId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Hooktemplateid")]
    """
    A workflow template run after every successful rollback of the environment
    """


class RollbackPolicy(BaseModel):
    """
    What happens when a deployment's post-deployment health checks fail.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    on_failed_checks: Annotated[
        Literal["rollback", "hold"] | None, Field(alias="onFailedChecks", title="Onfailedchecks")
    ] = "rollback"
    """
    rollback: the environment goes back to the release it had, by itself; hold: the new release stays (for releases whose migrations cannot be undone)
    """
    check_targets: Annotated[bool | None, Field(alias="checkTargets", title="Checktargets")] = True
    """
    Run every deployed target's health check on its agent after a deployment
    """
    hook_template_id: Annotated[HookTemplateId | None, Field(alias="hookTemplateId", title="Hooktemplateid")] = None
    """
    A workflow template run after every successful rollback of the environment
    """


class RollbackPolicyOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    on_failed_checks: Annotated[Literal["rollback", "hold"], Field(alias="onFailedChecks", title="Onfailedchecks")]
    check_targets: Annotated[bool, Field(alias="checkTargets", title="Checktargets")]
    hook_template_id: Annotated[str | None, Field(alias="hookTemplateId", title="Hooktemplateid")]


class RolloutStrategyOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["rollout_strategy"], Field(title="Kind")]
    progressive: Annotated[bool, Field(title="Progressive")]
    """
    Whether the strategy shifts traffic step by step
    """
    plugin_id: Annotated[str, Field(alias="pluginId", title="Pluginid")]


class TemplateVersion(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Templateversion")]
    """
    Default: the template's current version
    """


class RunCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    template_id: Annotated[str, Field(alias="templateId", max_length=36, min_length=1, title="Templateid")]
    template_version: Annotated[TemplateVersion | None, Field(alias="templateVersion", title="Templateversion")] = None
    """
    Default: the template's current version
    """
    inputs: Annotated[dict[str, Any] | None, Field(max_length=100, title="Inputs")] = None
    context: Annotated[dict[str, Any] | None, Field(max_length=20, title="Context")] = None
    """
    What the run is for (release, environment, promotion ids)
    """


class ServiceAccountCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9.-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant
    """
    description: Annotated[str | None, Field(max_length=1000, title="Description")] = ""
    roles: Annotated[
        list[Literal["viewer", "developer", "release-manager", "approver", "admin"]],
        Field(max_length=10, min_length=1, title="Roles"),
    ]
    """
    The roles its tokens carry (viewer, developer, release-manager, approver, admin)
    """


class ServiceAccountOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    roles: Annotated[list[str], Field(title="Roles")]
    """
    The roles its tokens carry
    """
    client_id: Annotated[str, Field(alias="clientId", title="Clientid")]
    """
    Its OAuth client_id (the same as id)
    """
    state: Annotated[Literal["active", "revoked"], Field(title="State")]
    secret_rotated_at: Annotated[AwareDatetime, Field(alias="secretRotatedAt", title="Secretrotatedat")]
    """
    When its current client secret was issued
    """
    revoked_at: Annotated[AwareDatetime | None, Field(alias="revokedAt", title="Revokedat")]
    last_token_at: Annotated[AwareDatetime | None, Field(alias="lastTokenAt", title="Lasttokenat")]
    """
    When it was last issued an access token
    """
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class ServiceAccountSecretOut(BaseModel):
    """
    The answer of a create or a secret rotation: the only time the client secret is shown.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    service_account: Annotated[ServiceAccountOut, Field(alias="serviceAccount")]
    client_id: Annotated[str, Field(alias="clientId", title="Clientid")]
    """
    Its OAuth client_id
    """
    client_secret: Annotated[str, Field(alias="clientSecret", title="Clientsecret")]
    """
    The client secret, in this answer only (the server keeps its hash): store it now
    """


class Version6(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    The version read (or If-Match)
    """


class ServiceAccountUpdate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    description: Annotated[str | None, Field(max_length=1000, title="Description")] = ""
    roles: Annotated[
        list[Literal["viewer", "developer", "release-manager", "approver", "admin"]],
        Field(max_length=10, min_length=1, title="Roles"),
    ]
    version: Annotated[Version6 | None, Field(title="Version")] = None
    """
    The version read (or If-Match)
    """


class SigningKeyOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    key_id: Annotated[str, Field(alias="keyId", title="Keyid")]
    algorithm: Annotated[Literal["ed25519"], Field(title="Algorithm")]
    public_key: Annotated[str, Field(alias="publicKey", title="Publickey")]
    """
    PEM
    """
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    last_started_at: Annotated[AwareDatetime, Field(alias="lastStartedAt", title="Laststartedat")]
    """
    When a server process last started with this key
    """
    current: Annotated[bool, Field(title="Current")]
    """
    The key the newest server process signs with
    """


class StepDecision(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    action: Annotated[Literal["retry", "skip", "abort", "approve", "reject", "continue"], Field(title="Action")]
    """
    For a step that failed with onFailure: ask, retry, skip or abort; for a step waiting for people (approval, manual), one of the actions its `wait` offers
    """
    comment: Annotated[str | None, Field(max_length=2000, title="Comment")] = ""


class StepTypeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    display_name: Annotated[str, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    config_schema: Annotated[dict[str, Any], Field(alias="configSchema", title="Configschema")]
    """
    JSON Schema (draft 2020-12) of the capability's config
    """
    kind: Annotated[Literal["step_type"], Field(title="Kind")]
    idempotent: Annotated[bool, Field(title="Idempotent")]
    """
    Whether running the step twice has the effect of running it once
    """
    runs_on: Annotated[str, Field(alias="runsOn", title="Runson")]
    """
    server (in the engine) or agent (the work is sent to a host agent)
    """
    plugin_id: Annotated[str, Field(alias="pluginId", title="Pluginid")]


class TargetCheckRunningOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    task_id: Annotated[str, Field(alias="taskId", title="Taskid")]
    agent_id: Annotated[str, Field(alias="agentId", title="Agentid")]
    """
    The agent that runs the check
    """
    target_id: Annotated[str, Field(alias="targetId", title="Targetid")]
    state: Annotated[Literal["running"], Field(title="State")]
    """
    Still running after the wait: follow the task
    """


class TargetComponentVersionOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    version: Annotated[Any, Field(title="Version")]
    """
    As the agent or the deployment reported it
    """
    digest: Annotated[Any, Field(title="Digest")]
    """
    As the agent or the deployment reported it
    """


class AgentId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Agentid")]
    """
    The agent that deploys to this target
    """


class TargetCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9.-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    environment_id: Annotated[str, Field(alias="environmentId", max_length=36, min_length=1, title="Environmentid")]
    type: Annotated[str, Field(max_length=128, min_length=1, title="Type")]
    """
    A target type id
    """
    config: Annotated[dict[str, Any] | None, Field(title="Config")] = None
    labels: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")], str] | None,
        Field(title="Labels"),
    ] = None
    agent_id: Annotated[AgentId | None, Field(alias="agentId", title="Agentid")] = None
    """
    The agent that deploys to this target
    """
    agent_labels: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")], str] | None,
        Field(alias="agentLabels", title="Agentlabels"),
    ] = None
    """
    Or: labels an agent must carry (and the target type among its capabilities)
    """


class TargetDriftDifferenceOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    component: Annotated[str, Field(title="Component")]
    expected: TargetComponentVersionOut | None
    """
    null: the component is not expected
    """
    actual: TargetComponentVersionOut | None = None
    """
    Present when the observed state differs (null: the component is not there)
    """
    sticker: TargetComponentVersionOut | None = None
    """
    Present instead of actual when only the sticker differs from the expected state (null: the sticker does not name the component)
    """


class TargetDriftOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    target_id: Annotated[str, Field(alias="targetId", title="Targetid")]
    status: Annotated[Literal["in_sync", "drifted", "unknown"], Field(title="Status")]
    """
    unknown until there is an expected and an observed state with components
    """
    differences: Annotated[list[TargetDriftDifferenceOut], Field(title="Differences")]
    expected: Annotated[dict[str, Any] | None, Field(title="Expected")]
    """
    The state the server expects there (the last deploy's sticker; before any, the first sticker read)
    """
    sticker: Annotated[dict[str, Any] | None, Field(title="Sticker")]
    """
    The sticker the agent last read
    """
    observed: Annotated[dict[str, Any] | None, Field(title="Observed")]
    """
    The state the agent last inspected
    """
    read_at: Annotated[AwareDatetime | None, Field(alias="readAt", title="Readat")]
    """
    When the agent last read the sticker
    """


class TargetHealthOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    status: Annotated[Literal["unknown", "healthy", "degraded", "unhealthy", "unreachable"], Field(title="Status")]
    """
    As of the last health check (unknown until one; unreachable when the agent's check failed)
    """
    message: Annotated[str, Field(title="Message")]
    checked_at: Annotated[AwareDatetime | None, Field(alias="checkedAt", title="Checkedat")]


class TargetOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    type: Annotated[str, Field(title="Type")]
    """
    A target type id
    """
    config: Annotated[dict[str, Any], Field(title="Config")]
    """
    Secrets shown masked
    """
    labels: Annotated[dict[str, str], Field(title="Labels")]
    agent_id: Annotated[str | None, Field(alias="agentId", title="Agentid")]
    agent_labels: Annotated[dict[str, str] | None, Field(alias="agentLabels", title="Agentlabels")]
    health: TargetHealthOut
    sticker_read_at: Annotated[AwareDatetime | None, Field(alias="stickerReadAt", title="Stickerreadat")]
    """
    When the agent last read the target's sticker
    """
    problem: Annotated[dict[str, str] | None, Field(title="Problem")]
    """
    Why the target's type cannot be used now (its plugin disabled or gone), else null
    """
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class Version7(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class TargetReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9.-]{0,98}[a-z0-9])?$", title="Name")]
    """
    Unique per tenant
    """
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    environment_id: Annotated[str, Field(alias="environmentId", max_length=36, min_length=1, title="Environmentid")]
    type: Annotated[str, Field(max_length=128, min_length=1, title="Type")]
    """
    A target type id
    """
    config: Annotated[dict[str, Any] | None, Field(title="Config")] = None
    labels: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")], str] | None,
        Field(title="Labels"),
    ] = None
    agent_id: Annotated[AgentId | None, Field(alias="agentId", title="Agentid")] = None
    """
    The agent that deploys to this target
    """
    agent_labels: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")], str] | None,
        Field(alias="agentLabels", title="Agentlabels"),
    ] = None
    """
    Or: labels an agent must carry (and the target type among its capabilities)
    """
    version: Annotated[Version7 | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class TargetStickerOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    target_id: Annotated[str, Field(alias="targetId", title="Targetid")]
    sticker: Annotated[dict[str, Any] | None, Field(title="Sticker")]
    """
    The version sticker as the agent read it (null until a check)
    """
    read_at: Annotated[AwareDatetime | None, Field(alias="readAt", title="Readat")]


class Version8(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version of the template resource (or If-Match)
    """


class Environment(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1)]


class Target(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1)]


TargetLabelsAdditionalProperty = TypeAliasType(
    "TargetLabelsAdditionalProperty", Annotated[str, Field(max_length=255, min_length=1)]
)


class VariableScope(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    environments: Annotated[list[Environment] | None, Field(max_length=50, title="Environments")] = None
    targets: Annotated[list[Target] | None, Field(max_length=200, title="Targets")] = None
    target_labels: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=255)], TargetLabelsAdditionalProperty] | None,
        Field(alias="targetLabels", max_length=20, title="Targetlabels"),
    ] = None


class VariableScopeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    environments: Annotated[list[str], Field(title="Environments")]
    targets: Annotated[list[str], Field(title="Targets")]
    target_labels: Annotated[dict[str, str], Field(alias="targetLabels", title="Targetlabels")]


class Version9(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class VersionStickerOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    target_id: Annotated[str, Field(alias="targetId", title="Targetid")]
    target_name: Annotated[str, Field(alias="targetName", title="Targetname")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    deployment_job_id: Annotated[str, Field(alias="deploymentJobId", title="Deploymentjobid")]
    manifest_digest: Annotated[str, Field(alias="manifestDigest", title="Manifestdigest")]
    actor: Annotated[str, Field(title="Actor")]
    deployed_at: Annotated[AwareDatetime, Field(alias="deployedAt", title="Deployedat")]
    current: Annotated[bool, Field(title="Current")]
    """
    The target's latest sticker
    """
    key_id: Annotated[str, Field(alias="keyId", title="Keyid")]
    sticker: Annotated[dict[str, Any], Field(title="Sticker")]
    """
    The sticker as signed and written on the target, with its signature
    """
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]


class WorkflowArtifactOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(title="Name")]
    content_type: Annotated[str, Field(alias="contentType", title="Contenttype")]
    size: Annotated[int, Field(title="Size")]
    """
    Bytes
    """
    digest: Annotated[str, Field(title="Digest")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]


class WorkflowLogLineOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    offset: Annotated[int, Field(title="Offset")]
    """
    The line's place in the step's log (0 the first)
    """
    seq: Annotated[int, Field(title="Seq")]
    """
    The run stream's sequence number of the line
    """
    at: Annotated[AwareDatetime, Field(title="At")]
    line: Annotated[str, Field(title="Line")]


class WorkflowProblemOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    node: Annotated[str | None, Field(title="Node")]
    """
    The node's id; null for the template itself (its inputs schema)
    """
    field: Annotated[str, Field(title="Field")]
    code: Annotated[str, Field(title="Code")]
    message: Annotated[str, Field(title="Message")]


class WorkflowRetryPolicyOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    max: Annotated[int, Field(title="Max")]
    """
    Retries after the first attempt
    """
    backoff: Annotated[float, Field(title="Backoff")]
    """
    Seconds before the first retry; doubles per retry
    """


class WorkflowRunOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    template_id: Annotated[str, Field(alias="templateId", title="Templateid")]
    template_version: Annotated[int, Field(alias="templateVersion", title="Templateversion")]
    """
    The definition the run pinned
    """
    inputs: Annotated[dict[str, Any], Field(title="Inputs")]
    context: Annotated[dict[str, Any], Field(title="Context")]
    """
    What the run is for (release, environment, promotion ids)
    """
    state: Annotated[
        Literal["running", "paused", "cancelling", "succeeded", "failed", "cancelled"], Field(title="State")
    ]
    message: Annotated[str, Field(title="Message")]
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    started_at: Annotated[AwareDatetime | None, Field(alias="startedAt", title="Startedat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class WorkflowStepDecisionOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    action: Annotated[Literal["approve", "reject", "continue", "abort"], Field(title="Action")]
    by: Annotated[str, Field(title="By")]
    roles: Annotated[list[str], Field(title="Roles")]
    """
    The roles the person held when deciding
    """
    comment: Annotated[str, Field(title="Comment")]
    at: Annotated[AwareDatetime, Field(title="At")]


class WorkflowStepLogsOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    node_id: Annotated[str, Field(alias="nodeId", title="Nodeid")]
    offset: Annotated[int, Field(title="Offset")]
    lines: Annotated[list[WorkflowLogLineOut], Field(title="Lines")]
    has_more: Annotated[bool, Field(alias="hasMore", title="Hasmore")]


class WorkflowStepWaitOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    actions: Annotated[list[Literal["approve", "reject", "continue", "abort"]], Field(title="Actions")]
    """
    The decisions offered
    """
    kind: Annotated[str, Field(title="Kind")]
    """
    A label (approval, manual)
    """
    instructions: Annotated[str, Field(title="Instructions")]
    roles: Annotated[list[str], Field(title="Roles")]
    """
    If not empty, only members of one of these roles may decide
    """
    users: Annotated[list[str], Field(title="Users")]
    """
    If not empty, these users may decide too
    """
    allow_self: Annotated[bool, Field(alias="allowSelf", title="Allowself")]
    """
    Whether the person who started the run may decide
    """


class WorkflowValidationOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    template_id: Annotated[str, Field(alias="templateId", title="Templateid")]
    template_version: Annotated[int, Field(alias="templateVersion", title="Templateversion")]
    valid: Annotated[bool, Field(title="Valid")]
    problems: Annotated[list[WorkflowProblemOut], Field(title="Problems")]


class ValidationError(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    field: str
    message: str
    code: str


class Error(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    code: Literal["ALREADY_EXISTS", "FORBIDDEN", "FREEZE_WINDOW_ACTIVE", "HEADERS_TOO_LARGE", "IDEMPOTENCY_KEY_REUSED", "INTEGRATION_FAILED", "INTERNAL_ERROR", "INVALID_FILTER", "INVALID_SORT", "INVALID_STATE", "METHOD_NOT_ALLOWED", "NOT_FOUND", "PAYLOAD_TOO_LARGE", "PLUGIN_DISABLED", "PROMOTION_BLOCKED", "RATE_LIMITED", "RELEASE_DEPRECATED", "RESOURCE_IN_USE", "SELF_APPROVAL_FORBIDDEN", "SERVICE_UNAVAILABLE", "TEMPLATE_INVALID", "UNAUTHORIZED", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR", "VERSION_CONFLICT"]
    message: str
    details: dict[str, Any] | None = None
    validation_errors: Annotated[list[ValidationError] | None, Field(alias="validationErrors")] = None


class PaginationMeta(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    page: int
    page_size: Annotated[int, Field(alias="pageSize")]
    total_items: Annotated[int, Field(alias="totalItems")]
    total_pages: Annotated[int, Field(alias="totalPages")]
    has_next: Annotated[bool, Field(alias="hasNext")]
    has_previous: Annotated[bool, Field(alias="hasPrevious")]
    next_cursor: Annotated[str | None, Field(alias="nextCursor")] = None


class ABAnalysisOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    interval_seconds: Annotated[float, Field(alias="intervalSeconds", title="Intervalseconds")]
    failure_limit: Annotated[int, Field(alias="failureLimit", title="Failurelimit")]
    consecutive_failure_limit: Annotated[
        int | None, Field(alias="consecutiveFailureLimit", title="Consecutivefailurelimit")
    ]
    inconclusive_limit: Annotated[int, Field(alias="inconclusiveLimit", title="Inconclusivelimit")]
    probes: Annotated[list[ABProbeOut], Field(title="Probes")]
    metrics: Annotated[list[ABMetricCheckOut], Field(title="Metrics")]


class ABHealthOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    ab_release_id: Annotated[str, Field(alias="abReleaseId", title="Abreleaseid")]
    state: Annotated[
        Literal["draft", "deploying", "running", "paused", "promoted", "rolled_back", "aborted"], Field(title="State")
    ]
    current_step: Annotated[int | None, Field(alias="currentStep", title="Currentstep")]
    failures: Annotated[int, Field(title="Failures")]
    message: Annotated[str, Field(title="Message")]
    sides: ABSidesHealthOut
    measurements: Annotated[list[ABMeasurementOut], Field(title="Measurements")]
    """
    The newest 500, oldest first
    """


class ABReleaseOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    control_release_id: Annotated[str, Field(alias="controlReleaseId", title="Controlreleaseid")]
    candidate_release_id: Annotated[str, Field(alias="candidateReleaseId", title="Candidatereleaseid")]
    strategy: Annotated[str, Field(title="Strategy")]
    strategy_config: Annotated[dict[str, Any], Field(alias="strategyConfig", title="Strategyconfig")]
    steps: Annotated[list[ABStepOut], Field(title="Steps")]
    """
    The strategy's steps, as planned at creation
    """
    router_instance_id: Annotated[str, Field(alias="routerInstanceId", title="Routerinstanceid")]
    candidate_target_labels: Annotated[
        dict[str, str] | None, Field(alias="candidateTargetLabels", title="Candidatetargetlabels")
    ]
    deployment_job_id: Annotated[str | None, Field(alias="deploymentJobId", title="Deploymentjobid")]
    """
    The candidate's deployment job (with candidateTargetLabels)
    """
    analysis: ABAnalysisOut
    state: Annotated[
        Literal["draft", "deploying", "running", "paused", "promoted", "rolled_back", "aborted"], Field(title="State")
    ]
    current_step: Annotated[int | None, Field(alias="currentStep", title="Currentstep")]
    """
    0-based index into steps (null before start)
    """
    step_started_at: Annotated[AwareDatetime | None, Field(alias="stepStartedAt", title="Stepstartedat")]
    weights: ABWeightsOut | None
    """
    The desired weights (null before start)
    """
    applied_weights: Annotated[ABWeightsOut | None, Field(alias="appliedWeights")]
    """
    The weights the traffic router last accepted
    """
    router_error: Annotated[str | None, Field(alias="routerError", title="Routererror")]
    """
    Why the traffic router refused the desired weights last time
    """
    failures: Annotated[int, Field(title="Failures")]
    """
    Failing measurements in the current step
    """
    message: Annotated[str, Field(title="Message")]
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    started_at: Annotated[AwareDatetime | None, Field(alias="startedAt", title="Startedat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class ABTrafficOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    ab_release_id: Annotated[str, Field(alias="abReleaseId", title="Abreleaseid")]
    state: Annotated[
        Literal["draft", "deploying", "running", "paused", "promoted", "rolled_back", "aborted"], Field(title="State")
    ]
    current_step: Annotated[int | None, Field(alias="currentStep", title="Currentstep")]
    router: ABRouterRefOut
    weights: Annotated[dict[str, int] | None, Field(title="Weights")]
    """
    As read back from the router now (null: it could not be read)
    """
    desired: ABWeightsOut | None
    in_sync: Annotated[bool | None, Field(alias="inSync", title="Insync")]
    """
    Whether the router holds the desired weights (null: unknown)
    """
    error: Annotated[str | None, Field(title="Error")]
    """
    Why the weights could not be read
    """


class Analysis(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    interval_seconds: Annotated[
        float | None, Field(alias="intervalSeconds", ge=1.0, le=3600.0, title="Intervalseconds")
    ] = 30.0
    """
    Seconds between checks
    """
    failure_limit: Annotated[int | None, Field(alias="failureLimit", ge=0, le=100, title="Failurelimit")] = 0
    """
    Failing measurements a step tolerates: one more rolls back
    """
    consecutive_failure_limit: Annotated[
        ConsecutiveFailureLimit | None, Field(alias="consecutiveFailureLimit", title="Consecutivefailurelimit")
    ] = None
    """
    Roll back as soon as this many checks in a row fail
    """
    inconclusive_limit: Annotated[
        int | None, Field(alias="inconclusiveLimit", ge=0, le=100, title="Inconclusivelimit")
    ] = 0
    """
    Inconclusive measurements a step tolerates: one more pauses for a person
    """
    probes: Annotated[list[Probe] | None, Field(max_length=10, title="Probes")] = None
    metrics: Annotated[list[MetricCheck] | None, Field(max_length=10, title="Metrics")] = None


class ComponentOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    integration_id: Annotated[str, Field(alias="integrationId", title="Integrationid")]
    reference: Annotated[str, Field(title="Reference")]
    version_pattern: Annotated[str | None, Field(alias="versionPattern", title="Versionpattern")]
    version_pattern_type: Annotated[
        Literal["regex", "semver"], Field(alias="versionPatternType", title="Versionpatterntype")
    ]
    last_sync: Annotated[ComponentSyncStatusOut, Field(alias="lastSync")]
    version_count: Annotated[int, Field(alias="versionCount", title="Versioncount")]
    """
    How many versions are stored
    """
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class ComponentSyncOut(BaseModel):
    """
    What a sync stored (``SyncReport.out`` in service.py).
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    component_id: Annotated[str, Field(alias="componentId", title="Componentid")]
    synced_at: Annotated[AwareDatetime, Field(alias="syncedAt", title="Syncedat")]
    added: Annotated[list[ComponentSyncedVersionOut], Field(title="Added")]
    """
    Versions stored for the first time
    """
    updated: Annotated[list[ComponentSyncChangeOut], Field(title="Updated")]
    """
    Versions whose digest changed
    """
    removed: Annotated[list[ComponentSyncedVersionOut], Field(title="Removed")]
    """
    Versions no longer listed (deleted)
    """
    unchanged: Annotated[int, Field(title="Unchanged")]
    """
    Versions stored already with the same digest
    """
    listed: Annotated[int, Field(title="Listed")]
    """
    How many versions the integration listed
    """
    skipped: Annotated[int, Field(title="Skipped")]
    """
    Listed but not stored: not admitted by the pattern, malformed or beyond the limit
    """


class DeploymentJobDetailOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    kind: Annotated[Literal["deploy", "rollback", "candidate"], Field(title="Kind")]
    """
    candidate: an A/B release's candidate side, on the targets with its labels
    """
    promotion_id: Annotated[str | None, Field(alias="promotionId", title="Promotionid")]
    workflow_run_id: Annotated[str | None, Field(alias="workflowRunId", title="Workflowrunid")]
    """
    The workflow run whose deploy step runs the job
    """
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    previous_release_id: Annotated[str | None, Field(alias="previousReleaseId", title="Previousreleaseid")]
    """
    The release the environment had before the job
    """
    strategy: Annotated[str, Field(title="Strategy")]
    """
    The rollout strategy's id
    """
    strategy_config: Annotated[dict[str, Any], Field(alias="strategyConfig", title="Strategyconfig")]
    state: Annotated[
        Literal["pending", "running", "succeeded", "failed", "partially_applied", "cancelled", "rolled_back"],
        Field(title="State"),
    ]
    message: Annotated[str, Field(title="Message")]
    reason: Annotated[str, Field(title="Reason")]
    """
    Why (a rollback's reason; a promotion's deployment carries the promotion's)
    """
    variables: DeploymentVariablesOut | None
    """
    The variables resolved when it started (null before)
    """
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    started_at: Annotated[AwareDatetime | None, Field(alias="startedAt", title="Startedat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]
    tasks: Annotated[dict[str, int], Field(title="Tasks")]
    """
    The number of its tasks in each task state (states with none left out)
    """


class DeploymentJobOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    kind: Annotated[Literal["deploy", "rollback", "candidate"], Field(title="Kind")]
    """
    candidate: an A/B release's candidate side, on the targets with its labels
    """
    promotion_id: Annotated[str | None, Field(alias="promotionId", title="Promotionid")]
    workflow_run_id: Annotated[str | None, Field(alias="workflowRunId", title="Workflowrunid")]
    """
    The workflow run whose deploy step runs the job
    """
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    previous_release_id: Annotated[str | None, Field(alias="previousReleaseId", title="Previousreleaseid")]
    """
    The release the environment had before the job
    """
    strategy: Annotated[str, Field(title="Strategy")]
    """
    The rollout strategy's id
    """
    strategy_config: Annotated[dict[str, Any], Field(alias="strategyConfig", title="Strategyconfig")]
    state: Annotated[
        Literal["pending", "running", "succeeded", "failed", "partially_applied", "cancelled", "rolled_back"],
        Field(title="State"),
    ]
    message: Annotated[str, Field(title="Message")]
    reason: Annotated[str, Field(title="Reason")]
    """
    Why (a rollback's reason; a promotion's deployment carries the promotion's)
    """
    variables: DeploymentVariablesOut | None
    """
    The variables resolved when it started (null before)
    """
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    started_at: Annotated[AwareDatetime | None, Field(alias="startedAt", title="Startedat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class EnvironmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", title="Name")]
    """
    Slug, unique per tenant
    """
    display_name: Annotated[DisplayName | None, Field(alias="displayName", title="Displayname")] = None
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    order: Annotated[Order | None, Field(title="Order")] = None
    """
    Place in the pipeline; defaults to after the last environment
    """
    is_production: Annotated[bool | None, Field(alias="isProduction", title="Isproduction")] = False
    required_predecessors: Annotated[
        RequiredPredecessors | None, Field(alias="requiredPredecessors", title="Requiredpredecessors")
    ] = None
    """
    Environment ids; null means the environment just before in order
    """
    gates: Annotated[list[GateConfig] | None, Field(max_length=50, title="Gates")] = None
    approval_policy_id: Annotated[
        ApprovalPolicyId | None, Field(alias="approvalPolicyId", title="Approvalpolicyid")
    ] = None
    deployment_workflow_template_id: Annotated[
        DeploymentWorkflowTemplateId | None,
        Field(alias="deploymentWorkflowTemplateId", title="Deploymentworkflowtemplateid"),
    ] = None
    variable_set_ids: Annotated[
        list[VariableSetId] | None, Field(alias="variableSetIds", max_length=20, title="Variablesetids")
    ] = None
    """
    The variable sets its deployments resolve, in order: a later set wins a tie
    """
    rollback_policy: Annotated[RollbackPolicy | None, Field(alias="rollbackPolicy")] = None
    """
    null: the default (post-deployment checks; roll back by itself when they fail)
    """
    protection: Protection | None = None
    """
    Who may promote into the environment and roll it back (null: anyone with the permission)
    """


class EnvironmentOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    display_name: Annotated[str | None, Field(alias="displayName", title="Displayname")]
    description: Annotated[str, Field(title="Description")]
    order: Annotated[int, Field(title="Order")]
    """
    Place in the pipeline
    """
    is_production: Annotated[bool, Field(alias="isProduction", title="Isproduction")]
    required_predecessors: Annotated[
        list[str] | None, Field(alias="requiredPredecessors", title="Requiredpredecessors")
    ]
    """
    null: the environment just before in order
    """
    gates: Annotated[list[GateOut], Field(title="Gates")]
    approval_policy_id: Annotated[str | None, Field(alias="approvalPolicyId", title="Approvalpolicyid")]
    deployment_workflow_template_id: Annotated[
        str | None, Field(alias="deploymentWorkflowTemplateId", title="Deploymentworkflowtemplateid")
    ]
    current_release_id: Annotated[str | None, Field(alias="currentReleaseId", title="Currentreleaseid")]
    protection: ProtectionOut | None
    variable_set_ids: Annotated[list[str], Field(alias="variableSetIds", title="Variablesetids")]
    rollback_policy: Annotated[RollbackPolicyOut, Field(alias="rollbackPolicy")]
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class EnvironmentReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", title="Name")]
    """
    Slug, unique per tenant
    """
    display_name: Annotated[DisplayName | None, Field(alias="displayName", title="Displayname")] = None
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    order: Annotated[Order | None, Field(title="Order")] = None
    """
    Place in the pipeline; defaults to after the last environment
    """
    is_production: Annotated[bool | None, Field(alias="isProduction", title="Isproduction")] = False
    required_predecessors: Annotated[
        RequiredPredecessors | None, Field(alias="requiredPredecessors", title="Requiredpredecessors")
    ] = None
    """
    Environment ids; null means the environment just before in order
    """
    gates: Annotated[list[GateConfig] | None, Field(max_length=50, title="Gates")] = None
    approval_policy_id: Annotated[
        ApprovalPolicyId | None, Field(alias="approvalPolicyId", title="Approvalpolicyid")
    ] = None
    deployment_workflow_template_id: Annotated[
        DeploymentWorkflowTemplateId | None,
        Field(alias="deploymentWorkflowTemplateId", title="Deploymentworkflowtemplateid"),
    ] = None
    variable_set_ids: Annotated[
        list[VariableSetId] | None, Field(alias="variableSetIds", max_length=20, title="Variablesetids")
    ] = None
    """
    The variable sets its deployments resolve, in order: a later set wins a tie
    """
    rollback_policy: Annotated[RollbackPolicy | None, Field(alias="rollbackPolicy")] = None
    """
    null: the default (post-deployment checks; roll back by itself when they fail)
    """
    protection: Protection | None = None
    """
    Who may promote into the environment and roll it back (null: anyone with the permission)
    """
    version: Annotated[Version | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class IntegrationOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    type_id: Annotated[str, Field(alias="typeId", title="Typeid")]
    config: Annotated[dict[str, Any], Field(title="Config")]
    """
    Secrets shown as ***
    """
    status: Annotated[Literal["active", "unavailable"], Field(title="Status")]
    problem: IntegrationProblemOut | None
    """
    Why the integration cannot be used now
    """
    health: IntegrationHealthOut
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class NodeIn(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(pattern="^[a-z0-9][a-z0-9_-]{0,62}$", title="Id")]
    """
    Unique in the template; `steps.<id>` in expressions
    """
    type: Annotated[str, Field(max_length=128, min_length=1, title="Type")]
    """
    A step type id
    """
    name: Annotated[str | None, Field(max_length=200, title="Name")] = ""
    config: Annotated[dict[str, Any] | None, Field(max_length=100, title="Config")] = None
    depends_on: Annotated[list[DependsOnItem] | None, Field(alias="dependsOn", max_length=50, title="Dependson")] = None
    when: Annotated[When | None, Field(title="When")] = None
    """
    A condition (expression); false skips the step
    """
    retry: RetryPolicy | None = None
    timeout_seconds: Annotated[TimeoutSeconds | None, Field(alias="timeoutSeconds", title="Timeoutseconds")] = None
    """
    Default: 3600
    """
    on_failure: Annotated[Literal["fail", "continue", "ask"] | None, Field(alias="onFailure", title="Onfailure")] = (
        "fail"
    )
    """
    `fail` fails the run; `continue` lets dependants run; `ask` waits for a person to retry, skip or abort the failed step
    """


class PluginCapabilitiesOut(BaseModel):
    """
    What a plugin provides, per capability kind, described.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    integration_types: Annotated[
        list[PluginIntegrationTypeOut], Field(alias="integrationTypes", title="Integrationtypes")
    ]
    step_types: Annotated[list[PluginStepTypeOut], Field(alias="stepTypes", title="Steptypes")]
    gates: Annotated[list[PluginGateTypeOut], Field(title="Gates")]
    rollout_strategies: Annotated[
        list[PluginRolloutStrategyOut], Field(alias="rolloutStrategies", title="Rolloutstrategies")
    ]
    target_types: Annotated[list[PluginTargetTypeOut], Field(alias="targetTypes", title="Targettypes")]
    traffic_routers: Annotated[list[PluginTrafficRouterOut], Field(alias="trafficRouters", title="Trafficrouters")]


class PluginHealthOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    plugin_id: Annotated[str, Field(alias="pluginId", title="Pluginid")]
    status: Annotated[Literal["ok", "degraded", "failing", "failed"], Field(title="Status")]
    load_state: Annotated[Literal["loaded", "failed"], Field(alias="loadState", title="Loadstate")]
    load_error: Annotated[str | None, Field(alias="loadError", title="Loaderror")]
    state: Annotated[Literal["enabled", "disabled", "failed"], Field(title="State")]
    """
    For this tenant
    """
    breaker: PluginBreakerOut
    """
    This tenant's circuit breaker for the plugin
    """
    plugin_health: Annotated[PluginOwnHealthOut | None, Field(alias="pluginHealth")]
    """
    The plugin's own report (null: it has no health hook, or failed to load)
    """
    checked_at: Annotated[AwareDatetime, Field(alias="checkedAt", title="Checkedat")]


class PluginInstanceOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    plugin_id: Annotated[str, Field(alias="pluginId", title="Pluginid")]
    capability_kind: Annotated[
        Literal["integration_type", "step_type", "gate", "rollout_strategy", "target_type", "traffic_router"],
        Field(alias="capabilityKind", title="Capabilitykind"),
    ]
    capability_id: Annotated[str, Field(alias="capabilityId", title="Capabilityid")]
    config: Annotated[dict[str, Any], Field(title="Config")]
    """
    Secrets shown as ***
    """
    status: Annotated[Literal["active", "unavailable"], Field(title="Status")]
    problem: PluginInstanceProblemOut | None
    """
    Why the instance cannot be used now
    """
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class PluginRuntimeOut(BaseModel):
    """
    Where the plugin runs. The worker fields are present only in a plugin's detail
    (``GET /plugins/{pluginId}``, enable, disable) for a plugin that runs in worker processes.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    isolation: Annotated[Literal["process", "in_process", "none"], Field(title="Isolation")]
    """
    process: in worker processes; in_process: in the server; none: it failed to load
    """
    workers: Annotated[list[PluginWorkerOut] | None, Field(title="Workers")] = None
    restarts: Annotated[int | None, Field(title="Restarts")] = None
    consecutive_crashes: Annotated[int | None, Field(alias="consecutiveCrashes", title="Consecutivecrashes")] = None
    last_exit: Annotated[PluginWorkerExitOut | None, Field(alias="lastExit")] = None
    """
    The last worker that ended, and why
    """
    limits: PluginWorkerLimitsOut | None = None


class PluginSummaryOut(BaseModel):
    """
    A plugin as listed: its capabilities by id.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    version: Annotated[str | None, Field(title="Version")]
    vendor: Annotated[str | None, Field(title="Vendor")]
    description: Annotated[str, Field(title="Description")]
    homepage: Annotated[str | None, Field(title="Homepage")]
    distribution: Annotated[str | None, Field(title="Distribution")]
    """
    The Python distribution that installed the plugin
    """
    sdk_requires: Annotated[str | None, Field(alias="sdkRequires", title="Sdkrequires")]
    """
    The SDK versions the plugin supports (null when it failed early)
    """
    first_party: Annotated[bool, Field(alias="firstParty", title="Firstparty")]
    state: Annotated[Literal["enabled", "disabled", "failed"], Field(title="State")]
    """
    For this tenant
    """
    load_error: Annotated[str | None, Field(alias="loadError", title="Loaderror")]
    health: Annotated[Literal["ok", "degraded", "failing", "failed"], Field(title="Health")]
    """
    failed: not loaded; degraded: a circuit breaker is open; else the plugin's own last report
    """
    runtime: PluginRuntimeOut
    capabilities: PluginCapabilityIdsOut


class PromotionDecisionOut(BaseModel):
    """
    ``PromotionService.decision``: everything the promotion was decided on.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    promotion_id: Annotated[str, Field(alias="promotionId", title="Promotionid")]
    state: Annotated[
        Literal["pending", "evaluating", "blocked", "awaiting_approval", "approved", "deploying", "succeeded", "failed", "rolled_back", "rejected", "cancelled"],
        Field(title="State"),
    ]
    outcome: Annotated[str, Field(title="Outcome")]
    """
    The promotion's message
    """
    evaluated_at: Annotated[AwareDatetime | None, Field(alias="evaluatedAt", title="Evaluatedat")]
    gates: Annotated[list[PromotionGateEvaluationOut], Field(title="Gates")]
    approval_policy: Annotated[PromotionApprovalPolicyOut | None, Field(alias="approvalPolicy")]
    approvals: Annotated[list[PromotionApprovalOut], Field(title="Approvals")]
    freeze_override: Annotated[PromotionFreezeOverrideOut | None, Field(alias="freezeOverride")]


class PromotionDetailOut(BaseModel):
    """
    One promotion, with the people's decisions on it.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    release_id: Annotated[str, Field(alias="releaseId", title="Releaseid")]
    environment_id: Annotated[str, Field(alias="environmentId", title="Environmentid")]
    reason: Annotated[str, Field(title="Reason")]
    requested_by: Annotated[str, Field(alias="requestedBy", title="Requestedby")]
    state: Annotated[
        Literal["pending", "evaluating", "blocked", "awaiting_approval", "approved", "deploying", "succeeded", "failed", "rolled_back", "rejected", "cancelled"],
        Field(title="State"),
    ]
    message: Annotated[str, Field(title="Message")]
    """
    Why the promotion is in its state
    """
    gates: Annotated[list[PromotionGateResultOut], Field(title="Gates")]
    """
    The last evaluation (GET .../decision has its inputs)
    """
    evaluated_at: Annotated[AwareDatetime | None, Field(alias="evaluatedAt", title="Evaluatedat")]
    approval_policy: Annotated[PromotionApprovalPolicyOut | None, Field(alias="approvalPolicy")]
    """
    null: no approval needed
    """
    freeze_override: Annotated[PromotionFreezeOverrideOut | None, Field(alias="freezeOverride")]
    recheck_at: Annotated[AwareDatetime | None, Field(alias="recheckAt", title="Recheckat")]
    """
    When a blocked promotion is evaluated again
    """
    expires_at: Annotated[AwareDatetime | None, Field(alias="expiresAt", title="Expiresat")]
    """
    When a promotion still awaiting approval is cancelled
    """
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    workflow_run_id: Annotated[str | None, Field(alias="workflowRunId", title="Workflowrunid")]
    """
    The deployment workflow run of an approved promotion
    """
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]
    approvals: Annotated[list[PromotionApprovalOut], Field(title="Approvals")]
    """
    Oldest first
    """


class ReleaseComponentChangeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    component_id: Annotated[str, Field(alias="componentId", title="Componentid")]
    component_name: Annotated[str, Field(alias="componentName", title="Componentname")]
    from_: Annotated[ReleaseComponentPinOut, Field(alias="from")]
    """
    In the base release
    """
    to: ReleaseComponentPinOut
    """
    In the other release
    """
    version_changed: Annotated[bool, Field(alias="versionChanged", title="Versionchanged")]
    digest_changed: Annotated[bool, Field(alias="digestChanged", title="Digestchanged")]


class RetentionPruneOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    removed: RetentionRemovedOut
    before: RetentionCutoffsOut
    at: Annotated[AwareDatetime, Field(title="At")]


class TargetCheckOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    task_id: Annotated[str, Field(alias="taskId", title="Taskid")]
    agent_id: Annotated[str, Field(alias="agentId", title="Agentid")]
    """
    The agent that ran the check
    """
    target_id: Annotated[str, Field(alias="targetId", title="Targetid")]
    state: Annotated[Literal["done", "failed"], Field(title="State")]
    """
    How the check's task ended
    """
    health: TargetHealthOut
    report: TargetDriftOut
    """
    What the agent found, and the drift (as GET .../drift)
    """


class TemplateCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    inputs_schema: Annotated[
        dict[str, Any] | None, Field(alias="inputsSchema", max_length=50, title="Inputsschema")
    ] = None
    """
    JSON Schema of a run's inputs
    """
    nodes: Annotated[list[NodeIn], Field(max_length=1000, min_length=1, title="Nodes")]


class TemplateReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$", title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    inputs_schema: Annotated[
        dict[str, Any] | None, Field(alias="inputsSchema", max_length=50, title="Inputsschema")
    ] = None
    """
    JSON Schema of a run's inputs
    """
    nodes: Annotated[list[NodeIn], Field(max_length=1000, min_length=1, title="Nodes")]
    version: Annotated[Version8 | None, Field(title="Version")] = None
    """
    Expected version of the template resource (or If-Match)
    """


class VariableIn(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[A-Za-z_][A-Za-z0-9_]{0,127}$", title="Name")]
    value: Annotated[str, Field(max_length=32768, title="Value")]
    """
    For a secret, `***` keeps the stored value of the same name and scope
    """
    secret: Annotated[bool | None, Field(title="Secret")] = False
    scope: VariableScope | None = None


class VariableOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(title="Name")]
    value: Annotated[str, Field(title="Value")]
    """
    A secret's value is shown as ***
    """
    secret: Annotated[bool, Field(title="Secret")]
    scope: VariableScopeOut


class VariableSetFields(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    variables: Annotated[list[VariableIn] | None, Field(max_length=200, title="Variables")] = None


class VariableSetOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    variables: Annotated[list[VariableOut], Field(title="Variables")]
    revision: Annotated[int, Field(title="Revision")]
    """
    Bumped by every change; a deployment records the revision it used
    """
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    version: Annotated[int, Field(title="Version")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class VariableSetReplace(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    variables: Annotated[list[VariableIn] | None, Field(max_length=200, title="Variables")] = None
    version: Annotated[Version9 | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class WorkflowNodeOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    type: Annotated[str, Field(title="Type")]
    """
    A step type id
    """
    name: Annotated[str, Field(title="Name")]
    config: Annotated[dict[str, Any], Field(title="Config")]
    """
    The step's configuration; sealed secrets shown masked
    """
    depends_on: Annotated[list[str], Field(alias="dependsOn", title="Dependson")]
    when: Annotated[str | None, Field(title="When")]
    """
    A condition (expression); false skips the step
    """
    retry: WorkflowRetryPolicyOut | None
    timeout_seconds: Annotated[int | None, Field(alias="timeoutSeconds", title="Timeoutseconds")]
    """
    null: the default (3600)
    """
    on_failure: Annotated[Literal["fail", "continue", "ask"], Field(alias="onFailure", title="Onfailure")]


class WorkflowStepOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    node_id: Annotated[str, Field(alias="nodeId", title="Nodeid")]
    type: Annotated[str, Field(title="Type")]
    state: Annotated[
        Literal["pending", "queued", "running", "waiting", "succeeded", "failed", "skipped", "cancelled"],
        Field(title="State"),
    ]
    attempt: Annotated[int, Field(title="Attempt")]
    outputs: Annotated[dict[str, Any], Field(title="Outputs")]
    message: Annotated[str, Field(title="Message")]
    wait: WorkflowStepWaitOut | None
    """
    While the step waits for people (approval, manual); null otherwise, and for a step waiting after a failure (onFailure: ask)
    """
    decisions: Annotated[list[WorkflowStepDecisionOut], Field(title="Decisions")]
    """
    What people decided on it, oldest first
    """
    started_at: Annotated[AwareDatetime | None, Field(alias="startedAt", title="Startedat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    name: Annotated[str | None, Field(title="Name")] = None
    """
    The node's name; present when a step is read
    """
    depends_on: Annotated[list[str] | None, Field(alias="dependsOn", title="Dependson")] = None
    """
    Present when a step is read
    """


class WorkflowTemplateOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    name: Annotated[str, Field(title="Name")]
    description: Annotated[str, Field(title="Description")]
    current_version: Annotated[int, Field(alias="currentVersion", title="Currentversion")]
    """
    The newest definition's number
    """
    template_version: Annotated[int, Field(alias="templateVersion", title="Templateversion")]
    """
    The number of the definition shown
    """
    inputs_schema: Annotated[dict[str, Any], Field(alias="inputsSchema", title="Inputsschema")]
    """
    JSON Schema of a run's inputs
    """
    nodes: Annotated[list[WorkflowNodeOut], Field(title="Nodes")]
    version: Annotated[int, Field(title="Version")]
    """
    The template resource's version (ETag, If-Match)
    """
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]


class Meta(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    request_id: Annotated[str, Field(alias="requestId")]
    timestamp: AwareDatetime
    pagination: PaginationMeta | None = None


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    success: Literal[False]
    error: Error
    meta: Meta


class SuccessEnvelope(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    success: Literal[True]
    data: Any
    meta: Meta


class ABReleaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, title="Name")]
    environment_id: Annotated[str, Field(alias="environmentId", max_length=36, min_length=1, title="Environmentid")]
    control_release_id: Annotated[
        str, Field(alias="controlReleaseId", max_length=36, min_length=1, title="Controlreleaseid")
    ]
    """
    A: the release serving now
    """
    candidate_release_id: Annotated[
        str, Field(alias="candidateReleaseId", max_length=36, min_length=1, title="Candidatereleaseid")
    ]
    """
    B: the release to try
    """
    strategy: Annotated[str | None, Field(max_length=64, min_length=1, title="Strategy")] = "canary"
    strategy_config: Annotated[dict[str, Any] | None, Field(alias="strategyConfig", title="Strategyconfig")] = None
    """
    The strategy's config (its steps: [{weight, pauseSeconds, manual}])
    """
    router_instance_id: Annotated[
        str, Field(alias="routerInstanceId", max_length=36, min_length=1, title="Routerinstanceid")
    ]
    """
    A plugin instance of a traffic router (nginx, haproxy, ...)
    """
    candidate_target_labels: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")], str] | None,
        Field(alias="candidateTargetLabels", title="Candidatetargetlabels"),
    ] = None
    """
    start deploys the candidate to the environment's targets with all these labels first
    """
    analysis: Analysis | None = None


class PluginOut(BaseModel):
    """
    A plugin in detail: its capabilities described, and its worker processes.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    version: Annotated[str | None, Field(title="Version")]
    vendor: Annotated[str | None, Field(title="Vendor")]
    description: Annotated[str, Field(title="Description")]
    homepage: Annotated[str | None, Field(title="Homepage")]
    distribution: Annotated[str | None, Field(title="Distribution")]
    """
    The Python distribution that installed the plugin
    """
    sdk_requires: Annotated[str | None, Field(alias="sdkRequires", title="Sdkrequires")]
    """
    The SDK versions the plugin supports (null when it failed early)
    """
    first_party: Annotated[bool, Field(alias="firstParty", title="Firstparty")]
    state: Annotated[Literal["enabled", "disabled", "failed"], Field(title="State")]
    """
    For this tenant
    """
    load_error: Annotated[str | None, Field(alias="loadError", title="Loaderror")]
    health: Annotated[Literal["ok", "degraded", "failing", "failed"], Field(title="Health")]
    """
    failed: not loaded; degraded: a circuit breaker is open; else the plugin's own last report
    """
    runtime: PluginRuntimeOut
    capabilities: PluginCapabilitiesOut


class ReleaseComparisonOut(BaseModel):
    """
    ``ReleaseService.compare``: from the base release to the other.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    base: ReleaseSummaryOut
    other: ReleaseSummaryOut
    identical: Annotated[bool, Field(title="Identical")]
    """
    Both are sealed with the same manifest digest
    """
    added: Annotated[list[ReleaseComponentOut], Field(title="Added")]
    """
    Components only in the other release
    """
    removed: Annotated[list[ReleaseComponentOut], Field(title="Removed")]
    """
    Components only in the base release
    """
    changed: Annotated[list[ReleaseComponentChangeOut], Field(title="Changed")]
    """
    Components in both, at another version or digest
    """
    unchanged: Annotated[list[ReleaseComponentOut], Field(title="Unchanged")]
    """
    Components in both at the same version and digest
    """


class RetentionPolicyOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    evidence_days: Annotated[int | None, Field(alias="evidenceDays", title="Evidencedays")]
    """
    null: kept for ever
    """
    logs_days: Annotated[int | None, Field(alias="logsDays", title="Logsdays")]
    """
    null: kept for ever
    """
    artifacts_days: Annotated[int | None, Field(alias="artifactsDays", title="Artifactsdays")]
    """
    null: kept for ever
    """
    audit_chain: Annotated[str, Field(alias="auditChain", title="Auditchain")]
    """
    The audit chain is never pruned
    """
    updated_by: Annotated[str | None, Field(alias="updatedBy", title="Updatedby")]
    """
    null: the tenant never set a policy
    """
    updated_at: Annotated[AwareDatetime | None, Field(alias="updatedAt", title="Updatedat")]
    """
    null: the tenant never set a policy
    """
    last_pruned_at: Annotated[AwareDatetime | None, Field(alias="lastPrunedAt", title="Lastprunedat")]
    last_pruned: Annotated[RetentionPruneOut | None, Field(alias="lastPruned")]
    """
    What the last pruning removed
    """


class WorkflowRunDetailOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
    )
    id: Annotated[str, Field(title="Id")]
    tenant_id: Annotated[str, Field(alias="tenantId", title="Tenantid")]
    template_id: Annotated[str, Field(alias="templateId", title="Templateid")]
    template_version: Annotated[int, Field(alias="templateVersion", title="Templateversion")]
    """
    The definition the run pinned
    """
    inputs: Annotated[dict[str, Any], Field(title="Inputs")]
    context: Annotated[dict[str, Any], Field(title="Context")]
    """
    What the run is for (release, environment, promotion ids)
    """
    state: Annotated[
        Literal["running", "paused", "cancelling", "succeeded", "failed", "cancelled"], Field(title="State")
    ]
    message: Annotated[str, Field(title="Message")]
    created_by: Annotated[str, Field(alias="createdBy", title="Createdby")]
    started_at: Annotated[AwareDatetime | None, Field(alias="startedAt", title="Startedat")]
    finished_at: Annotated[AwareDatetime | None, Field(alias="finishedAt", title="Finishedat")]
    created_at: Annotated[AwareDatetime, Field(alias="createdAt", title="Createdat")]
    updated_at: Annotated[AwareDatetime, Field(alias="updatedAt", title="Updatedat")]
    steps: Annotated[list[WorkflowStepOut], Field(title="Steps")]
    """
    One per node, in the definition's order
    """


#: (method, path template) -> (model name, whether the data is a list of them): the model of
#: every answer the document describes (shiplane_sdk.client._typed reads it).
RESPONSES: dict[tuple[str, str], tuple[str, bool]] = {
    ("GET", "/api/v1/ab-releases"): ("ABReleaseOut", True),
    ("GET", "/api/v1/ab-releases/{ab_id}"): ("ABReleaseOut", False),
    ("GET", "/api/v1/ab-releases/{ab_id}/health"): ("ABHealthOut", False),
    ("GET", "/api/v1/ab-releases/{ab_id}/traffic"): ("ABTrafficOut", False),
    ("GET", "/api/v1/agents"): ("AgentOut", True),
    ("GET", "/api/v1/agents/{agent_id}"): ("AgentOut", False),
    ("GET", "/api/v1/approval-policies"): ("ApprovalPolicyOut", True),
    ("GET", "/api/v1/audit-events"): ("AuditEventOut", True),
    ("GET", "/api/v1/audit-reports"): ("AuditReportOut", True),
    ("GET", "/api/v1/audit-reports/{report_id}"): ("AuditReportOut", False),
    ("GET", "/api/v1/components"): ("ComponentOut", True),
    ("GET", "/api/v1/components/{component_id}"): ("ComponentOut", False),
    ("GET", "/api/v1/components/{component_id}/versions"): ("ComponentVersionOut", True),
    ("GET", "/api/v1/deployment-jobs"): ("DeploymentJobOut", True),
    ("GET", "/api/v1/deployment-jobs/{job_id}"): ("DeploymentJobDetailOut", False),
    ("GET", "/api/v1/deployment-jobs/{job_id}/artifacts"): ("DeploymentArtifactOut", True),
    ("GET", "/api/v1/deployment-jobs/{job_id}/tasks"): ("DeploymentTaskOut", True),
    ("GET", "/api/v1/deployment-jobs/{job_id}/tasks/{task_id}"): ("DeploymentTaskOut", False),
    ("GET", "/api/v1/deployment-jobs/{job_id}/tasks/{task_id}/logs"): ("DeploymentTaskLogsOut", False),
    ("GET", "/api/v1/environments"): ("EnvironmentOut", True),
    ("GET", "/api/v1/environments/{environment_id}"): ("EnvironmentOut", False),
    ("GET", "/api/v1/environments/{environment_id}/freeze-windows"): ("FreezeWindowOut", True),
    ("GET", "/api/v1/evidence-packets"): ("EvidencePacketOut", True),
    ("GET", "/api/v1/evidence-packets/{packet_id}"): ("EvidencePacketDetailOut", False),
    ("GET", "/api/v1/integration-types"): ("IntegrationTypeOut", True),
    ("GET", "/api/v1/integration-types/{capability_id}"): ("IntegrationTypeOut", False),
    ("GET", "/api/v1/integrations"): ("IntegrationOut", True),
    ("GET", "/api/v1/integrations/{integration_id}"): ("IntegrationOut", False),
    ("GET", "/api/v1/integrations/{integration_id}/audit-stream"): ("AuditStreamStatusOut", False),
    ("GET", "/api/v1/integrations/{integration_id}/health"): ("IntegrationHealthReportOut", False),
    ("GET", "/api/v1/my/pending-approvals"): ("PromotionOut", True),
    ("GET", "/api/v1/plugin-instances"): ("PluginInstanceOut", True),
    ("GET", "/api/v1/plugin-instances/{instance_id}"): ("PluginInstanceOut", False),
    ("GET", "/api/v1/plugins"): ("PluginSummaryOut", True),
    ("GET", "/api/v1/plugins/{plugin_id}"): ("PluginOut", False),
    ("GET", "/api/v1/plugins/{plugin_id}/health"): ("PluginHealthOut", False),
    ("GET", "/api/v1/promotions"): ("PromotionOut", True),
    ("GET", "/api/v1/promotions/{promotion_id}"): ("PromotionDetailOut", False),
    ("GET", "/api/v1/promotions/{promotion_id}/approvals"): ("PromotionApprovalOut", True),
    ("GET", "/api/v1/promotions/{promotion_id}/decision"): ("PromotionDecisionOut", False),
    ("GET", "/api/v1/promotions/{promotion_id}/evidence"): ("EvidencePacketDetailOut", True),
    ("GET", "/api/v1/releases"): ("ReleaseOut", True),
    ("GET", "/api/v1/releases/{release_id}"): ("ReleaseOut", False),
    ("GET", "/api/v1/releases/{release_id}/compare/{other_id}"): ("ReleaseComparisonOut", False),
    ("GET", "/api/v1/releases/{release_id}/state"): ("ReleaseStateOut", False),
    ("GET", "/api/v1/retention-policy"): ("RetentionPolicyOut", False),
    ("GET", "/api/v1/rollbacks"): ("DeploymentJobOut", True),
    ("GET", "/api/v1/rollout-strategies"): ("RolloutStrategyOut", True),
    ("GET", "/api/v1/service-accounts"): ("ServiceAccountOut", True),
    ("GET", "/api/v1/service-accounts/{account_id}"): ("ServiceAccountOut", False),
    ("GET", "/api/v1/signing-keys"): ("SigningKeyOut", True),
    ("GET", "/api/v1/step-types"): ("StepTypeOut", True),
    ("GET", "/api/v1/step-types/{capability_id}"): ("StepTypeOut", False),
    ("GET", "/api/v1/targets"): ("TargetOut", True),
    ("GET", "/api/v1/targets/{target_id}"): ("TargetOut", False),
    ("GET", "/api/v1/targets/{target_id}/drift"): ("TargetDriftOut", False),
    ("GET", "/api/v1/targets/{target_id}/sticker"): ("TargetStickerOut", False),
    ("GET", "/api/v1/variable-sets"): ("VariableSetOut", True),
    ("GET", "/api/v1/variable-sets/{set_id}"): ("VariableSetOut", False),
    ("GET", "/api/v1/version-stickers"): ("VersionStickerOut", True),
    ("GET", "/api/v1/version-stickers/{sticker_id}"): ("VersionStickerOut", False),
    ("GET", "/api/v1/workflow-runs"): ("WorkflowRunOut", True),
    ("GET", "/api/v1/workflow-runs/{run_id}"): ("WorkflowRunDetailOut", False),
    ("GET", "/api/v1/workflow-runs/{run_id}/steps"): ("WorkflowStepOut", True),
    ("GET", "/api/v1/workflow-runs/{run_id}/steps/{node_id}"): ("WorkflowStepOut", False),
    ("GET", "/api/v1/workflow-runs/{run_id}/steps/{node_id}/artifacts"): ("WorkflowArtifactOut", True),
    ("GET", "/api/v1/workflow-runs/{run_id}/steps/{node_id}/logs"): ("WorkflowStepLogsOut", False),
    ("GET", "/api/v1/workflow-templates"): ("WorkflowTemplateOut", True),
    ("GET", "/api/v1/workflow-templates/{template_id}"): ("WorkflowTemplateOut", False),
    ("POST", "/api/v1/ab-releases"): ("ABReleaseOut", False),
    ("POST", "/api/v1/ab-releases/{ab_id}/advance"): ("ABReleaseOut", False),
    ("POST", "/api/v1/ab-releases/{ab_id}/promote"): ("ABReleaseOut", False),
    ("POST", "/api/v1/ab-releases/{ab_id}/rollback"): ("ABReleaseOut", False),
    ("POST", "/api/v1/ab-releases/{ab_id}/start"): ("ABReleaseOut", False),
    ("POST", "/api/v1/agents/register"): ("AgentRegistrationOut", False),
    ("POST", "/api/v1/agents/{agent_id}/heartbeat"): ("AgentHeartbeatOut", False),
    ("POST", "/api/v1/approval-policies"): ("ApprovalPolicyOut", False),
    ("POST", "/api/v1/audit-reports"): ("AuditReportOut", False),
    ("POST", "/api/v1/components"): ("ComponentOut", False),
    ("POST", "/api/v1/components/{component_id}/sync-versions"): ("ComponentSyncOut", False),
    ("POST", "/api/v1/environments"): ("EnvironmentOut", False),
    ("POST", "/api/v1/environments/{environment_id}/freeze-windows"): ("FreezeWindowOut", False),
    ("POST", "/api/v1/integrations"): ("IntegrationOut", False),
    ("POST", "/api/v1/integrations/{integration_id}/discover"): ("DiscoveredItemOut", True),
    ("POST", "/api/v1/integrations/{integration_id}/test"): ("IntegrationTestOut", False),
    ("POST", "/api/v1/plugin-instances"): ("PluginInstanceOut", False),
    ("POST", "/api/v1/plugins/{plugin_id}/disable"): ("PluginOut", False),
    ("POST", "/api/v1/plugins/{plugin_id}/enable"): ("PluginOut", False),
    ("POST", "/api/v1/promotions"): ("PromotionDetailOut", False),
    ("POST", "/api/v1/promotions/preview-gates"): ("PromotionGatePreviewOut", False),
    ("POST", "/api/v1/promotions/{promotion_id}/approve"): ("PromotionDetailOut", False),
    ("POST", "/api/v1/promotions/{promotion_id}/cancel"): ("PromotionDetailOut", False),
    ("POST", "/api/v1/promotions/{promotion_id}/reject"): ("PromotionDetailOut", False),
    ("POST", "/api/v1/releases"): ("ReleaseOut", False),
    ("POST", "/api/v1/releases/from-latest"): ("ReleaseOut", False),
    ("POST", "/api/v1/releases/{release_id}/deprecate"): ("ReleaseOut", False),
    ("POST", "/api/v1/retention-policy/prune"): ("RetentionPruneOut", False),
    ("POST", "/api/v1/rollbacks"): ("DeploymentJobOut", False),
    ("POST", "/api/v1/service-accounts"): ("ServiceAccountSecretOut", False),
    ("POST", "/api/v1/service-accounts/{account_id}/revoke"): ("ServiceAccountOut", False),
    ("POST", "/api/v1/service-accounts/{account_id}/rotate-secret"): ("ServiceAccountSecretOut", False),
    ("POST", "/api/v1/targets"): ("TargetOut", False),
    ("POST", "/api/v1/targets/{target_id}/health-check"): ("TargetCheckRunningOut", False),
    ("POST", "/api/v1/variable-sets"): ("VariableSetOut", False),
    ("POST", "/api/v1/workflow-runs"): ("WorkflowRunOut", False),
    ("POST", "/api/v1/workflow-runs/{run_id}/cancel"): ("WorkflowRunOut", False),
    ("POST", "/api/v1/workflow-runs/{run_id}/pause"): ("WorkflowRunOut", False),
    ("POST", "/api/v1/workflow-runs/{run_id}/resume"): ("WorkflowRunOut", False),
    ("POST", "/api/v1/workflow-runs/{run_id}/steps/{node_id}/decision"): ("WorkflowStepOut", False),
    ("POST", "/api/v1/workflow-templates"): ("WorkflowTemplateOut", False),
    ("POST", "/api/v1/workflow-templates/{template_id}/validate"): ("WorkflowValidationOut", False),
    ("PUT", "/api/v1/agents/{agent_id}"): ("AgentOut", False),
    ("PUT", "/api/v1/components/{component_id}"): ("ComponentOut", False),
    ("PUT", "/api/v1/environments/{environment_id}"): ("EnvironmentOut", False),
    ("PUT", "/api/v1/integrations/{integration_id}"): ("IntegrationOut", False),
    ("PUT", "/api/v1/plugin-instances/{instance_id}"): ("PluginInstanceOut", False),
    ("PUT", "/api/v1/releases/{release_id}"): ("ReleaseOut", False),
    ("PUT", "/api/v1/retention-policy"): ("RetentionPolicyOut", False),
    ("PUT", "/api/v1/service-accounts/{account_id}"): ("ServiceAccountOut", False),
    ("PUT", "/api/v1/targets/{target_id}"): ("TargetOut", False),
    ("PUT", "/api/v1/variable-sets/{set_id}"): ("VariableSetOut", False),
    ("PUT", "/api/v1/workflow-templates/{template_id}"): ("WorkflowTemplateOut", False),
}
