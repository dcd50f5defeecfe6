"""Domain events to the tenant's notification integrations (webhook, smtp, ...).

Two steps, both durable:

1. **Fan-out.** When the event delivery loop (plugins/delivery.py) takes a batch of
   committed events from the outbox, it calls :meth:`Notifications.fan_out`: for each
   event, every integration of the tenant whose type is a ``notification``
   integration type with ``notify``, whose plugin is enabled for the tenant, and
   whose config's ``events`` patterns match the event type, gets one ``notify`` work
   item. The item's id is derived from (integration, event), so an event fanned out
   twice (a lease that ran out mid-batch) still makes one delivery.
2. **Delivery.** :class:`NotificationWorker` claims ``notify`` items from the work
   queue and calls the integration type's ``notify`` through the plugin guard
   (timeout, breaker). A failure puts the item back with exponential backoff, up to
   ``notification_max_attempts``; then it is ``failed`` with the last error.

Neither step runs inside the request that caused the event: a receiver that is
down never slows an API call. ``events`` patterns: ``*`` (every event), an exact
type (``release.sealed``) or a prefix ending in ``.*`` (``promotion.*``); a config
without ``events`` receives every event.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any, Literal

from shiplane_sdk import Event, IntegrationType, NotificationMessage
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.engine.models import WorkItem
from shiplane.engine.queue import Claim, WorkQueue
from shiplane.integrations.models import Integration
from shiplane.platform.database import Database
from shiplane.platform.errors import ApiError
from shiplane.platform.secrets import SecretBox, secret_values, unseal
from shiplane.platform.tasks import stop_task
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.service import enabled_plugin_ids

log = logging.getLogger("shiplane.notifications")

KIND = "notify"
_NAMESPACE = uuid.UUID("6d1f3f0e-5b7a-4c55-9a43-2f6f3b1d9e10")
_SEVERE = ("failed", "rejected", "blocked", "rolled_back")


def event_matches(patterns: Any, event_type: str) -> bool:
    """Whether an ``events`` filter admits ``event_type`` (see the module docstring)."""
    if patterns is None:
        return True
    if not isinstance(patterns, list):
        return False
    for pattern in patterns:
        if not isinstance(pattern, str):
            continue
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def call_timeout(config: dict[str, Any]) -> float | None:
    """A notification type's own ``timeoutSeconds`` (plus slack), when it allows longer than the default."""
    wanted = config.get("timeoutSeconds")
    if isinstance(wanted, int | float) and not isinstance(wanted, bool) and 0 < wanted <= 120:
        return float(wanted) + 5.0
    return None


def delivery_id(integration_id: str, event_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{integration_id}:{event_id}"))


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "tenantId": event.tenant_id,
        "occurredAt": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "resourceType": event.resource_type,
        "resourceId": event.resource_id,
        "data": event.data,
    }


def message_for(event: dict[str, Any], delivery: str, attempt: int) -> NotificationMessage:
    kind = event["type"]
    severity: Literal["info", "error"] = "error" if kind.rsplit(".", 1)[-1] in _SEVERE else "info"
    subject = f"{kind}: {event['resourceType']} {event['resourceId']}"
    body = (
        f"Shiplane event {kind} for {event['resourceType']} {event['resourceId']} "
        f"in tenant {event['tenantId']} at {event['occurredAt']}."
    )
    return NotificationMessage(
        subject=subject,
        body=body,
        severity=severity,
        data={"event": event, "delivery": {"id": delivery, "attempt": attempt}},
    )


