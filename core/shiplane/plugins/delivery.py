"""Delivery of domain events to the plugins' ``on_event`` hooks, from the outbox.

Each server process runs one ``EventDelivery`` loop. It claims undelivered outbox
rows with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas share the
work without taking the same rows), delivers them in order to every plugin enabled
for the event's tenant, then marks them delivered. A process that dies mid-batch
leaves its lease to expire and another claims the rows again: delivery is at
least once, as the hook's contract says. A failing plugin is skipped for that
event (fail open); the others still receive it.

The loop sleeps until a write transaction that emitted events commits in this
process (``Database.outbox_listeners``), or for ``poll_seconds`` at most, which is
how events written by other replicas are picked up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shiplane_sdk import Event
from sqlalchemy import delete, or_, select, update

from shiplane.platform.database import Database, utcnow
from shiplane.platform.events import OutboxEvent
from shiplane.platform.tasks import stop_task, wait_event
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.service import enabled_plugin_ids

log = logging.getLogger("shiplane.events")


@dataclass(frozen=True)
class ClaimedEvent:
    seq: int
    event: Event


class EventDelivery:
    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        *,
        batch_size: int = 100,
        lease_seconds: float = 120.0,
        poll_seconds: float = 2.0,
        retention_hours: float = 168.0,
        prune_every_seconds: float = 600.0,
    ) -> None:
        self.db = db
        self.registry = registry
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.retention = timedelta(hours=retention_hours)
        self.prune_every = prune_every_seconds
        self._next_prune = 0.0
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.pruned = 0
        # The notification fan-out (integrations/notifications.py), when the server has one.
        self.notifications: Any = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.db.outbox_listeners.append(self.wake)
        self._task = asyncio.create_task(self._run(), name="shiplane-event-delivery")

    async def stop(self) -> None:
        if self.wake in self.db.outbox_listeners:
            self.db.outbox_listeners.remove(self.wake)
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + self.prune_every
                    await self.prune_once()
                handled = await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except BaseException:  # noqa: BLE001 - nothing (not even SystemExit) may end the loop
                log.exception("event delivery failed; retrying")
                handled = 0
            if handled:
                continue
            await wait_event(self._wake, self.poll_seconds)
            self._wake.clear()

    def _listening_plugins(self) -> bool:
        if self.notifications is not None and self.notifications.notification_types():
            return True
        return any(self.registry.hook_impl(p.id, "on_event") is not None for p in self.registry.loaded())

    async def deliver_once(self) -> int:
        """Claim one batch, deliver it, mark it delivered; the number of events handled."""
        listening = self._listening_plugins()
        claimed = await self._claim(deliver_now=not listening)
        if not claimed or not listening:
            return len(claimed)
        if self.notifications is not None:
            await self.notifications.fan_out([item.event for item in claimed])
        enabled: dict[str, set[str]] = {}
        for item in claimed:
            tenant = item.event.tenant_id
            if tenant not in enabled:
                async with self.db.session(tenant, write=False) as session:
                    enabled[tenant] = await enabled_plugin_ids(session, self.registry)
            await dispatch_event(self.registry, enabled[tenant], item.event)
        await self._finish([item.seq for item in claimed])
        self.delivered += len(claimed)
        return len(claimed)

    async def prune_once(self) -> int:
        """Delete delivered outbox rows older than the retention period; how many went.

        Kept that long for readers that replay by sequence (``?since=`` on the streams);
        undelivered rows are never pruned, whatever their age.
        """
        cutoff = utcnow() - self.retention
        async with self.db.session(None, write=True) as session:
            result = await session.execute(
                delete(OutboxEvent).where(OutboxEvent.dispatched_at.is_not(None), OutboxEvent.dispatched_at < cutoff)
            )
        pruned = int(getattr(result, "rowcount", 0) or 0)
        if pruned:
            log.info("pruned delivered outbox events", extra={"pruned": pruned})
        self.pruned += pruned
        return pruned

    async def _claim(self, *, deliver_now: bool) -> list[ClaimedEvent]:
        now = utcnow()
        async with self.db.session(None, write=True) as session:
            rows = (
                await session.scalars(
                    select(OutboxEvent)
                    .where(
                        OutboxEvent.dispatched_at.is_(None),
                        or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now),
                    )
                    .order_by(OutboxEvent.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                row.attempts += 1
                if deliver_now:
                    # No plugin listens: nothing to deliver, just mark them done.
                    row.dispatched_at = now
                else:
                    row.lease_owner = self.owner
                    row.lease_until = now + self.lease
            return [ClaimedEvent(row.seq, _sdk_event(row)) for row in rows]

    async def _finish(self, seqs: list[int]) -> None:
        async with self.db.session(None, write=True) as session:
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq.in_(seqs), OutboxEvent.lease_owner == self.owner)
                .values(dispatched_at=utcnow(), lease_owner=None, lease_until=None)
            )


def _sdk_event(row: OutboxEvent) -> Event:
    data: dict[str, Any] = dict(row.data or {})
    occurred: datetime = row.occurred_at
    return Event(
        id=row.event_id,
        type=row.type,
        tenant_id=row.tenant_id,
        occurred_at=occurred,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        data=data,
    )


async def dispatch_event(registry: PluginRegistry, enabled_plugin_ids: set[str], event: Event) -> list[str]:
    """Deliver an event to every enabled plugin with ``on_event``; fail open.

    Returns the ids of plugins whose delivery failed (already logged and counted
    against their breaker); delivery to the others goes on.
    """
    failed = []
    for plugin in registry.loaded():
        if plugin.id not in enabled_plugin_ids:
            continue
        impl = registry.hook_impl(plugin.id, "on_event")
        if impl is None:
            continue
        try:
            await registry.guard.call(plugin.id, "on_event", impl, event=event, tenant_id=event.tenant_id)
        except PluginCallFailed:
            failed.append(plugin.id)
    return failed
