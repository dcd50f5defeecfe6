from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, UTCDateTime, sort_indexes


class Release(TenantOwned, Base):
    """A named set of component versions: a draft until sealed, then immutable, digest-pinned."""

    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_releases_tenant_name"),
        *sort_indexes("releases", "state", "sealed_at", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    # [{componentId, componentName, reference, version, digest}] sorted by component name.
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    manifest_digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sealed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    deprecated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deprecated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    deprecation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set by the first promotion of the release (the promotions module): from then on no DELETE.
    first_promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
