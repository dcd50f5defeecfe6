# Generated from the Shiplane server's OpenAPI document by datamodel-code-generator 0.89.0.
# Do not edit: regenerate with
#     python sdk/scripts/generate_client_models.py            (from shiplane.app.create_app())
#     python sdk/scripts/generate_client_models.py --url URL  (from a running server)
# sdk/tests/test_client_models.py fails when this file and the live document differ.
#
# Request bodies only: the document describes every response as the envelope
# (SuccessEnvelope / ErrorEnvelope), so the client returns response data as JSON values.

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field, RootModel, StringConstraints
from typing_extensions import TypeAliasType


class ABRollback(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
    )
    reason: Annotated[str | None, Field(max_length=2000, title="Reason")] = ""


class Capability(RootModel[str]):
    root: Annotated[str, Field(max_length=128, min_length=1)]


class AgentRegistration(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class Version(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class AgentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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


class EnvironmentId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1)]


class AuditReportCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class VersionPattern(RootModel[str]):
    root: Annotated[str, Field(max_length=1000, min_length=1, title="Versionpattern")]
    """
    Which tags are versions: a regex the whole tag matches (RE2), or a semver range
    """


class ComponentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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


class DiscoverRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
    )
    query: Annotated[dict[str, Any] | None, Field(max_length=20, title="Query")] = None
    """
    Integration-specific filters, e.g. a prefix
    """


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


class FreezeOverride(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
        populate_by_name=True,
    )
    agent_version: Annotated[AgentVersion | None, Field(alias="agentVersion", title="Agentversion")] = None
    """
    The agent's software version, if it changed
    """
    capabilities: Annotated[Capabilities | None, Field(title="Capabilities")] = None


class IntegrationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class IntegrationReplace(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class MetricCheck(BaseModel):
    """
    A metric query through a monitoring integration, against a threshold: the value
    (the first series' latest point) must be within [min, max].
    """

    model_config = ConfigDict(
        extra="forbid",
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


class PluginInstanceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class Version4(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]


class PluginInstanceReplace(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class ExpectStatu(RootModel[int]):
    root: Annotated[int, Field(ge=100, le=599)]


class Probe(BaseModel):
    """
    An HTTP check: the analysis fallback when no monitoring integration is used.
    """

    model_config = ConfigDict(
        extra="forbid",
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


class PromotionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
        populate_by_name=True,
    )
    comment: Annotated[str | None, Field(max_length=2000, title="Comment")] = ""


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
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
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


class ReleaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
        populate_by_name=True,
    )
    reason: Annotated[str, Field(max_length=2000, min_length=1, title="Reason")]
    """
    Why no environment may receive this release any more
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
        extra="forbid",
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


class Version5(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class ReleaseReplace(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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


class RetryPolicy(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
        populate_by_name=True,
    )
    on_failed_checks: Annotated[Literal["rollback", "hold"], Field(alias="onFailedChecks", title="Onfailedchecks")]
    check_targets: Annotated[bool, Field(alias="checkTargets", title="Checktargets")]
    hook_template_id: Annotated[str | None, Field(alias="hookTemplateId", title="Hooktemplateid")]


class TemplateVersion(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Templateversion")]
    """
    Default: the template's current version
    """


class RunCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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


class Version6(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    The version read (or If-Match)
    """


class ServiceAccountUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class StepDecision(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
    )
    action: Annotated[Literal["retry", "skip", "abort", "approve", "reject", "continue"], Field(title="Action")]
    """
    For a step that failed with onFailure: ask, retry, skip or abort; for a step waiting for people (approval, manual), one of the actions its `wait` offers
    """
    comment: Annotated[str | None, Field(max_length=2000, title="Comment")] = ""


class AgentId(RootModel[str]):
    root: Annotated[str, Field(max_length=36, min_length=1, title="Agentid")]
    """
    The agent that deploys to this target
    """


class TargetCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class Version7(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class TargetReplace(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
        populate_by_name=True,
    )
    environments: Annotated[list[Environment] | None, Field(max_length=50, title="Environments")] = None
    targets: Annotated[list[Target] | None, Field(max_length=200, title="Targets")] = None
    target_labels: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=255)], TargetLabelsAdditionalProperty] | None,
        Field(alias="targetLabels", max_length=20, title="Targetlabels"),
    ] = None


class Version9(RootModel[int]):
    root: Annotated[int, Field(ge=1, title="Version")]
    """
    Expected version (or If-Match)
    """


class ValidationError(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    field: str
    message: str
    code: str


class Error(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    code: Literal["ALREADY_EXISTS", "FORBIDDEN", "FREEZE_WINDOW_ACTIVE", "HEADERS_TOO_LARGE", "IDEMPOTENCY_KEY_REUSED", "INTEGRATION_FAILED", "INTERNAL_ERROR", "INVALID_FILTER", "INVALID_SORT", "INVALID_STATE", "METHOD_NOT_ALLOWED", "NOT_FOUND", "PAYLOAD_TOO_LARGE", "PLUGIN_DISABLED", "PROMOTION_BLOCKED", "RATE_LIMITED", "RELEASE_DEPRECATED", "RESOURCE_IN_USE", "SELF_APPROVAL_FORBIDDEN", "SERVICE_UNAVAILABLE", "TEMPLATE_INVALID", "UNAUTHORIZED", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_ERROR", "VERSION_CONFLICT"]
    message: str
    details: dict[str, Any] | None = None
    validation_errors: Annotated[list[ValidationError] | None, Field(alias="validationErrors")] = None


class PaginationMeta(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    page: int
    page_size: Annotated[int, Field(alias="pageSize")]
    total_items: Annotated[int, Field(alias="totalItems")]
    total_pages: Annotated[int, Field(alias="totalPages")]
    has_next: Annotated[bool, Field(alias="hasNext")]
    has_previous: Annotated[bool, Field(alias="hasPrevious")]
    next_cursor: Annotated[str | None, Field(alias="nextCursor")] = None


class Analysis(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class EnvironmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
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


class NodeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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


class TemplateCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        extra="forbid",
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
        extra="forbid",
        populate_by_name=True,
    )
    name: Annotated[str, Field(pattern="^[A-Za-z_][A-Za-z0-9_]{0,127}$", title="Name")]
    value: Annotated[str, Field(max_length=32768, title="Value")]
    """
    For a secret, `***` keeps the stored value of the same name and scope
    """
    secret: Annotated[bool | None, Field(title="Secret")] = False
    scope: VariableScope | None = None


class VariableSetFields(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    variables: Annotated[list[VariableIn] | None, Field(max_length=200, title="Variables")] = None


class VariableSetReplace(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
    )
    name: Annotated[str, Field(max_length=100, min_length=1, title="Name")]
    description: Annotated[str | None, Field(max_length=2000, title="Description")] = ""
    variables: Annotated[list[VariableIn] | None, Field(max_length=200, title="Variables")] = None
    version: Annotated[Version9 | None, Field(title="Version")] = None
    """
    Expected version (or If-Match)
    """


class Meta(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    request_id: Annotated[str, Field(alias="requestId")]
    timestamp: AwareDatetime
    pagination: PaginationMeta | None = None


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    success: Literal[False]
    error: Error
    meta: Meta


class SuccessEnvelope(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
    )
    success: Literal[True]
    data: Any
    meta: Meta


class ABReleaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$", min_length=1, max_length=63)], str] | None,
        Field(alias="candidateTargetLabels", title="Candidatetargetlabels"),
    ] = None
    """
    start deploys the candidate to the environment's targets with all these labels first
    """
    analysis: Analysis | None = None
