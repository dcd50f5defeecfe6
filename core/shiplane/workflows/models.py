from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, TenantScoped, UTCDateTime, sort_indexes, utcnow


class WorkflowTemplate(TenantOwned, Base):
    """A named workflow; its definitions are the numbered versions (a PUT adds one)."""

    __tablename__ = "workflow_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_workflow_templates_tenant_name"),
        *sort_indexes("workflow_templates", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    current_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class WorkflowTemplateVersion(TenantScoped, Base):
    """One immutable definition of a template: its inputs schema and nodes. Runs pin one."""

    __tablename__ = "workflow_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "number", name="uq_workflow_template_versions_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    template_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workflow_templates.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    inputs_schema: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)


class WorkflowRun(TenantOwned, Base):
    """One execution of a template version. ``state`` changes only by compare-and-set (states.py)."""

    __tablename__ = "workflow_runs"
    __table_args__ = (*sort_indexes("workflow_runs", "state", "template_id", "created_at", "updated_at"),)

    template_id: Mapped[str] = mapped_column(String(36), nullable=False)
    template_version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The pinned definition, copied so a run never depends on later edits or deletion.
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The last stream sequence number given to this run's events (state changes, log lines).
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class WorkflowStep(TenantScoped, Base):
    """One node of one run: its state, attempts and outputs."""

    __tablename__ = "workflow_steps"
    __table_args__ = (UniqueConstraint("run_id", "node_id", name="uq_workflow_steps_node"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(128), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # While the step waits for people (a StepWait: actions, roles, users, instructions);
    # None for a step waiting after a failure (onFailure: ask) and for every other state.
    wait: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What people decided on it, oldest first ({action, by, roles, comment, at}).
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


class WorkflowEvent(TenantScoped, Base):
    """The run's ordered stream: state changes and log lines, numbered per run (``?since=``)."""

    __tablename__ = "workflow_events"
    __table_args__ = (Index("ix_workflow_events_run_seq", "run_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # log | run | step
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class WorkflowArtifact(TenantScoped, Base):
    """A named blob a step stored (one per name and step: a rewrite replaces it)."""

    __tablename__ = "workflow_artifacts"
    __table_args__ = (UniqueConstraint("run_id", "node_id", "name", name="uq_workflow_artifacts_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    digest: Mapped[str] = mapped_column(String(80), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
