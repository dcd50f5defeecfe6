from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, UTCDateTime, sort_indexes


class Environment(TenantOwned, Base):
    __tablename__ = "environments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_environments_tenant_name"),
        *sort_indexes("environments", "position", "display_name", "is_production", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(63), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # "order" is a reserved word in SQL; the column is position, the API field order.
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    is_production: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # None means the default: the environment just before this one in order.
    required_predecessors: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    approval_policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    deployment_template_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    current_release_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # {promoteRoles, promoteUsers, rollbackRoles, rollbackUsers}; None: not protected.
    protection: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # {onFailedChecks: rollback | hold, checkTargets, hookTemplateId}; None: the default.
    rollback_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The variable sets its deployments resolve, in order (a later set wins a tie).
    variable_set_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class FreezeWindow(TenantOwned, Base):
    """A span in which promotions into the environment are blocked (the ``freeze-window`` gate):
    one-off (``starts_at`` to ``ends_at``) or recurring (``rrule`` from ``starts_at``,
    each occurrence lasting ``duration_seconds`` of wall-clock time in ``time_zone``)."""

    __tablename__ = "freeze_windows"
    __table_args__ = (Index("ix_freeze_windows_tenant_environment", "tenant_id", "environment_id", "created_at"),)

    environment_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("environments.id", ondelete="CASCADE"), nullable=False
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rrule: Mapped[str | None] = mapped_column(String(300), nullable=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    override_roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
