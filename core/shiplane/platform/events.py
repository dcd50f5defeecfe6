"""Domain events and the transactional outbox.

A change's domain event is written in the change's own transaction (``emit``), so
a committed change always has its event and a rolled-back one never does. After
commit, deliverers read the outbox: today the plugin ``on_event`` delivery
(plugins/delivery.py); the WebSocket streams will read the same rows by ``seq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import OUTBOX_MARK, Base, TenantScoped, UTCDateTime, new_id, utcnow


class OutboxEvent(TenantScoped, Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_undelivered", "dispatched_at", "seq"),)

    # Integer on SQLite so it is the rowid (autoincrement); BIGINT identity on PostgreSQL.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(128), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(255), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


@dataclass(frozen=True)
class EventType:
    """One domain event type: ``<resource>.<past tense>``, its payload version and what the payload holds."""

    name: str
    version: int
    audit_action: str
    payload: str


# The one catalogue of domain events (docs/events.md lists it; a test keeps the two
# and the emitted types in agreement). Audit actions name what was asked
# (``environment.create``); events name what happened (``environment.created``).
CHANGE_PAYLOAD = "`before` and `after`: the resource as the API showed it (secrets masked); null where absent"
CATALOGUE: dict[str, EventType] = {
    event.audit_action: event
    for event in (
        EventType("environment.created", 1, "environment.create", CHANGE_PAYLOAD),
        EventType("environment.updated", 1, "environment.update", CHANGE_PAYLOAD),
        EventType("environment.deleted", 1, "environment.delete", CHANGE_PAYLOAD),
        EventType("freeze_window.created", 1, "freeze_window.create", CHANGE_PAYLOAD),
        EventType("agent.registered", 1, "agent.register", CHANGE_PAYLOAD),
        EventType("agent.updated", 1, "agent.update", CHANGE_PAYLOAD),
        EventType("agent.deleted", 1, "agent.delete", CHANGE_PAYLOAD),
        EventType("target.drift_changed", 1, "target.drift_change", CHANGE_PAYLOAD),
        EventType("service_account.created", 1, "service_account.create", CHANGE_PAYLOAD),
        EventType("service_account.updated", 1, "service_account.update", CHANGE_PAYLOAD),
        EventType("service_account.secret_rotated", 1, "service_account.rotate_secret", CHANGE_PAYLOAD),
        EventType("service_account.revoked", 1, "service_account.revoke", CHANGE_PAYLOAD),
        EventType("service_account.deleted", 1, "service_account.delete", CHANGE_PAYLOAD),
        EventType(
            "service_account.token_issued",
            1,
            "service_account.token_issued",
            "`details`: `{jti, expiresAt, roles, from}` (never the token); `before` and `after`: null",
        ),
        EventType("audit_report.requested", 1, "audit_report.create", CHANGE_PAYLOAD),
        EventType("retention_policy.updated", 1, "retention_policy.update", CHANGE_PAYLOAD),
        EventType("retention.pruned", 1, "retention.prune", CHANGE_PAYLOAD),
        EventType("ab_release.created", 1, "ab_release.create", CHANGE_PAYLOAD),
        EventType("ab_release.started", 1, "ab_release.start", CHANGE_PAYLOAD),
        EventType("ab_release.advanced", 1, "ab_release.advance", CHANGE_PAYLOAD),
        EventType("ab_release.paused", 1, "ab_release.pause", CHANGE_PAYLOAD),
        EventType("ab_release.promoted", 1, "ab_release.promote", CHANGE_PAYLOAD),
        EventType("ab_release.reverted", 1, "ab_release.rollback", CHANGE_PAYLOAD),
        EventType("ab_release.aborted", 1, "ab_release.abort", CHANGE_PAYLOAD),
        EventType("integration.created", 1, "integration.create", CHANGE_PAYLOAD),
        EventType("integration.updated", 1, "integration.update", CHANGE_PAYLOAD),
        EventType("integration.deleted", 1, "integration.delete", CHANGE_PAYLOAD),
        EventType("component.created", 1, "component.create", CHANGE_PAYLOAD),
        EventType("component.updated", 1, "component.update", CHANGE_PAYLOAD),
        EventType("component.deleted", 1, "component.delete", CHANGE_PAYLOAD),
        EventType(
            "component.versions_synced",
            1,
            "component.sync",
            "`after`: `{added, updated, removed, versionCount}` (counts of the sync); `before`: null",
        ),
        EventType("release.created", 1, "release.create", CHANGE_PAYLOAD),
        EventType("release.updated", 1, "release.update", CHANGE_PAYLOAD),
        EventType("release.sealed", 1, "release.seal", CHANGE_PAYLOAD),
        EventType("release.deprecated", 1, "release.deprecate", CHANGE_PAYLOAD),
        EventType("release.deleted", 1, "release.delete", CHANGE_PAYLOAD),
        EventType("workflow_template.created", 1, "workflow_template.create", CHANGE_PAYLOAD),
        EventType("workflow_template.updated", 1, "workflow_template.update", CHANGE_PAYLOAD),
        EventType("workflow_template.deleted", 1, "workflow_template.delete", CHANGE_PAYLOAD),
        EventType("workflow_run.created", 1, "workflow_run.create", CHANGE_PAYLOAD),
        EventType("workflow_run.paused", 1, "workflow_run.pause", CHANGE_PAYLOAD),
        EventType("workflow_run.resumed", 1, "workflow_run.resume", CHANGE_PAYLOAD),
        EventType("workflow_run.cancelled", 1, "workflow_run.cancel", CHANGE_PAYLOAD),
        EventType(
            "workflow_run.step_decided",
            1,
            "workflow_run.decide",
            "`before`: `{step}`; `after`: `{step, action, comment}` (a decision on a step waiting after a failure, "
            "or waiting for people)",
        ),
        EventType("approval_policy.created", 1, "approval_policy.create", CHANGE_PAYLOAD),
        EventType("promotion.requested", 1, "promotion.create", CHANGE_PAYLOAD),
        EventType(
            "promotion.freeze_override_used",
            1,
            "promotion.freeze_override",
            "`after`: `{freezeOverride: {by, roles, reason, windows, at}}`; `before`: null",
        ),
        EventType(
            "promotion.approval_added",
            1,
            "promotion.approve",
            "`after`: `{decision, comment, userId, roles}`; `before`: null",
        ),
        EventType(
            "promotion.rejection_added",
            1,
            "promotion.reject",
            "`after`: `{decision, comment, userId, roles}`; `before`: null",
        ),
        EventType("promotion.cancelled", 1, "promotion.cancel", CHANGE_PAYLOAD),
        EventType("rollback.requested", 1, "rollback.create", CHANGE_PAYLOAD),
        EventType(
            "deployment_job.started", 1, "deployment_job.start", "`after`: the job as the API shows it; `before`: null"
        ),
        EventType(
            "deployment_job.finished",
            1,
            "deployment_job.finish",
            "`after`: the job as the API shows it, with `tasks` (counts by state); `before`: null",
        ),
        EventType("variable_set.created", 1, "variable_set.create", CHANGE_PAYLOAD),
        EventType("variable_set.updated", 1, "variable_set.update", CHANGE_PAYLOAD),
        EventType("variable_set.deleted", 1, "variable_set.delete", CHANGE_PAYLOAD),
        EventType(
            "promotion.finished",
            1,
            "promotion.finish",
            "`before`: `{state}`; `after`: `{state, message, workflowRunId}` (its deployment workflow ended: "
            "succeeded or failed)",
        ),
        EventType(
            "promotion.state_changed",
            1,
            "promotion.evaluate",
            "`before`: `{state}`; `after`: `{state, message}` (an evaluation moved it: deploying (approved), "
            "blocked, awaiting_approval, rejected, or cancelled when its approvals expired)",
        ),
        EventType("target.created", 1, "target.create", CHANGE_PAYLOAD),
        EventType("target.updated", 1, "target.update", CHANGE_PAYLOAD),
        EventType("target.deleted", 1, "target.delete", CHANGE_PAYLOAD),
        EventType("target.checked", 1, "target.check", CHANGE_PAYLOAD),
        EventType("freeze_window.deleted", 1, "freeze_window.delete", CHANGE_PAYLOAD),
        EventType("plugin.enabled", 1, "plugin.enable", '`before` and `after`: `{"state": ...}` for the tenant'),
        EventType("plugin.disabled", 1, "plugin.disable", '`before` and `after`: `{"state": ...}` for the tenant'),
        EventType("plugin_instance.created", 1, "plugin_instance.create", CHANGE_PAYLOAD),
        EventType("plugin_instance.updated", 1, "plugin_instance.update", CHANGE_PAYLOAD),
        EventType("plugin_instance.deleted", 1, "plugin_instance.delete", CHANGE_PAYLOAD),
    )
}
EVENT_TYPES = {event.name: event for event in CATALOGUE.values()}


def event_for_action(action: str) -> EventType:
    """The domain event a successful audited action emits (every action has one)."""
    try:
        return CATALOGUE[action]
    except KeyError:
        raise RuntimeError(f"audit action {action!r} has no domain event in platform/events.py CATALOGUE") from None


def emit(
    session: AsyncSession,
    *,
    tenant_id: str,
    type: str,
    resource_type: str,
    resource_id: str,
    data: dict[str, Any],
    occurred_at: datetime | None = None,
) -> OutboxEvent:
    """Add a domain event to the caller's transaction (secrets must already be redacted)."""
    event = OutboxEvent(
        event_id=new_id(),
        tenant_id=tenant_id,
        type=type,
        resource_type=resource_type,
        resource_id=resource_id,
        data=data,
        occurred_at=occurred_at or utcnow(),
    )
    session.add(event)
    session.info[OUTBOX_MARK] = True
    return event
