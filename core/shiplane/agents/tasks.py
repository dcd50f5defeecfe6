"""Agent tasks: work items for one agent, what an assignment carries, what a result records.

A task is a work item of kind ``agent:<agent id>`` whose payload names the action
(``health-check``, ``deploy``, ``script``) and, for the first two, the target. The
target's config (secrets decrypted) is put into the assignment when the agent accepts,
never stored in the queue; so is a script's environment, sealed in the queue. A result
is recorded once (the queue's compare-and-set on the epoch), then applied to the target
(if the task has one): its health, the sticker the agent read, the state it inspected.

A ``script`` task runs a command on the agent's host, tied to no target
(``enqueue_script``); whoever queued it waits for its result with ``wait_for_task``,
which also cancels it when the caller gives up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.agents.models import Agent
from shiplane.engine.models import WorkItem
from shiplane.engine.queue import Claim, WorkQueue
from shiplane.platform.database import Database, utcnow
from shiplane.platform.secrets import SecretBox, is_sealed
from shiplane.plugins.manager import PluginRegistry
from shiplane.targets.service import record_observation, target_for_agent

ACTIONS = ("health-check", "deploy", "script")
# Actions that run on the agent's host, not against a target.
TARGETLESS = ("script",)
# What a script spec may carry (anything else is dropped at enqueue).
SCRIPT_FIELDS = ("command", "env", "secretNames", "timeoutSeconds", "workingDirectory")
# A work item cancelled by ``wait_for_task``: failed, with this outcome in its result.
CANCELLED = "cancelled"


KIND_PREFIX = "agent:"


def task_kind(agent_id: str) -> str:
    return f"{KIND_PREFIX}{agent_id}"


class AgentTasks:
    def __init__(
        self, db: Database, queue: WorkQueue, plugins: PluginRegistry, box: SecretBox, lease: timedelta
    ) -> None:
        self.db = db
        self.queue = queue
        self.plugins = plugins
        self.box = box
        self.lease = lease

    async def enqueue(
        self,
        session: AsyncSession,
        agent_id: str,
        action: str,
        target_id: str | None,
        data: dict[str, Any] | None = None,
        *,
        max_attempts: int = 5,
    ) -> str:
        """A task for ``agent_id`` in ``session``'s transaction (its tenant); ``target_id`` is
        None exactly for an action without a target (``script``). A script's ``env`` is
        sealed in the queue (its values may be secrets) and opened in the assignment."""
        assert action in ACTIONS, action
        if (target_id is None) != (action in TARGETLESS):
            raise ValueError(f"action {action!r} {'takes no' if action in TARGETLESS else 'needs a'} target")
        payload: dict[str, Any] = {"action": action, **(data or {})}
        if target_id is not None:
            payload["targetId"] = target_id
        env = payload.get("env")
        if action == "script" and env is not None and not is_sealed(env):
            payload["env"] = self.box.encrypt(env)
        variables = payload.get("variables")
        if action == "deploy" and variables is not None and not is_sealed(variables):
            payload["variables"] = self.box.encrypt(variables)  # a deployment's variables may hold secrets
        return await self.queue.enqueue(session, task_kind(agent_id), payload, max_attempts=max_attempts)

    async def assignment(self, claim: Claim, agent_id: str) -> dict[str, Any] | None:
        """What the agent needs to run the task: the action and the target with its clear
        config (or, for an action without a target, its payload with a script's env
        opened); None if the target is gone, or the agent is not of the task's tenant
        (the task is then failed)."""
        async with self.db.session(claim.tenant_id, write=False) as session:
            if "targetId" not in claim.payload:
                # No target to check the agent against: the agent must be the tenant's own.
                if await session.scalar(select(Agent.id).where(Agent.id == agent_id)) is None:
                    return None
                assigned = {**claim.payload, "tenantId": claim.tenant_id}
                if is_sealed(assigned.get("env")):
                    assigned["env"] = self.box.decrypt(assigned["env"])
                return assigned
            target_id = str(claim.payload.get("targetId"))
            target = await target_for_agent(session, target_id, self.plugins, self.box, agent_id)
        if target is None:
            return None
        assigned = {**claim.payload, "tenantId": claim.tenant_id, "target": target}
        if is_sealed(assigned.get("variables")):
            assigned["variables"] = self.box.decrypt(assigned["variables"])
        return assigned

    async def record(
        self, claim_id: str, epoch: int, tenant_id: str, payload: dict[str, Any], outcome: str, result: Any
    ) -> bool:
        """Complete the task (once: False for a stale epoch) and apply its result to the target."""
        body = result if isinstance(result, dict) else {}
        # One transaction: the task is done exactly when what it found is recorded.
        async with self.db.session(tenant_id, write=True) as session:
            if not await self.queue.complete_in(session, claim_id, epoch, {"outcome": outcome, **body}):
                return False
            if payload.get("targetId"):
                await record_observation(session, str(payload["targetId"]), str(payload.get("action")), outcome, body)
        return True


async def enqueue_script(db: Database, tasks: AgentTasks, tenant_id: str, agent_id: str, spec: dict[str, Any]) -> str:
    """Queue a ``script`` task for ``agent_id`` in its own write transaction; its id.

    ``spec``: ``command`` (argv list, or a string for ``/bin/sh -c``), ``env`` (str to
    str, may hold secrets: sealed in the queue), ``timeoutSeconds`` (default 600),
    ``workingDirectory`` (default a fresh temporary directory). The agent checks the spec
    and fails the task with a clear error if it is malformed or too large. Attempted at
    most once: a script whose agent vanished mid-run is failed, not run a second time.

    Raises ValueError if the tenant has no such agent, or it is disabled.
    """
    data = {key: spec[key] for key in SCRIPT_FIELDS if key in spec}
    async with db.session(tenant_id, write=True) as session:
        agent = await session.scalar(select(Agent).where(Agent.id == agent_id))
        if agent is None:
            raise ValueError(f"no agent {agent_id!r}")
        if agent.disabled:
            raise ValueError(f"agent {agent.name!r} is disabled")
        return await tasks.enqueue(session, agent_id, "script", None, data, max_attempts=1)


def _finished(row: Any) -> dict[str, Any] | None:
    """What ``wait_for_task`` returns for a finished work item (None while it is not)."""
    if row is None:
        return {"state": "failed", "result": {}, "error": "the task no longer exists"}
    result = dict(row.result) if isinstance(row.result, dict) else {}
    if row.state == "done":
        if result.get("outcome") == "succeeded":
            return {"state": "succeeded", "result": result, "error": ""}
        return {"state": "failed", "result": result, "error": str(result.get("error") or "the task failed")}
    if row.state == "failed":
        # Failed for good: every attempt used up, refused, or cancelled by a waiter.
        state = CANCELLED if result.get("outcome") == CANCELLED else "failed"
        return {"state": state, "result": result, "error": str(row.error or "the task failed")}
    return None  # queued (perhaps again, for another attempt) or leased


async def _read(db: Database, tenant_id: str, task_id: str) -> dict[str, Any] | None:
    async with db.session(tenant_id, write=False) as session:
        row = (
            await session.execute(
                select(WorkItem.state, WorkItem.result, WorkItem.error).where(
                    WorkItem.id == task_id, WorkItem.tenant_id == tenant_id
                )
            )
        ).first()
    return _finished(row)


async def cancel_task(db: Database, tenant_id: str, task_id: str, reason: str) -> bool:
    """Fail an unfinished task for good (True; False if it had finished already): no agent
    is offered or assigned it any more, and an agent still running it is told at its next
    lease renewal that its epoch is stale, which stops the run."""
    async with db.session(tenant_id, write=True) as session:
        changed = await session.execute(
            update(WorkItem)
            .where(
                WorkItem.id == task_id,
                WorkItem.tenant_id == tenant_id,
                WorkItem.state.in_(("queued", "leased")),
            )
            .values(
                state="failed",
                error=reason[:4000],
                result={"outcome": CANCELLED, "error": reason[:4000]},
                lease_owner=None,
                lease_expires_at=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    return bool(getattr(changed, "rowcount", 0))


async def wait_for_task(
    db: Database,
    tenant_id: str,
    task_id: str,
    *,
    is_cancelled: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109 - a bound on the task, which is cancelled when it passes
    poll: float = 0.25,
) -> dict[str, Any]:
    """Until the task is finished: ``{"state": "succeeded"|"failed"|"cancelled"|"timeout",
    "result": <the recorded result, or {}>, "error": <why not succeeded, or "">}``.

    ``is_cancelled()`` turning true, or ``timeout`` seconds passing, cancels the task
    (``cancel_task``): it is not run later, and a run in progress is stopped. A result
    recorded just before wins over the cancellation."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        finished = await _read(db, tenant_id, task_id)
        if finished is not None:
            return finished
        cancelled = is_cancelled()
        if cancelled or loop.time() >= deadline:
            state = CANCELLED if cancelled else "timeout"
            reason = "cancelled by its caller" if cancelled else f"no result within {timeout:g} s"
            if not await cancel_task(db, tenant_id, task_id, reason):
                finished = await _read(db, tenant_id, task_id)
                if finished is not None:
                    return finished  # it finished meanwhile
            return {"state": state, "result": {}, "error": reason}
        await asyncio.sleep(max(0.0, min(poll, deadline - loop.time())))
