"""Approval policies, promotions and the people's decisions on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, TenantScoped, UTCDateTime, sort_indexes, utcnow


class ApprovalPolicy(TenantOwned, Base):
    """How many people must approve a promotion into an environment that names it, and who."""

    __tablename__ = "approval_policies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_approval_policies_tenant_name"),
        *sort_indexes("approval_policies", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    required_approvals: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    approver_roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    approver_users: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    allow_self_approval: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    expires_after_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)


class Promotion(TenantOwned, Base):
    """A request to move a sealed release into an environment, through its gates and approvals."""

    __tablename__ = "promotions"
    __table_args__ = (
        *sort_indexes("promotions", "state", "release_id", "environment_id", "created_at", "updated_at"),
        # The re-evaluation sweep: blocked or waiting promotions whose time has come.
        Index("ix_promotions_recheck", "state", "recheck_at"),
    )

    release_id: Mapped[str] = mapped_column(String(36), nullable=False)
    environment_id: Mapped[str] = mapped_column(String(36), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    state: Mapped[str] = mapped_column(String(24), nullable=False, default="pending")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The last evaluation: [{gateId, type, status, message, details, inputs, log, evaluatedAt}].
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The approval requirement when requested: the environment's policy (a snapshot) or its
    # approval gate's count; None when no approval is needed.
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    freeze_override: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    recheck_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The deployment workflow run an approved promotion started.
    workflow_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class PromotionApproval(TenantScoped, Base):
    """One person's decision on a promotion: the unique key makes one user count once."""

    __tablename__ = "promotion_approvals"
    __table_args__ = (UniqueConstraint("promotion_id", "user_id", name="uq_promotion_approvals_user"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("promotions.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    decision: Mapped[str] = mapped_column(String(8), nullable=False)  # approve | reject
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
