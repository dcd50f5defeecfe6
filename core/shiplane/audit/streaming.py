"""Audit streaming (docs/audit-streaming.md): every audit event of a tenant is forwarded,
at least once and in order, to each SIEM sink the tenant configured (an integration
whose type can ``send_audit``: the ``siem`` plugin's ``splunk-hec`` and ``syslog``).

Each sink has a cursor (the last sequence it accepted). A delivery pass, in every
server, claims a sink with a short lease (a compare-and-set, so one process sends to a
sink at a time), sends the next batch of up to 100 events through the plugin guard,
and moves the cursor only when the sink accepted them: a sink that is down is retried
with backoff (2 s doubling to 5 minutes) and never holds up a request, which only
writes the audit row as before.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from shiplane_sdk import AuditRecord, IntegrationType
from sqlalchemy import BigInteger, Integer, String, Text, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.integrations.models import Integration
from shiplane.platform.audit import AuditChainHead, AuditEvent, canonical_event
from shiplane.platform.database import Base, Database, TenantScoped, UTCDateTime, utcnow
from shiplane.platform.secrets import SecretBox, secret_values, unseal
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.service import enabled_plugin_ids

log = logging.getLogger("shiplane.audit")

BATCH = 100
LEASE = timedelta(seconds=120)
MAX_BACKOFF = 300.0
COUNTS: Counter[str] = Counter()
#: The largest number of events a sink was behind at the last pass (for /metrics).
LAG: dict[str, int] = {"max": 0}


class AuditSinkCursor(TenantScoped, Base):
    """How far a SIEM sink (an integration) has accepted its tenant's audit chain."""

    __tablename__ = "audit_sink_cursors"

    integration_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def sink_types(registry: PluginRegistry) -> dict[str, tuple[str, IntegrationType]]:
    """Integration type id -> (plugin id, capability) for every type that can send_audit."""
    found = {}
    for type_id, registered in registry.capabilities.get("integration_type", {}).items():
        capability = registered.capability
        if isinstance(capability, IntegrationType) and capability.supports("send_audit"):
            found[type_id] = (registered.plugin_id, capability)
    return found


def record_of(event: AuditEvent) -> AuditRecord:
    return AuditRecord(
        id=event.id,
        tenant_id=event.tenant_id,
        sequence=event.sequence,
        occurred_at=event.occurred_at,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        action=event.action,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        outcome=event.outcome,
        request_id=event.request_id,
        changes=event.changes,
        prev_hash=event.prev_hash,
        hash=event.hash,
        canonical=canonical_event(event),
    )


async def _claim(db: Database, tenant: str, integration_id: str) -> tuple[int, datetime] | None:
    """Lease the sink's cursor (made at 0 the first time): its sequence and the lease, or
    None if another process holds it or it is backing off."""
    now = utcnow()
    lease = now + LEASE
    async with db.session(tenant, write=True) as session:
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(AuditSinkCursor)
            .values(tenant_id=tenant, integration_id=integration_id, sequence=0, attempts=0, last_error="")
            .on_conflict_do_nothing(index_elements=["integration_id"])
        )
        claimed = await session.execute(
            update(AuditSinkCursor)
            .where(
                AuditSinkCursor.integration_id == integration_id,
                (AuditSinkCursor.lease_until.is_(None)) | (AuditSinkCursor.lease_until < now),
                (AuditSinkCursor.next_attempt_at.is_(None)) | (AuditSinkCursor.next_attempt_at <= now),
            )
            .values(lease_until=lease)
            .returning(AuditSinkCursor.sequence)
            .execution_options(synchronize_session=False)
        )
        row = claimed.first()
        return None if row is None else (int(row[0]), lease)


