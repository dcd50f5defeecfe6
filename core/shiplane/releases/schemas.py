from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral

ReleaseName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$", max_length=200)]
ComponentId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
MAX_COMPONENTS = 200


class ReleaseComponentIn(ApiModel):
    component_id: ComponentId
    version: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="A tag among the component's versions (GET /components/{id}/versions)"
    )
    digest: Digest | None = Field(
        default=None, description="Optional: the digest you expect; a different current digest is refused"
    )


class ReleaseFields(ApiModel):
    name: ReleaseName = Field(description="Unique per tenant, e.g. shop-2.4.0")
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    components: Annotated[list[ReleaseComponentIn], Field(min_length=1, max_length=MAX_COMPONENTS)]
    state: Literal["draft", "ready"] = Field(
        default="draft", description="`ready` seals the release: digests pinned, manifest digest computed, immutable"
    )


class ReleaseCreate(ReleaseFields):
    pass


class ReleaseReplace(ReleaseFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


class ReleaseFromLatest(ApiModel):
    name: ReleaseName | None = Field(default=None, description="Default: latest-<UTC date and time>")
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    component_ids: Annotated[list[ComponentId], Field(min_length=1, max_length=MAX_COMPONENTS)] = Field(
        description="The components to include, each at its newest stored version"
    )


class ReleaseDeprecate(ApiModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="Why no environment may receive this release any more"
    )


ReleaseState = Literal["draft", "ready", "deprecated"]


class ReleaseComponentOut(ApiOut):
    component_id: str
    component_name: str
    reference: str = Field(description="The component's reference (image or git repository) when it was added")
    version: str = Field(description="The version's tag")
    digest: str | None = Field(description="The version's digest (always set in a sealed release)")


class ReleaseOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    state: ReleaseState = Field(
        description="draft: changeable; ready: sealed, immutable; deprecated: never promoted again"
    )
    components: list[ReleaseComponentOut] = Field(description="Sorted by component name")
    manifest_digest: str | None = Field(description="sha256 of the canonical manifest, set when sealed")
    created_by: str
    sealed_at: datetime | None
    sealed_by: str | None
    deprecated_at: datetime | None
    deprecated_by: str | None
    deprecation_reason: str | None
    promoted: bool = Field(description="Whether the release was ever promoted (then it cannot be deleted)")
    version: int
    created_at: datetime
    updated_at: datetime


def release_out(row: Any) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return rfc3339(value) if value is not None else None

    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "state": row.state,
        "components": row.components,
        "manifestDigest": row.manifest_digest,
        "createdBy": row.created_by,
        "sealedAt": when(row.sealed_at),
        "sealedBy": row.sealed_by,
        "deprecatedAt": when(row.deprecated_at),
        "deprecatedBy": row.deprecated_by,
        "deprecationReason": row.deprecation_reason,
        "promoted": row.first_promoted_at is not None,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


class ReleaseEnvironmentStateOut(ApiOut):
    environment_id: str
    environment_name: str
    state: Literal["deployed", "never"] = Field(description="deployed: the environment's current release is this one")


class ReleaseStateOut(ApiOut):
    """``ReleaseService.state``: the release in each environment, in pipeline order."""

    release_id: str
    release_state: ReleaseState
    environments: list[ReleaseEnvironmentStateOut]


class ReleaseSummaryOut(ApiOut):
    id: str
    name: str
    state: ReleaseState
    manifest_digest: str | None


class ReleaseComponentPinOut(ApiOut):
    version: str
    digest: str | None


class ReleaseComponentChangeOut(ApiOut):
    component_id: str
    component_name: str
    from_: ReleaseComponentPinOut = Field(alias="from", description="In the base release")
    to: ReleaseComponentPinOut = Field(description="In the other release")
    version_changed: bool
    digest_changed: bool


class ReleaseComparisonOut(ApiOut):
    """``ReleaseService.compare``: from the base release to the other."""

    base: ReleaseSummaryOut
    other: ReleaseSummaryOut
    identical: bool = Field(description="Both are sealed with the same manifest digest")
    added: list[ReleaseComponentOut] = Field(description="Components only in the other release")
    removed: list[ReleaseComponentOut] = Field(description="Components only in the base release")
    changed: list[ReleaseComponentChangeOut] = Field(description="Components in both, at another version or digest")
    unchanged: list[ReleaseComponentOut] = Field(description="Components in both at the same version and digest")
