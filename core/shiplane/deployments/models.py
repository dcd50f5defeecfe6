"""Deployment jobs: a release rolled out to an environment's targets, task by task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, TenantScoped, UTCDateTime, sort_indexes, utcnow


class DeploymentJob(TenantOwned, Base):
    __tablename__ = "deployment_jobs"
    __table_args__ = (
        *sort_indexes("deployment_jobs", "state", "environment_id", "release_id", "created_at", "updated_at"),
    )

    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="deploy")  # deploy | rollback | candidate
    # Only the environment's targets with all these labels (an A/B release's candidate side).
    target_labels: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    promotion_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    workflow_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    release_id: Mapped[str] = mapped_column(String(36), nullable=False)
    environment_id: Mapped[str] = mapped_column(String(36), nullable=False)
    previous_release_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    strategy: Mapped[str] = mapped_column(String(64), nullable=False)
    strategy_config: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(24), nullable=False, default="pending")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Why (a rollback's reason; a promotion's deployment carries the promotion's).
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # The variables resolved when it started: {sets: [{id, name, revision}], targets:
    # {targetId: {name: value}}} with secret values sealed. Later changes leave it alone.
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The last number given to this job's stream events.
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class DeploymentEvent(TenantScoped, Base):
    """The job's ordered stream: job and task changes and log lines, numbered per job (``?since=``)."""

    __tablename__ = "deployment_events"
    __table_args__ = (Index("ix_deployment_events_job_seq", "job_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("deployment_jobs.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # job | task | log
    target_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class DeploymentTask(TenantScoped, Base):
    """One target's part of a job: its agent task, its outcome and its log."""

    __tablename__ = "deployment_tasks"
    __table_args__ = (
        UniqueConstraint("job_id", "target_id", name="uq_deployment_tasks_target"),
        Index("ix_deployment_tasks_job", "job_id", "batch", "target_name"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("deployment_jobs.id", ondelete="CASCADE"), nullable=False
    )
    target_id: Mapped[str] = mapped_column(String(36), nullable=False)
    target_name: Mapped[str] = mapped_column(String(100), nullable=False)
    agent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    batch: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    work_item_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    log: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeploymentArtifact(TenantScoped, Base):
    """A job's named blob: the rendered manifest, the stickers left on the targets."""

    __tablename__ = "deployment_artifacts"
    __table_args__ = (UniqueConstraint("job_id", "name", name="uq_deployment_artifacts_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("deployment_jobs.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    digest: Mapped[str] = mapped_column(String(80), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
