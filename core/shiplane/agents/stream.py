"""``WS /api/v1/agents/{id}/task-stream``: the agent's channel (DESIGN §6).

Messages are JSON ``{type, seq, ts, data}``. The credential travels in the
``Authorization`` header, or as a ``Sec-WebSocket-Protocol`` entry ``bearer.<token>``
beside ``shiplane.v1`` (the one the server selects), never in the URL.

Server -> agent: ``task.offer {taskId, kind}``, ``task.assign {taskId, epoch,
leaseExpiresAt, payload}``, ``task.cancel {taskId, reason}``, ``task.rejected {taskId,
reason}``, ``ping``. Agent -> server: ``hello {version, capabilities, inFlight}``,
``task.accept {taskId}``, ``task.renew {taskId, epoch}``, ``task.log {taskId, epoch,
line}``, ``task.result {taskId, epoch, outcome, result}``, ``pong``.

Accepting is the queue's compare-and-set (a new epoch and lease); a renewal or result
with an epoch that is no longer the task's is refused (``task.rejected``). A dropped
socket does not re-queue anything: the lease does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select, update
from starlette.responses import JSONResponse

from shiplane.agents.models import Agent
from shiplane.agents.tasks import KIND_PREFIX, AgentTasks, task_kind
from shiplane.platform.database import utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.jwt import TokenError
from shiplane.platform.tasks import wait_event

log = logging.getLogger("shiplane.agents")
router = APIRouter()

PROTOCOL = "shiplane.v1"
MAX_OFFERS = 4
OFFER_SECONDS = 30.0
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_LOG_LINES = 500
PING_SECONDS = 20.0


def websocket_credential(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for entry in websocket.headers.get("sec-websocket-protocol", "").split(","):
        entry = entry.strip()
        if entry.startswith("bearer."):
            return entry[len("bearer.") :]
    return None


async def deny_websocket(websocket: WebSocket, status: int, code: str, message: str) -> None:
    body = {"success": False, "error": {"code": code, "message": message}}
    await websocket.send_denial_response(JSONResponse(body, status_code=status))


async def send_until_closed(websocket: WebSocket, pump: Coroutine[Any, Any, None]) -> None:
    """Run a send-only stream's ``pump`` while listening for the client going away: a
    closed tab, or the server shutting down (uvicorn closes its WebSockets), ends the
    pump at once instead of at its next send (an idle stream would otherwise keep a
    stopping server waiting)."""

    async def listen() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # a client has nothing to say on these streams

    sending = asyncio.ensure_future(pump)
    listening = asyncio.ensure_future(listen())
    try:
        await asyncio.wait({sending, listening}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, listening):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    if sending.done() and not sending.cancelled() and sending.exception() is not None:
        raise sending.exception()  # type: ignore[misc]


class Session:
    """One connected agent."""

    def __init__(self, websocket: WebSocket, agent_id: str, tenant_id: str, tasks: AgentTasks) -> None:
        self.websocket = websocket
        self.agent_id = agent_id
        self.tenant_id = tenant_id
        self.tasks = tasks
        self.kind = task_kind(agent_id)
        self.seq = 0
        self.offered: dict[str, float] = {}  # taskId -> when offered (an unanswered offer lapses)
        self.assigned: dict[str, tuple[int, dict[str, Any]]] = {}  # taskId -> (epoch, payload)
        self.logs: dict[str, list[str]] = {}
        self.send_lock = asyncio.Lock()
        self.counts: Counter[str] = Counter()

    async def send(self, type_: str, data: dict[str, Any] | None = None) -> None:
        async with self.send_lock:
            self.seq += 1
            message = {"type": type_, "seq": self.seq, "ts": rfc3339(datetime.now(UTC)), "data": data or {}}
            await self.websocket.send_text(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        raw = await self.websocket.receive_text()
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ValueError("message too large")
        message = json.loads(raw)
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ValueError("not a message")
        data = message.get("data")
        message["data"] = data if isinstance(data, dict) else {}
        return message

    async def hello(self, data: dict[str, Any]) -> None:
        """On (re)connect: the agent's version and capabilities, and the tasks it still holds
        keep their lease if it is still theirs."""
        values: dict[str, Any] = {"last_heartbeat_at": utcnow()}
        if isinstance(data.get("version"), str):
            values["agent_version"] = data["version"][:64]
        capabilities = data.get("capabilities")
        if isinstance(capabilities, list) and all(isinstance(c, str) and len(c) <= 128 for c in capabilities):
            values["capabilities"] = list(dict.fromkeys(capabilities))[:100]
        async with self.tasks.db.session(self.tenant_id, write=True) as session:
            await session.execute(
                update(Agent)
                .where(Agent.id == self.agent_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        for item in data.get("inFlight") or []:
            if not isinstance(item, dict):
                continue
            task_id, epoch = str(item.get("taskId")), item.get("epoch")
            lease = await self.tasks.queue.lease_of(task_id)
            now = datetime.now(UTC)
            if lease is not None and lease[0] == "leased" and lease[1] == epoch and lease[2] and lease[2] > now:
                self.assigned[task_id] = (int(epoch), {})
            else:
                await self.send("task.cancel", {"taskId": task_id, "reason": "the lease is no longer yours"})

    async def offer(self, due: list[tuple[str, int]]) -> None:
        """Offer due tasks (id, expired lease's epoch or -1), at most MAX_OFFERS outstanding;
        nothing to a draining or disabled agent."""
        now = time.monotonic()
        for task_id in [t for t, at in self.offered.items() if now - at > OFFER_SECONDS]:
            del self.offered[task_id]  # never answered: it may be offered again
        for task_id, expired_epoch in due:
            held = self.assigned.get(task_id)
            if held is not None and held[0] == expired_epoch:
                # The lease this stream holds ran out: offered again (an accept then takes a
                # new epoch, and the old one is fenced out).
                del self.assigned[task_id]
        fresh = [t for t, _ in due if t not in self.offered and t not in self.assigned]
        room = MAX_OFFERS - len(self.assigned) - len(self.offered)
        if not fresh or room <= 0 or not await self._accepting():
            return
        for task_id in fresh[:room]:
            self.offered[task_id] = now
            self.counts["offered"] += 1
            await self.send("task.offer", {"taskId": task_id, "kind": self.kind})

    async def _agent(self) -> Agent | None:
        async with self.tasks.db.session(self.tenant_id, write=False) as session:
            return await session.scalar(select(Agent).where(Agent.id == self.agent_id))

    async def _accepting(self) -> bool:
        """Takes new work: exists, neither disabled nor draining."""
        agent = await self._agent()
        return agent is not None and not agent.disabled and not agent.draining

    async def _still_enabled(self) -> bool:
        """The agent still exists and is not disabled (checked per message that gets or
        gives work: deleting an agent ends what its open stream may do at once)."""
        agent = await self._agent()
        return agent is not None and not agent.disabled

    async def handle(self, message: dict[str, Any]) -> None:
        kind, data = message["type"], message["data"]
        task_id = str(data.get("taskId", ""))
        if kind in ("task.accept", "task.result", "task.renew") and not await self._still_enabled():
            await self.send("task.cancel", {"taskId": task_id, "reason": "the agent is deleted or disabled"})
            await self.websocket.close(code=4403)
            return
        if kind == "task.accept":
            if task_id not in self.offered:
                await self.send("task.cancel", {"taskId": task_id, "reason": "not offered on this stream"})
                return
            self.offered.pop(task_id, None)
            claim = await self.tasks.queue.claim_item(task_id, self.kind, self.tasks.lease, owner=self.agent_id)
            if claim is None:
                await self.send("task.cancel", {"taskId": task_id, "reason": "taken or finished"})
                self.tasks.queue.wake()
                return
            payload = await self.tasks.assignment(claim, self.agent_id)
            if payload is None:
                if "targetId" in claim.payload:
                    reason = "the target no longer exists or is bound to another agent"
                else:
                    reason = "the task is not for an agent of its tenant"
                await self.tasks.queue.fail(claim.id, claim.epoch, reason)
                await self.send("task.cancel", {"taskId": task_id, "reason": reason})
                return
            self.assigned[task_id] = (claim.epoch, claim.payload)
            self.counts["assigned"] += 1
            await self.send(
                "task.assign",
                {
                    "taskId": task_id,
                    "epoch": claim.epoch,
                    "leaseExpiresAt": rfc3339(claim.lease_expires_at),
                    "leaseSeconds": self.tasks.lease.total_seconds(),
                    "payload": payload,
                },
            )
        elif kind == "task.renew":
            # Only a lease this stream holds, with its current epoch, can be renewed.
            held = self.assigned.get(task_id)
            epoch = int(data.get("epoch", -1))
            if held is None or held[0] != epoch or not await self.tasks.queue.renew(task_id, epoch, self.tasks.lease):
                if held is not None and held[0] == epoch:
                    del self.assigned[task_id]
                self.counts["rejected"] += 1
                await self.send("task.rejected", {"taskId": task_id, "reason": "stale epoch"})
        elif kind == "task.log":
            # Only for a task this stream holds, with its current epoch: nothing else is kept.
            held = self.assigned.get(task_id)
            if held is not None and held[0] == data.get("epoch"):
                lines = self.logs.setdefault(task_id, [])
                if len(lines) < MAX_LOG_LINES:
                    lines.append(str(data.get("line", ""))[:4000])
        elif kind == "task.result":
            epoch = int(data.get("epoch", -1))
            held = self.assigned.get(task_id)
            if held is None or held[0] != epoch:  # not this stream's lease, or an old one
                self.counts["rejected"] += 1
                await self.send("task.rejected", {"taskId": task_id, "reason": "stale epoch"})
                return
            del self.assigned[task_id]
            payload = held[1] or await self._payload(task_id)
            result = data.get("result") if isinstance(data.get("result"), dict) else {}
            result = {**result, "log": self.logs.pop(task_id, [])}
            outcome = "succeeded" if data.get("outcome") == "succeeded" else "failed"
            recorded = await self.tasks.record(task_id, epoch, self.tenant_id, payload, outcome, result)
            self.counts[outcome if recorded else "rejected"] += 1
            if not recorded:
                await self.send("task.rejected", {"taskId": task_id, "reason": "stale epoch"})
            self.tasks.queue.wake()  # the agent has room again: offer it the next task now
        elif kind == "hello":
            await self.hello(data)

    async def _payload(self, task_id: str) -> dict[str, Any]:
        from shiplane.engine.models import WorkItem

        async with self.tasks.db.session(None, write=False) as session:
            row = await session.scalar(
                select(WorkItem.payload).where(WorkItem.id == task_id, WorkItem.kind == self.kind)
            )
        return dict(row or {})


class Dispatcher:
    """One per process: finds due agent tasks in one query per wake and offers each to its
    agent's stream if the agent is connected here (otherwise its own process offers it).

    Woken by the queue (a commit here, a NOTIFY from another process on PostgreSQL) and
    at least every second, for leases that expired."""

    def __init__(self, tasks: AgentTasks, heartbeat_seconds: float) -> None:
        self.tasks = tasks
        self.heartbeat_seconds = heartbeat_seconds
        self.sessions: dict[str, Session] = {}
        self._runner: asyncio.Task[None] | None = None
        self._last_presence = 0.0
        # For /metrics: offered, assigned, succeeded, failed, rejected (stale epochs).
        self.counts: Counter[str] = Counter()

    def attach(self, session: Session) -> None:
        session.counts = self.counts
        self.sessions[session.agent_id] = session
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="shiplane-agent-dispatch")

    def detach(self, session: Session) -> None:
        if self.sessions.get(session.agent_id) is session:
            del self.sessions[session.agent_id]

    async def _run(self) -> None:
        woken = self.tasks.queue.subscribe()
        try:
            while self.sessions:
                woken.clear()  # before the round: a wake during it starts the next one at once
                try:
                    if time.monotonic() - self._last_presence >= self.heartbeat_seconds:
                        self._last_presence = time.monotonic()
                        await self.record_presence()
                    await self.dispatch_once()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the loop outlives a failed round
                    log.exception("agent task dispatch failed; retrying")
                await wait_event(woken, 1.0)
        finally:
            self.tasks.queue.unsubscribe(woken)

    async def record_presence(self) -> None:
        """A connected stream is a heartbeat: one UPDATE per 1,000 agents connected here,
        every heartbeat interval, instead of one HTTP request per agent."""
        connected = list(self.sessions)
        now = utcnow()
        for chunk in range(0, len(connected), 1000):
            async with self.tasks.db.session(None, write=True) as session:
                await session.execute(
                    update(Agent)
                    .where(Agent.id.in_(connected[chunk : chunk + 1000]))
                    .values(last_heartbeat_at=now)
                    .execution_options(synchronize_session=False)
                )

    async def dispatch_once(self) -> int:
        due: dict[str, list[tuple[str, int]]] = {}
        kinds = [task_kind(agent_id) for agent_id in self.sessions]
        for task_id, kind, expired_epoch in await self.tasks.queue.due_of_kinds(kinds, limit=2000):
            agent_id = kind[len(KIND_PREFIX) :]
            if agent_id in self.sessions:
                due.setdefault(agent_id, []).append((task_id, expired_epoch))
        for agent_id, task_ids in due.items():
            session = self.sessions.get(agent_id)
            if session is not None:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await session.offer(task_ids)
        return sum(len(t) for t in due.values())


def dispatcher_of(services: Any) -> Dispatcher:
    found: Dispatcher | None = getattr(services, "agent_dispatcher", None)
    if found is None:
        found = Dispatcher(services.agent_tasks, services.settings.agent_heartbeat_seconds)
        services.agent_dispatcher = found
    return found


@router.websocket("/api/v1/agents/{agent_id}/task-stream")
async def task_stream(websocket: WebSocket, agent_id: str) -> None:
    services = websocket.app.state.shiplane
    token = websocket_credential(websocket)
    if token is None:
        await deny_websocket(websocket, 401, "UNAUTHORIZED", "authentication required: an agent credential")
        return
    try:
        principal = await services.authenticate(token)
    except TokenError as exc:
        await deny_websocket(websocket, 401, "UNAUTHORIZED", f"authentication required: {exc}")
        return
    if principal.agent_id != agent_id or not principal.can("agents:task-stream"):
        await deny_websocket(websocket, 403, "FORBIDDEN", "only the agent itself may hold its task stream")
        return
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    await websocket.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
    session = Session(websocket, agent_id, principal.tenant_id, services.agent_tasks)
    dispatcher = dispatcher_of(services)
    reader = asyncio.create_task(_read(session))
    dispatcher.attach(session)
    services.queue.wake()  # offer what is already due to the agent that just connected
    try:
        # Pings spread over the interval: thousands of streams must not all ping at once.
        interval = PING_SECONDS * random.uniform(0.5, 1.0)  # noqa: S311 - load spreading, not security
        while not reader.done():
            done, _ = await asyncio.wait({reader}, timeout=interval)
            interval = PING_SECONDS
            if not done:
                await session.send("ping")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        dispatcher.detach(session)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _read(session: Session) -> None:
    try:
        while True:
            message = await session.receive()
            try:
                await session.handle(message)
            except (ValueError, TypeError) as exc:
                await session.send("error", {"message": f"bad {message['type']}: {exc}"})
    except WebSocketDisconnect:
        return
    except (ValueError, json.JSONDecodeError):
        with contextlib.suppress(Exception):
            await session.websocket.close(code=1003)
