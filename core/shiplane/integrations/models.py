from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, UTCDateTime, sort_indexes


class Integration(TenantOwned, Base):
    """A tenant's configured connection to an external system: an instance of an
    IntegrationType, its config sealed, and its last known health."""

    __tablename__ = "integrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_integrations_tenant_name"),
        *sort_indexes("integrations", "type_id", "health_status", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    type_id: Mapped[str] = mapped_column(String(128), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    health_status: Mapped[str] = mapped_column(String(16), nullable=False, default="unknown")
    health_message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    health_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
