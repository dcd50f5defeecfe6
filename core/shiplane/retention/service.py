"""Retention policies (docs/retention.md): how long a tenant keeps evidence packets, logs
and artifacts. The audit chain is never pruned (it is kept whole: a pruned chain could
not be verified). Each pruning that removed anything is itself an audit event
(``retention.prune``) that says what was removed and up to when.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import JSON, String, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.auth import Principal
from shiplane.platform.database import Base, Database, TenantScoped, UTCDateTime, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.schemas import ApiModel, ApiOut, Integral
from shiplane.platform.writes import audit_change

COUNTS: Counter[str] = Counter()
Days = Annotated[int, Field(ge=1, le=36_500), Integral]


class RetentionPolicy(TenantScoped, Base):
    __tablename__ = "retention_policies"

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    evidence_days: Mapped[int | None] = mapped_column(nullable=True)
    logs_days: Mapped[int | None] = mapped_column(nullable=True)
    artifacts_days: Mapped[int | None] = mapped_column(nullable=True)
    updated_by: Mapped[str] = mapped_column(String(255), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_pruned: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class RetentionPolicyBody(ApiModel):
    evidence_days: Days | None = Field(default=None, description="Keep evidence packets this many days (null: forever)")
    logs_days: Days | None = Field(
        default=None, description="Keep deployment task and workflow step log lines this many days (null: forever)"
    )
    artifacts_days: Days | None = Field(
        default=None, description="Keep deployment and workflow artifacts this many days (null: forever)"
    )


class RetentionRemovedOut(ApiOut):
    """How many of each were removed; a kind is present when the policy prunes it."""

    evidence_packets: int | None = Field(default=None, description="Present when evidenceDays is set")
    workflow_log_lines: int | None = Field(default=None, description="Present when logsDays is set")
    ab_measurements: int | None = Field(default=None, description="Present when logsDays is set")
    deployment_log_lines: int | None = Field(default=None, description="Present when logsDays is set")
    deployment_task_logs: int | None = Field(
        default=None, description="Deployment tasks whose log was emptied; present when logsDays is set"
    )
    deployment_artifacts: int | None = Field(default=None, description="Present when artifactsDays is set")
    workflow_artifacts: int | None = Field(default=None, description="Present when artifactsDays is set")


class RetentionCutoffsOut(ApiOut):
    """Up to when each kind was pruned; a kind is present when the policy prunes it."""

    evidence: datetime | None = Field(default=None, description="Present when evidenceDays is set")
    logs: datetime | None = Field(default=None, description="Present when logsDays is set")
    artifacts: datetime | None = Field(default=None, description="Present when artifactsDays is set")


class RetentionPruneOut(ApiOut):
    removed: RetentionRemovedOut
    before: RetentionCutoffsOut
    at: datetime


class RetentionPolicyOut(ApiOut):
    tenant_id: str
    evidence_days: int | None = Field(description="null: kept for ever")
    logs_days: int | None = Field(description="null: kept for ever")
    artifacts_days: int | None = Field(description="null: kept for ever")
    audit_chain: str = Field(description="The audit chain is never pruned")
    updated_by: str | None = Field(description="null: the tenant never set a policy")
    updated_at: datetime | None = Field(description="null: the tenant never set a policy")
    last_pruned_at: datetime | None
    last_pruned: RetentionPruneOut | None = Field(description="What the last pruning removed")


def policy_out(tenant: str, row: RetentionPolicy | None) -> dict[str, Any]:
    return {
        "tenantId": tenant,
        "evidenceDays": row.evidence_days if row else None,
        "logsDays": row.logs_days if row else None,
        "artifactsDays": row.artifacts_days if row else None,
        "auditChain": "kept whole (never pruned)",
        "updatedBy": row.updated_by if row else None,
        "updatedAt": rfc3339(row.updated_at) if row else None,
        "lastPrunedAt": rfc3339(row.last_pruned_at) if row and row.last_pruned_at else None,
        "lastPruned": row.last_pruned if row else None,
    }


async def get_policy(session: AsyncSession, tenant: str) -> dict[str, Any]:
    row = await session.scalar(select(RetentionPolicy).where(RetentionPolicy.tenant_id == tenant))
    return policy_out(tenant, row)


async def put_policy(session: AsyncSession, principal: Principal, body: RetentionPolicyBody) -> WriteResult:
    tenant = principal.tenant_id
    row = await session.scalar(select(RetentionPolicy).where(RetentionPolicy.tenant_id == tenant).with_for_update())
    before = policy_out(tenant, row)
    if row is None:
        row = RetentionPolicy(tenant_id=tenant, updated_by=principal.user_id)
        session.add(row)
    row.evidence_days, row.logs_days, row.artifacts_days = body.evidence_days, body.logs_days, body.artifacts_days
    row.updated_by, row.updated_at = principal.user_id, utcnow()
    await session.flush()
    data = policy_out(tenant, row)
    await audit_change(session, principal, "retention_policy.update", "retention_policy", tenant, before, data)
    return WriteResult(data, 200)


def _system(tenant: str) -> Principal:
    return Principal(
        user_id="shiplane:retention", tenant_id=tenant, roles=("system",), permissions=frozenset(), tier=None
    )


#: Rows removed per transaction: a first pruning of millions of rows never holds the
#: writer (SQLite's one lock, PostgreSQL's row locks) for long.
BATCH = 5_000


async def _in_batches(db: Database, tenant: str, model: Any, condition: Any, change: Any = None) -> int:
    """Delete (or, with ``change``, update) the tenant's rows of ``model`` matching
    ``condition``, ``BATCH`` at a time, each batch in its own transaction; how many."""
    total = 0
    while True:
        async with db.session(tenant, write=True) as session:
            ids = list(await session.scalars(select(model.id).where(condition).limit(BATCH)))
            if not ids:
                return total
            statement = (
                update(model).where(model.id.in_(ids)).values(**change)
                if change is not None
                else delete(model).where(model.id.in_(ids))
            )
            await session.execute(statement.execution_options(synchronize_session=False))
        total += len(ids)
        if len(ids) < BATCH:
            return total


async def prune(db: Database, tenant: str, actor: Principal | None = None) -> dict[str, Any]:
    """Remove what the tenant's policy no longer keeps, in batches; what was removed
    (audited when anything was)."""
    from shiplane.deployments.models import DeploymentArtifact, DeploymentEvent, DeploymentTask
    from shiplane.evidence.models import EvidencePacket
    from shiplane.progressive.models import ABMeasurement
    from shiplane.workflows.models import WorkflowArtifact, WorkflowEvent

    async with db.session(tenant, write=False) as session:
        row = await session.scalar(select(RetentionPolicy).where(RetentionPolicy.tenant_id == tenant))
    now = utcnow()
    removed: dict[str, Any] = {}
    if row is None:
        return {"removed": removed, "before": {}, "at": rfc3339(now)}
    cutoffs: dict[str, str] = {}
    if row.evidence_days:
        cutoff = now - timedelta(days=row.evidence_days)
        cutoffs["evidence"] = rfc3339(cutoff)
        removed["evidencePackets"] = await _in_batches(db, tenant, EvidencePacket, EvidencePacket.created_at < cutoff)
    if row.logs_days:
        cutoff = now - timedelta(days=row.logs_days)
        cutoffs["logs"] = rfc3339(cutoff)
        removed["workflowLogLines"] = await _in_batches(
            db, tenant, WorkflowEvent, (WorkflowEvent.kind == "log") & (WorkflowEvent.at < cutoff)
        )
        removed["abMeasurements"] = await _in_batches(db, tenant, ABMeasurement, ABMeasurement.at < cutoff)
        removed["deploymentLogLines"] = await _in_batches(
            db, tenant, DeploymentEvent, (DeploymentEvent.kind == "log") & (DeploymentEvent.at < cutoff)
        )
        removed["deploymentTaskLogs"] = await _in_batches(
            db,
            tenant,
            DeploymentTask,
            (DeploymentTask.finished_at < cutoff) & (func.json_array_length(DeploymentTask.log) > 0),
            {"log": []},
        )
    if row.artifacts_days:
        cutoff = now - timedelta(days=row.artifacts_days)
        cutoffs["artifacts"] = rfc3339(cutoff)
        removed["deploymentArtifacts"] = await _in_batches(
            db, tenant, DeploymentArtifact, DeploymentArtifact.created_at < cutoff
        )
        removed["workflowArtifacts"] = await _in_batches(
            db, tenant, WorkflowArtifact, WorkflowArtifact.created_at < cutoff
        )
    summary = {"removed": removed, "before": cutoffs, "at": rfc3339(now)}
    async with db.session(tenant, write=True) as session:
        await session.execute(
            update(RetentionPolicy)
            .where(RetentionPolicy.tenant_id == tenant)
            .values(last_pruned_at=now, last_pruned=summary)
            .execution_options(synchronize_session=False)
        )
        if any(removed.values()):
            for name, count in removed.items():
                COUNTS[name] += count
            await audit_change(
                session, actor or _system(tenant), "retention.prune", "retention_policy", tenant, None, summary
            )
    return summary


async def prune_all(db: Database) -> None:
    async with db.session(None, write=False) as session:
        tenants = list(await session.scalars(select(RetentionPolicy.tenant_id)))
    for tenant in tenants:
        try:
            await prune(db, tenant)
        except Exception:  # noqa: BLE001 - one tenant's pruning must not stop the others'
            logging.getLogger("shiplane.retention").exception("pruning a tenant failed", extra={"tenant": tenant})