class Notifications:
    """Fan-out of events to notification integrations, and their delivery worker."""

    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        queue: WorkQueue,
        box: SecretBox,
        *,
        max_attempts: int = 20,
        retry_seconds: float = 5.0,
        lease_seconds: float = 120.0,
        concurrency: int = 4,
        poll_seconds: float = 2.0,
    ) -> None:
        self.db = db
        self.registry = registry
        self.queue = queue
        self.box = box
        self.max_attempts = max_attempts
        self.retry = timedelta(seconds=retry_seconds)
        self.lease = timedelta(seconds=lease_seconds)
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.counts: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def notification_types(self) -> dict[str, str]:
        """Integration type id -> plugin id, for every type that can notify."""
        found = {}
        for type_id, registered in self.registry.capabilities.get("integration_type", {}).items():
            capability = registered.capability
            if (
                isinstance(capability, IntegrationType)
                and getattr(capability, "category", None) == "notification"
                and capability.supports("notify")
            ):
                found[type_id] = registered.plugin_id
        return found

    # -- fan-out ----------------------------------------------------------------------------

    async def fan_out(self, events: list[Event]) -> int:
        """Enqueue a delivery per (matching integration, event); how many were enqueued."""
        types = self.notification_types()
        if not types or not events:
            return 0
        enqueued = 0
        by_tenant: dict[str, list[Event]] = {}
        for event in events:
            by_tenant.setdefault(event.tenant_id, []).append(event)
        for tenant, tenant_events in by_tenant.items():
            async with self.db.session(tenant, write=False) as session:
                enabled = await enabled_plugin_ids(session, self.registry)
                integrations = list(
                    (
                        await session.execute(
                            select(Integration.id, Integration.type_id, Integration.config).where(
                                Integration.type_id.in_(list(types))
                            )
                        )
                    ).all()
                )
            targets = [i for i in integrations if types[i.type_id] in enabled]
            wanted = [
                (integration.id, event)
                for event in tenant_events
                for integration in targets
                if event_matches(
                    integration.config.get("events") if isinstance(integration.config, dict) else None, event.type
                )
            ]
            if wanted:
                enqueued += await self._enqueue(tenant, wanted)
        return enqueued

    async def _enqueue(self, tenant: str, wanted: list[tuple[str, Event]]) -> int:
        ids = {delivery_id(integration_id, event.id): (integration_id, event) for integration_id, event in wanted}
        try:
            async with self.db.session(tenant, write=True) as session:
                existing = set(await session.scalars(select(WorkItem.id).where(WorkItem.id.in_(list(ids)))))
                for item_id, (integration_id, event) in ids.items():
                    if item_id in existing:
                        continue
                    payload = {"integrationId": integration_id, "event": _event_json(event)}
                    await self.queue.enqueue(session, KIND, payload, max_attempts=self.max_attempts, item_id=item_id)
                fresh = len(ids) - len(existing)
        except IntegrityError:
            # Another process enqueued some of the same deliveries first: add the rest one
            # at a time, so a duplicate never drops the others.
            fresh = 0
            for item_id, (integration_id, event) in ids.items():
                try:
                    async with self.db.session(tenant, write=True) as session:
                        if await session.scalar(select(WorkItem.id).where(WorkItem.id == item_id)) is None:
                            payload = {"integrationId": integration_id, "event": _event_json(event)}
                            await self.queue.enqueue(
                                session, KIND, payload, max_attempts=self.max_attempts, item_id=item_id
                            )
                            fresh += 1
                except IntegrityError:
                    continue
        self.counts["enqueued"] += fresh
        return fresh

    # -- delivery ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="shiplane-notifications")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        # Slots, not batches: a slow receiver holds one slot, the others keep delivering.
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                free = self.concurrency - len(running)
                try:
                    claims = await self.queue.claim([KIND], self.lease, limit=free) if free > 0 else []
                except asyncio.CancelledError:
                    raise
                except BaseException:  # noqa: BLE001 - the loop must survive anything
                    log.exception("claiming notifications failed; retrying")
                    claims = []
                for claim in claims:
                    task = asyncio.create_task(self._deliver_logged(claim))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(lambda _: self.queue.wake())
                if not claims:
                    await self.queue.wait(self.poll_seconds)
        finally:
            for task in running:
                task.cancel()

    async def _deliver_logged(self, claim: Claim) -> None:
        try:
            await self._deliver(claim)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the item's lease runs out and it is tried again
            log.exception("notification delivery failed", extra={"item": claim.id})

    async def _deliver(self, claim: Claim) -> None:
        integration_id = str(claim.payload.get("integrationId", ""))
        event = claim.payload.get("event") or {}
        try:
            prepared = await self._prepare(claim.tenant_id, integration_id)
        except ApiError as exc:
            # Deleted, or its plugin disabled or gone: nothing to deliver to any more.
            await self.queue.complete(claim.id, claim.epoch, {"skipped": exc.message})
            self.counts["skipped"] += 1
            return
        type_id, plugin_id, capability, config, secrets = prepared
        message = message_for(event, claim.id, claim.attempts)
        try:
            await self.registry.guard.call(
                plugin_id,
                "integration notify",
                capability.notify,
                config,
                message,
                secrets=secrets,
                tenant_id=claim.tenant_id,
                timeout=call_timeout(config),
                # One receiver that is down must not open the breaker for the tenant's other
                # notification integrations of the same plugin: the queue's backoff throttles.
                breaker_free=True,
            )
        except PluginCallFailed as exc:
            await self.queue.fail(claim.id, claim.epoch, exc.reason, backoff=self.retry)
            self.counts["failed_attempt"] += 1
            log.info(
                "notification not delivered; retrying",
                extra={"integration": integration_id, "type": type_id, "attempt": claim.attempts},
            )
            return
        await self.queue.complete(claim.id, claim.epoch, {"delivered": True, "attempt": claim.attempts})
        self.counts["delivered"] += 1

    async def _prepare(
        self, tenant: str, integration_id: str
    ) -> tuple[str, str, IntegrationType, dict[str, Any], list[str]]:
        async with self.db.session(tenant, write=False) as session:
            row = await session.scalar(select(Integration).where(Integration.id == integration_id))
            if row is None:
                raise ApiError("NOT_FOUND", f"integration {integration_id!r} no longer exists")
            return await notifier(session, self.registry, self.box, row)


async def notifier(
    session: AsyncSession, registry: PluginRegistry, box: SecretBox, row: Integration
) -> tuple[str, str, IntegrationType, dict[str, Any], list[str]]:
    """What delivering through the integration ``row`` takes: its type, plugin, capability,
    clear config and secret values (ApiError when its type cannot notify for the tenant)."""
    registered = registry.capabilities.get("integration_type", {}).get(row.type_id)
    if registered is None:
        raise ApiError("NOT_FOUND", f"integration type {row.type_id!r} is not installed")
    if registered.plugin_id not in await enabled_plugin_ids(session, registry):
        raise ApiError("PLUGIN_DISABLED", f"plugin {registered.plugin_id!r} is disabled for the tenant")
    capability = registered.capability
    if not isinstance(capability, IntegrationType) or not capability.supports("notify"):
        raise ApiError("VALIDATION_ERROR", f"integration type {row.type_id!r} cannot send notifications")
    paths = capability.secret_fields()
    config = unseal(row.config, paths, box)
    return row.type_id, registered.plugin_id, capability, config, secret_values(config, paths)
