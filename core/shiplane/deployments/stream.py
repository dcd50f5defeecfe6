"""The deployment streams, replayable from ``?since=<seq>``.

- ``WS /api/v1/deployment-jobs/{id}/stream``: the job's changes, its tasks' changes and
  their log lines, numbered per job; ``{"type": "end", "state"}`` once the job ended.
- ``WS /api/v1/dashboard/stream``: the tenant's pipeline as it moves: promotions
  requested, approved, blocked, waiting for approval, finished; deployments started
  and finished; rollbacks; agents registered or changed; drift found or gone on a
  target. It is the tenant's audit chain (numbered per tenant by ``sequence``),
  filtered to those actions and to what the caller may read; it never ends. Agents'
  status (derived from heartbeats) comes as ``{"type": "status", "kind": "agent"}``
  messages: every agent's at connection, then each change.

Both authenticate like the workflow-run stream (``Authorization`` header or a
``bearer.<token>`` subprotocol); another tenant's job is a 404 denial.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import or_, select

from shiplane.agents.stream import deny_websocket, send_until_closed, websocket_credential
from shiplane.deployments.models import DeploymentEvent, DeploymentJob
from shiplane.deployments.states import ENDED
from shiplane.platform.audit import AuditEvent
from shiplane.platform.auth import Principal
from shiplane.platform.database import utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.events import CATALOGUE
from shiplane.platform.jwt import TokenError

router = APIRouter()
POLL_SECONDS = 0.25
DASHBOARD_POLL_SECONDS = 0.5
#: How often the dashboard looks at the agents' heartbeats, and how many it shows.
AGENT_POLL_SECONDS = 2.0
MAX_AGENTS_SHOWN = 10_000
BATCH = 500
#: The audit actions the dashboard shows (prefixes end with a dot).
DASHBOARD_ACTIONS = ("promotion.", "deployment_job.", "rollback.", "agent.", "target.drift_change")


async def _open(websocket: WebSocket, permission: str) -> tuple[Principal, int] | None:
    services = websocket.app.state.shiplane
    token = websocket_credential(websocket)
    if token is None:
        await deny_websocket(websocket, 401, "UNAUTHORIZED", "authentication required: missing bearer token")
        return None
    try:
        principal: Principal = await services.authenticate(token)
    except TokenError as exc:
        await deny_websocket(websocket, 401, "UNAUTHORIZED", f"authentication required: {exc}")
        return None
    if not principal.can(permission):
        await deny_websocket(websocket, 403, "FORBIDDEN", f"permission {permission} required")
        return None
    raw_since = websocket.query_params.get("since", "0")
    if not raw_since.isdigit() or len(raw_since) > 18:
        await deny_websocket(websocket, 400, "VALIDATION_ERROR", "since must be a non-negative integer")
        return None
    return principal, int(raw_since)


async def _accept(websocket: WebSocket) -> None:
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    await websocket.accept(subprotocol="shiplane.v1" if "shiplane.v1" in offered else None)


@router.websocket("/api/v1/deployment-jobs/{job_id}/stream")
async def job_stream(websocket: WebSocket, job_id: str) -> None:
    opened = await _open(websocket, "deployments:read")
    if opened is None:
        return
    principal, since = opened
    services = websocket.app.state.shiplane
    async with services.db.session(principal.tenant_id, write=False) as session:
        exists = await session.scalar(select(DeploymentJob.id).where(DeploymentJob.id == job_id))
    if exists is None:
        await deny_websocket(websocket, 404, "NOT_FOUND", f"deployment job {job_id!r} not found")
        return
    await _accept(websocket)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await send_until_closed(websocket, _pump_job(websocket, services, principal.tenant_id, job_id, since))
        await websocket.close()


async def _pump_job(websocket: WebSocket, services: Any, tenant: str, job_id: str, since: int) -> None:
    while True:
        async with services.db.session(tenant, write=False) as session:
            state = await session.scalar(select(DeploymentJob.state).where(DeploymentJob.id == job_id))
            rows = list(
                await session.scalars(
                    select(DeploymentEvent)
                    .where(DeploymentEvent.job_id == job_id, DeploymentEvent.seq > since)
                    .order_by(DeploymentEvent.seq)
                    .limit(BATCH)
                )
            )
        for row in rows:
            message = {
                "type": "event",
                "seq": row.seq,
                "kind": row.kind,
                "targetId": row.target_id,
                "at": rfc3339(row.at),
                **row.data,
            }
            await websocket.send_text(json.dumps(message))
            since = row.seq
        if len(rows) == BATCH:
            continue
        if state is None or state in ENDED:
            # The state was read with these events: nothing follows the final ones.
            await websocket.send_text(json.dumps({"type": "end", "state": state}))
            return
        await asyncio.sleep(POLL_SECONDS)


@router.websocket("/api/v1/dashboard/stream")
async def dashboard_stream(websocket: WebSocket) -> None:
    opened = await _open(websocket, "promotions:read")
    if opened is None:
        return
    principal, since = opened
    await _accept(websocket)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await send_until_closed(websocket, _pump_dashboard(websocket, websocket.app.state.shiplane, principal, since))


def _dashboard_actions(principal: Principal) -> list[str]:
    """What the caller may read of the dashboard: promotions always (the stream's own
    permission), the rest with the permission its endpoints need."""
    allowed = [("promotion.", "promotions:read"), ("deployment_job.", "deployments:read")]
    allowed += [("rollback.", "rollbacks:read"), ("agent.", "agents:read"), ("target.drift_change", "targets:read")]
    return [prefix for prefix, permission in allowed if principal.can(permission)]


async def _agent_statuses(services: Any, tenant: str) -> dict[str, dict[str, Any]]:
    from shiplane.agents.models import Agent
    from shiplane.agents.schemas import agent_status

    liveness = timedelta(seconds=services.settings.agent_liveness_seconds)
    now = utcnow()
    async with services.db.session(tenant, write=False) as session:
        rows = await session.execute(
            select(Agent.id, Agent.name, Agent.last_heartbeat_at, Agent.disabled, Agent.draining)
            .order_by(Agent.id)
            .limit(MAX_AGENTS_SHOWN)
        )
        return {
            row.id: {
                "agentId": row.id,
                "name": row.name,
                "status": agent_status(row, now, liveness),
                "lastHeartbeatAt": rfc3339(row.last_heartbeat_at) if row.last_heartbeat_at else None,
            }
            for row in rows
        }


async def _pump_dashboard(websocket: WebSocket, services: Any, principal: Principal, since: int) -> None:
    tenant = principal.tenant_id
    wanted = or_(*(AuditEvent.action.startswith(prefix) for prefix in _dashboard_actions(principal)))
    agents: dict[str, dict[str, Any]] | None = {} if principal.can("agents:read") else None
    next_agents = 0.0
    while True:
        async with services.db.session(tenant, write=False) as session:
            rows = list(
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.sequence > since, AuditEvent.outcome == "success", wanted)
                    .order_by(AuditEvent.sequence)
                    .limit(BATCH)
                )
            )
        for row in rows:
            event = CATALOGUE.get(row.action)
            changes = row.changes or {}
            message = {
                "type": "event",
                "seq": row.sequence,
                "event": event.name if event is not None else row.action,
                "resourceType": row.resource_type,
                "resourceId": row.resource_id,
                "actor": {"type": row.actor_type, "id": row.actor_id},
                "at": rfc3339(row.occurred_at),
                "data": changes.get("after") if isinstance(changes, dict) else None,
            }
            await websocket.send_text(json.dumps(message, default=str))
            since = row.sequence
        if agents is not None and time.monotonic() >= next_agents:
            # Agents' status is derived from their heartbeats (no event marks an agent going
            # offline): each connection gets every agent's status first, then each change.
            next_agents = time.monotonic() + AGENT_POLL_SECONDS
            now = await _agent_statuses(services, tenant)
            for agent_id, status in now.items():
                seen = agents.get(agent_id)
                if seen is None or seen["status"] != status["status"]:
                    message = {"type": "status", "kind": "agent", "at": rfc3339(utcnow()), **status}
                    await websocket.send_text(json.dumps(message))
            agents = now
        if len(rows) < BATCH:
            await asyncio.sleep(DASHBOARD_POLL_SECONDS)
