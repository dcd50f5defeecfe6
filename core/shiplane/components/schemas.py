from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, Integral

ComponentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")]


class ComponentFields(ApiModel):
    name: ComponentName = Field(description="Unique per tenant: lowercase letters, digits and '-'")
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    integration_id: Annotated[str, StringConstraints(min_length=1, max_length=36)] = Field(
        description="A registry or SCM integration of the tenant whose type lists versions"
    )
    reference: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="What to version in the integration: an image repository, a git repository (see discover)"
    )
    version_pattern: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        default=None, description="Which tags are versions: a regex the whole tag matches (RE2), or a semver range"
    )
    version_pattern_type: Literal["regex", "semver"] = Field(
        default="regex", description="How versionPattern reads: `regex` or `semver` (an npm-style range)"
    )


class ComponentCreate(ComponentFields):
    pass


class ComponentReplace(ComponentFields):
    version: Annotated[int, Field(ge=1), Integral] | None = Field(
        default=None, description="Expected version (or If-Match)"
    )


def component_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "description": row.description,
        "integrationId": row.integration_id,
        "reference": row.reference,
        "versionPattern": row.version_pattern,
        "versionPatternType": row.version_pattern_type,
        "lastSync": {
            "status": row.sync_status,
            "message": row.sync_message,
            "at": rfc3339(row.synced_at) if row.synced_at else None,
        },
        "versionCount": row.version_count,
        "version": row.version,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


def version_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "componentId": row.component_id,
        "tag": row.tag,
        "digest": row.digest,
        "createdAt": rfc3339(row.published_at) if row.published_at else None,
        "metadata": row.metadata if isinstance(row.metadata, dict) else row.meta,
        "discoveredAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }
