from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, Integral

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
