from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, UTCDateTime, sort_indexes


class Target(TenantOwned, Base):
    """A place releases are deployed to: a target type's config, in one environment, bound
    to an agent (by id, or by labels an agent must carry)."""

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_targets_tenant_name"),
        *sort_indexes("targets", "environment_id", "type", "health_status", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # RESTRICT: an environment with targets cannot be deleted (409 RESOURCE_IN_USE first).
    environment_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("environments.id", ondelete="RESTRICT"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(128), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    agent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    agent_labels: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    health_status: Mapped[str] = mapped_column(String(16), nullable=False, default="unknown")
    health_message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # What the agent last read from the target (its sticker, its inspected state), and
    # what the server expects there (the sticker of the last deploy; before any, the
    # first sticker read): drift compares them.
    sticker: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    sticker_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    observed_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    expected_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
