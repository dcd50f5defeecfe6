"""The one audit writer and the chain verifier.

Each event is written in the transaction of the change it records. Events form a
hash chain per tenant: ``hash = sha256(prev_hash || canonical_json(event))``. The
chain head (last sequence and hash) lives in its own row, locked while appending,
so concurrent writers on PostgreSQL queue on it and the unique (tenant, sequence)
key makes any race fail loudly instead of forking the chain. Deleting the newest
event is caught by comparing the chain to its head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantScoped, UTCDateTime, new_id, sort_indexes, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.events import emit, event_for_action

GENESIS_HASH = "0" * 64
REDACTED = "***"
# Keys redacted wherever they appear in a change, in addition to the paths a
# caller names (a plugin's writeOnly fields).
SECRET_KEY_NAMES = frozenset({"password", "secret", "token", "privatekey", "apikey", "clientsecret"})


class AuditEvent(TenantScoped, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sequence", name="uq_audit_events_tenant_sequence"),
        *sort_indexes(
            "audit_events",
            "occurred_at",
            "action",
            "actor_type",
            "actor_id",
            "resource_type",
            "resource_id",
            "outcome",
            "request_id",
        ),
        Index("ix_audit_events_tenant_resource", "tenant_id", "resource_type", "resource_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[str] = mapped_column(String(255), nullable=False)
    action: Mapped[str] = mapped_column(String(128), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditChainHead(Base):
    __tablename__ = "audit_chain_heads"

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)


@dataclass(frozen=True)
class Actor:
    type: str  # user | agent | system
    id: str


def redact(value: Any, secret_paths: Iterable[str] = (), _path: str = "") -> Any:
    """A copy of ``value`` with secret keys and the given dotted paths replaced by ``***``."""
    paths = set(secret_paths)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            path = f"{_path}.{key}" if _path else str(key)
            if path in paths or str(key).lower().replace("_", "") in SECRET_KEY_NAMES:
                out[key] = REDACTED if item is not None else None
            else:
                out[key] = redact(item, paths, path)
        return out
    if isinstance(value, list):
        return [redact(item, paths, f"{_path}.{i}" if _path else str(i)) for i, item in enumerate(value)]
    return value


def canonical_event(event: AuditEvent) -> str:
    body = {
        "tenantId": event.tenant_id,
        "sequence": event.sequence,
        "id": event.id,
        "occurredAt": rfc3339(event.occurred_at),
        "actorType": event.actor_type,
        "actorId": event.actor_id,
        "action": event.action,
        "resourceType": event.resource_type,
        "resourceId": event.resource_id,
        "requestId": event.request_id,
        "outcome": event.outcome,
        "changes": event.changes,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


async def _lock_head(session: AsyncSession, tenant_id: str) -> AuditChainHead:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(AuditChainHead)
        .values(tenant_id=tenant_id, sequence=0, hash=GENESIS_HASH)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    result = await session.execute(
        select(AuditChainHead)
        .where(AuditChainHead.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one()


async def record_audit(
    session: AsyncSession,
    *,
    tenant_id: str,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None,
    outcome: str = "success",
    request_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    secret_paths: Iterable[str] = (),
) -> AuditEvent:
    """Append one event to the tenant's chain, inside the caller's transaction."""
    paths = list(secret_paths)
    changes: dict[str, Any] = {}
    if before is not None:
        changes["before"] = redact(before, paths)
    if after is not None:
        changes["after"] = redact(after, paths)
    if details:
        changes["details"] = redact(details, paths)
    head = await _lock_head(session, tenant_id)
    event = AuditEvent(
        id=new_id(),
        tenant_id=tenant_id,
        sequence=head.sequence + 1,
        occurred_at=utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        request_id=request_id,
        outcome=outcome,
        # JSON round trip so the hashed form is exactly what the database returns.
        changes=json.loads(json.dumps(changes, default=str)),
        prev_hash=head.hash,
    )
    event.hash = chain_hash(event.prev_hash, canonical_event(event))
    session.add(event)
    if outcome == "success" and resource_id is not None:
        # The change's domain event rides in the same transaction as its audit record,
        # so no committed change lacks either (the transactional outbox).
        domain_event = event_for_action(action)
        emit(
            session,
            tenant_id=tenant_id,
            type=domain_event.name,
            resource_type=resource_type,
            resource_id=resource_id,
            data={"schemaVersion": domain_event.version, **event.changes},
            occurred_at=event.occurred_at,
        )
    head.sequence = event.sequence
    head.hash = event.hash
    await session.flush()
    return event


@dataclass(frozen=True)
class BrokenLink:
    tenant_id: str
    sequence: int
    event_id: str | None
    reason: str

    def describe(self) -> str:
        where = f"event {self.event_id}" if self.event_id else "chain head"
        return f"tenant {self.tenant_id}: sequence {self.sequence} ({where}): {self.reason}"


@dataclass
class ChainReport:
    tenants: int = 0
    events: int = 0
    broken: BrokenLink | None = None


async def _events(session: AsyncSession, tenant_id: str) -> AsyncIterator[AuditEvent]:
    stream = await session.stream_scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.sequence)
    )
    async for event in stream:
        yield event


async def verify_tenant_chain(
    session: AsyncSession, tenant_id: str, head: AuditChainHead | None
) -> tuple[int, BrokenLink | None]:
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    async for event in _events(session, tenant_id):
        count += 1
        if event.sequence != expected_seq:
            return count, BrokenLink(
                tenant_id, expected_seq, event.id, f"missing event (next stored sequence is {event.sequence})"
            )
        if event.prev_hash != prev:
            return count, BrokenLink(tenant_id, event.sequence, event.id, "prev_hash does not match the previous event")
        if chain_hash(event.prev_hash, canonical_event(event)) != event.hash:
            return count, BrokenLink(tenant_id, event.sequence, event.id, "content does not match its hash (edited)")
        prev = event.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if head is None and count:
        # Every append writes the head, so stored events without one mean it was deleted,
        # which would otherwise hide a truncated tail.
        return count, BrokenLink(tenant_id, last_seq, None, "the chain head row is missing")
    if head is not None and (head.sequence != last_seq or head.hash != prev):
        return count, BrokenLink(
            tenant_id,
            last_seq + 1,
            None,
            f"chain head is at sequence {head.sequence} but the chain ends at {last_seq} (events deleted)",
        )
    return count, None


async def verify_chains(session: AsyncSession, tenant_id: str | None = None) -> ChainReport:
    """Walk every tenant's chain (or one) and stop at the first broken link."""
    report = ChainReport()
    heads = {h.tenant_id: h for h in (await session.scalars(select(AuditChainHead))).all()}
    tenants = set(heads)
    tenants |= set((await session.scalars(select(AuditEvent.tenant_id).distinct())).all())
    for tid in sorted(tenants):
        if tenant_id is not None and tid != tenant_id:
            continue
        report.tenants += 1
        count, broken = await verify_tenant_chain(session, tid, heads.get(tid))
        report.events += count
        if broken:
            report.broken = broken
            return report
    return report


# -- signed checkpoints -----------------------------------------------------------------------


def checkpoint_payload(tenant_id: str, sequence: int, chain_hash_value: str, at: str) -> bytes:
    body = {"tenantId": tenant_id, "sequence": sequence, "hash": chain_hash_value, "at": at}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


async def chain_heads(session: AsyncSession, tenant_id: str | None = None) -> list[AuditChainHead]:
    statement = select(AuditChainHead).order_by(AuditChainHead.tenant_id)
    if tenant_id is not None:
        statement = statement.where(AuditChainHead.tenant_id == tenant_id)
    return list((await session.scalars(statement)).all())


async def check_checkpoint(session: AsyncSession, tenant_id: str, sequence: int, expected_hash: str) -> str | None:
    """Why the stored chain no longer contains the checkpointed head, or None if it does."""
    if sequence == 0:
        return None
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.sequence == sequence)
    )
    if event is None:
        return f"the checkpointed event at sequence {sequence} is gone (the chain was truncated)"
    if event.hash != expected_hash:
        return f"the event at sequence {sequence} is not the one checkpointed (the chain was rewritten)"
    return None
