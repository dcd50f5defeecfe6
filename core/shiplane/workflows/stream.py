"""``WS /api/v1/workflow-runs/{id}/stream``: a run's state changes and log lines, live.

Authenticate with ``Authorization: Bearer <token>`` or a ``Sec-WebSocket-Protocol``
entry ``bearer.<token>`` (browsers cannot set headers); the token needs
``workflows:read`` in the run's tenant (another tenant's run is a 404 denial). Each
message is one event as JSON: ``{"type": "event", "seq", "kind": "run"|"step"|"log",
"nodeId", "at", ...}``; ``?since=<seq>`` replays everything after ``seq`` first (the
events are stored, numbered per run), so a client that reconnects with the last
``seq`` it saw misses nothing and sees nothing twice. When the run has finished and
every event is sent, ``{"type": "end", "state"}`` is sent and the stream closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select

from shiplane.agents.stream import deny_websocket, send_until_closed, websocket_credential
from shiplane.platform.envelope import rfc3339
from shiplane.platform.jwt import TokenError
from shiplane.workflows.models import WorkflowRun
from shiplane.workflows.service import events_since
from shiplane.workflows.states import RUN_TERMINAL

router = APIRouter()
POLL_SECONDS = 0.25
BATCH = 500


@router.websocket("/api/v1/workflow-runs/{run_id}/stream")
async def run_stream(websocket: WebSocket, run_id: str) -> None:
    services = websocket.app.state.shiplane
    token = websocket_credential(websocket)
    if token is None:
        await deny_websocket(websocket, 401, "UNAUTHORIZED", "authentication required: missing bearer token")
        return
    try:
        principal = await services.authenticate(token)
    except TokenError as exc:
        await deny_websocket(websocket, 401, "UNAUTHORIZED", f"authentication required: {exc}")
        return
    if not principal.can("workflows:read"):
        await deny_websocket(websocket, 403, "FORBIDDEN", "permission workflows:read required")
        return
    raw_since = websocket.query_params.get("since", "0")
    if not raw_since.isdigit() or len(raw_since) > 18:
        await deny_websocket(websocket, 400, "VALIDATION_ERROR", "since must be a non-negative integer")
        return
    since = int(raw_since)
    async with services.db.session(principal.tenant_id, write=False) as session:
        exists = await session.scalar(select(WorkflowRun.id).where(WorkflowRun.id == run_id))
    if exists is None:
        await deny_websocket(websocket, 404, "NOT_FOUND", f"workflow run {run_id!r} not found")
        return
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    await websocket.accept(subprotocol="shiplane.v1" if "shiplane.v1" in offered else None)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await send_until_closed(websocket, _pump(websocket, services, principal.tenant_id, run_id, since))
        await websocket.close()


async def _pump(websocket: WebSocket, services: Any, tenant: str, run_id: str, since: int) -> None:
    while True:
        async with services.db.session(tenant, write=False) as session:
            state = await session.scalar(select(WorkflowRun.state).where(WorkflowRun.id == run_id))
            rows = await events_since(session, run_id, since, BATCH)
        for row in rows:
            message = {
                "type": "event",
                "seq": row.seq,
                "kind": row.kind,
                "nodeId": row.node_id,
                "at": rfc3339(row.at),
                **row.data,
            }
            await websocket.send_text(json.dumps(message))
            since = row.seq
        if len(rows) == BATCH:
            continue
        if state is None or state in RUN_TERMINAL:
            # The state was read with these events: nothing can follow the final ones.
            await websocket.send_text(json.dumps({"type": "end", "state": state}))
            return
        await asyncio.sleep(POLL_SECONDS)
