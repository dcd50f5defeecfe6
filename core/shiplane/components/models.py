from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, UTCDateTime, sort_indexes

# Byte order on PostgreSQL: a locale collation would ignore the punctuation the
# precedence key is built from (SQLite compares bytes already).
PRECEDENCE_TYPE = String(200).with_variant(String(200, collation="C"), "postgresql")


class Component(TenantOwned, Base):
    """A deployable part of the tenant's system, versioned in a registry or SCM integration."""

    __tablename__ = "components"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_components_tenant_name"),
        *sort_indexes("components", "integration_id", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    integration_id: Mapped[str] = mapped_column(String(36), ForeignKey("integrations.id"), nullable=False)
    reference: Mapped[str] = mapped_column(String(500), nullable=False)
    version_pattern: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    version_pattern_type: Mapped[str] = mapped_column(String(8), nullable=False, default="regex")
    sync_status: Mapped[str] = mapped_column(String(16), nullable=False, default="never")
    sync_message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ComponentVersion(TenantOwned, Base):
    """One version of a component as its integration listed it at the last sync."""

    __tablename__ = "component_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "component_id", "tag", name="uq_component_versions_tag"),
        Index("ix_component_versions_precedence", "tenant_id", "component_id", "precedence", "id"),
        Index("ix_component_versions_published", "tenant_id", "component_id", "published_at", "id"),
        Index("ix_component_versions_created", "tenant_id", "component_id", "created_at", "id"),
    )

    component_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("components.id", ondelete="CASCADE"), nullable=False
    )
    tag: Mapped[str] = mapped_column(String(255), nullable=False)
    digest: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # When the registry or SCM says the version was made (None if it does not say).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False, default=dict)
    # Sorts newest first when descending: semver precedence, then the published time (see versions.py).
    precedence: Mapped[str] = mapped_column(PRECEDENCE_TYPE, nullable=False)
