"""Domain events and the transactional outbox.

A change's domain event is written in the change's own transaction (``emit``), so
a committed change always has its event and a rolled-back one never does. After
commit, deliverers read the outbox: today the plugin ``on_event`` delivery
(plugins/delivery.py); the WebSocket streams will read the same rows by ``seq``.
"""

from __future__ import annotations

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