async def _write_cursor(
    db: Database, tenant: str, integration_id: str, lease: datetime, values: dict[str, Any]
) -> bool:
    """Write the cursor while still holding ``lease``: a process whose lease lapsed writes
    nothing, so the new holder's cursor stands. Whether it wrote."""
    async with db.session(tenant, write=True) as session:
        result = await session.execute(
            update(AuditSinkCursor)
            .where(AuditSinkCursor.integration_id == integration_id, AuditSinkCursor.lease_until == lease)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def deliver_all(db: Database, registry: PluginRegistry, box: SecretBox, max_batches: int = 20) -> int:
    """One pass over every tenant's sinks; how many events were delivered."""
    types = sink_types(registry)
    if not types:
        return 0
    async with db.session(None, write=False) as session:
        sinks = list(
            await session.execute(
                select(Integration.tenant_id, Integration.id).where(Integration.type_id.in_(sorted(types)))
            )
        )
    delivered, lag = 0, 0
    for tenant, integration_id in sinks:
        try:
            sent, behind = await deliver(db, registry, box, tenant, integration_id, types, max_batches)
        except Exception:  # noqa: BLE001 - one sink's trouble must not starve the others
            log.exception("streaming to an audit sink failed", extra={"integration": integration_id})
            continue
        delivered += sent
        lag = max(lag, behind)
    LAG["max"] = lag
    return delivered


async def deliver(
    db: Database,
    registry: PluginRegistry,
    box: SecretBox,
    tenant: str,
    integration_id: str,
    types: dict[str, tuple[str, IntegrationType]],
    max_batches: int,
) -> tuple[int, int]:
    """Send the sink what it has not accepted yet (up to ``max_batches`` batches); (sent, behind)."""
    async with db.session(tenant, write=False) as session:
        row = await session.scalar(select(Integration).where(Integration.id == integration_id))
        if row is None or row.type_id not in types:
            return 0, 0
        plugin_id, capability = types[row.type_id]
        if plugin_id not in await enabled_plugin_ids(session, registry):
            return 0, 0
        paths = capability.secret_fields()
        config = unseal(row.config, paths, box)
        head = await session.scalar(select(AuditChainHead.sequence).where(AuditChainHead.tenant_id == tenant))
    claimed = await _claim(db, tenant, integration_id)
    if claimed is None:
        return 0, 0
    position, lease = claimed
    sent = 0
    values: dict[str, Any] = {}
    held = True
    try:
        for _ in range(max_batches):
            async with db.session(tenant, write=False) as session:
                events = list(
                    await session.scalars(
                        select(AuditEvent)
                        .where(AuditEvent.sequence > position)
                        .order_by(AuditEvent.sequence)
                        .limit(BATCH)
                    )
                )
            if not events:
                break
            records = [record_of(e) for e in events]
            try:
                await registry.guard.call(
                    plugin_id,
                    f"integration {row.type_id} send_audit",
                    capability.send_audit,
                    config,
                    records,
                    secrets=secret_values(config, paths),
                    tenant_id=tenant,
                    # The sink's own deadline, with room for its clearer error first.
                    timeout=float(config.get("timeoutSeconds") or 10) + 5,
                    breaker_free=True,  # one sink down must not stop the tenant's others
                )
            except PluginCallFailed as exc:
                attempts = await _attempts(db, tenant, integration_id) + 1
                backoff = min(2.0 ** min(attempts, 16), MAX_BACKOFF)
                values = {
                    "attempts": attempts,
                    "next_attempt_at": utcnow() + timedelta(seconds=backoff),
                    "last_error": str(exc)[:2000],
                    "sequence": position,
                }
                COUNTS["failed_batch"] += 1
                log.info("audit sink refused a batch; retrying", extra={"integration": integration_id})
                break
            position = events[-1].sequence
            sent += len(events)
            COUNTS["delivered"] += len(events)
            values = {"attempts": 0, "next_attempt_at": None, "last_error": "", "sequence": position}
            values["delivered_at"] = utcnow()
            renewed = utcnow() + LEASE
            held = await _write_cursor(db, tenant, integration_id, lease, {**values, "lease_until": renewed})
            if not held:
                break  # the lease lapsed: another process has the sink now
            lease = renewed
    finally:
        if held:
            await _write_cursor(db, tenant, integration_id, lease, {**values, "lease_until": None})
    return sent, max(int(head or 0) - position, 0)


async def _attempts(db: Database, tenant: str, integration_id: str) -> int:
    async with db.session(tenant, write=False) as session:
        value = await session.scalar(
            select(AuditSinkCursor.attempts).where(AuditSinkCursor.integration_id == integration_id)
        )
        return int(value or 0)


async def sink_status(db: Database, tenant: str, integration_id: str) -> dict[str, Any] | None:
    async with db.session(tenant, write=False) as session:
        row = await session.scalar(select(AuditSinkCursor).where(AuditSinkCursor.integration_id == integration_id))
        head = await session.scalar(select(AuditChainHead.sequence).where(AuditChainHead.tenant_id == tenant))
        if row is None:
            return None
        return {
            "deliveredSequence": row.sequence,
            "headSequence": int(head or 0),
            "behind": max(int(head or 0) - row.sequence, 0),
            "attempts": row.attempts,
            "lastError": row.last_error or None,
            "nextAttemptAt": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        }
