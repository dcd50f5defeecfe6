"""A/B releases: a candidate release beside the control one, traffic shifted in steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, TenantScoped, UTCDateTime, sort_indexes, utcnow


class ABRelease(TenantOwned, Base):
    __tablename__ = "ab_releases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_ab_releases_tenant_name"),
        *sort_indexes("ab_releases", "state", "environment_id", "created_at", "updated_at"),
        Index("ix_ab_releases_due", "next_check_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    environment_id: Mapped[str] = mapped_column(String(36), nullable=False)
    control_release_id: Mapped[str] = mapped_column(String(36), nullable=False)
    candidate_release_id: Mapped[str] = mapped_column(String(36), nullable=False)
    strategy: Mapped[str] = mapped_column(String(64), nullable=False)
    strategy_config: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # The strategy's steps as planned at creation: [{weight, pauseSeconds, manual}].
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    router_instance_id: Mapped[str] = mapped_column(String(36), nullable=False)
    analysis: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # When set, `start` first deploys the candidate to the environment's targets with these
    # labels (a `candidate` deployment job), then applies step 1.
    candidate_target_labels: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    deployment_job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    step_index: Mapped[int] = mapped_column(Integer, nullable=False, default=-1)
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Desired weights ({control, candidate}); applied: what the router last accepted.
    weights: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False, default=dict)
    applied_weights: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    apply_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    inconclusive: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    passes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ABMeasurement(TenantScoped, Base):
    """One analysis measurement: what was asked, what came back, the threshold, the verdict."""

    __tablename__ = "ab_measurements"
    __table_args__ = (Index("ix_ab_measurements_release", "ab_release_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    ab_release_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ab_releases.id", ondelete="CASCADE"), nullable=False
    )
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # probe | metric
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    query: Mapped[str] = mapped_column(Text, nullable=False, default="")
    values: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    threshold: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)  # pass | fail | inconclusive
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
