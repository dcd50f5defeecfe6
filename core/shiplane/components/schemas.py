from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shiplane.platform.envelope import rfc3339
from shiplane.platform.schemas import ApiModel, ApiOut, Integral

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


class ComponentSyncStatusOut(ApiOut):
    status: Literal["never", "ok", "failed"] = Field(
        description="never: not synced since it was made or its source changed; ok: the last sync stored "
        "the versions; failed: the last sync failed and left the versions as they were"
    )
    message: str = Field(description="Why the last sync failed (empty unless failed)")
    at: datetime | None = Field(description="When the last sync ended (null: never)")


class ComponentOut(ApiOut):
    id: str
    tenant_id: str
    name: str
    description: str
    integration_id: str
    reference: str
    version_pattern: str | None
    version_pattern_type: Literal["regex", "semver"]
    last_sync: ComponentSyncStatusOut
    version_count: int = Field(description="How many versions are stored")
    version: int
    created_at: datetime
    updated_at: datetime


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


class ComponentVersionOut(ApiOut):
    id: str
    component_id: str
    tag: str
    digest: str | None
    created_at: datetime | None = Field(
        description="When the registry or SCM says the version was made (null: unknown)"
    )
    metadata: dict[str, Any] = Field(description="What the integration told about the version")
    discovered_at: datetime = Field(description="When a sync first stored the version")
    updated_at: datetime


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


class ComponentSyncedVersionOut(ApiOut):
    tag: str
    digest: str | None


class ComponentSyncChangeOut(ApiOut):
    tag: str
    digest: str | None
    previous_digest: str | None


class ComponentSyncOut(ApiOut):
    """What a sync stored (``SyncReport.out`` in service.py)."""

    component_id: str
    synced_at: datetime
    added: list[ComponentSyncedVersionOut] = Field(description="Versions stored for the first time")
    updated: list[ComponentSyncChangeOut] = Field(description="Versions whose digest changed")
    removed: list[ComponentSyncedVersionOut] = Field(description="Versions no longer listed (deleted)")
    unchanged: int = Field(description="Versions stored already with the same digest")
    listed: int = Field(description="How many versions the integration listed")
    skipped: int = Field(
        description="Listed but not stored: not admitted by the pattern, malformed or beyond the limit"
    )
