"""The deployment streams, replayable from ``?since=<seq>``.

- ``WS /api/v1/deployment-jobs/{id}/stream``: the job's changes, its tasks' changes and
  their log lines, numbered per job; ``{"type": "end", "state"}`` once the job ended.
- ``WS /api/v1/dashboard/stream``: the tenant's pipeline as it moves: promotions
  requested, approved, blocked, waiting for approval, finished; deployments started
  and finished; rollbacks; agents registered or changed. It is the tenant's audit
  chain (numbered per tenant by ``sequence``), filtered to those actions; it never ends.

Both authenticate like the workflow-run stream (``Authorization`` header or a
``bearer.<token>`` subprotocol); another tenant's job is a 404 denial.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import or_, select

from shiplane.agents.stream import deny_websocket, websocket_credential
from shiplane.deployments.models import DeploymentEvent, DeploymentJob
from shiplane.deployments.states import ENDED
from shiplane.platform.audit import AuditEvent
from shiplane.platform.auth import Principal
from shiplane.platform.envelope import rfc3339
from shiplane.platform.events import CATALOGUE
from shiplane.platform.jwt import TokenError

router = APIRouter()
POLL_SECONDS = 0.25
DASHBOARD_POLL_SECONDS = 0.5
BATCH = 500
#: The audit actions the dashboard shows (prefixes end with a dot).
DASHBOARD_ACTIONS = ("promotion.", "deployment_job.", "rollback.", "agent.")


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
        await _pump_job(websocket, services, principal.tenant_id, job_id, since)
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
        await _pump_dashboard(websocket, websocket.app.state.shiplane, principal.tenant_id, since)


async def _pump_dashboard(websocket: WebSocket, services: Any, tenant: str, since: int) -> None:
    wanted = or_(*(AuditEvent.action.startswith(prefix) for prefix in DASHBOARD_ACTIONS))
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
        if len(rows) < BATCH:
            await asyncio.sleep(DASHBOARD_POLL_SECONDS)
