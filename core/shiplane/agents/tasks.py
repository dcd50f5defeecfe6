"""Agent tasks: work items for one agent, what an assignment carries, what a result records.

A task is a work item of kind ``agent:<agent id>`` whose payload names the action
(``health-check``, ``deploy``) and the target. The target's config (secrets
decrypted) is put into the assignment when the agent accepts, never stored in the
queue. A result is recorded once (the queue's compare-and-set on the epoch), then
applied to the target: its health, the sticker the agent read, the state it inspected.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.engine.queue import Claim, WorkQueue
from shiplane.platform.database import Database
from shiplane.platform.secrets import SecretBox
from shiplane.plugins.manager import PluginRegistry
from shiplane.targets.service import record_observation, target_for_agent

ACTIONS = ("health-check", "deploy")


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
        self, session: AsyncSession, agent_id: str, action: str, target_id: str, data: dict[str, Any] | None = None
    ) -> str:
        """A task for ``agent_id`` in ``session``'s transaction (its tenant)."""
        assert action in ACTIONS, action
        payload = {"action": action, "targetId": target_id, **(data or {})}
        return await self.queue.enqueue(session, task_kind(agent_id), payload, max_attempts=5)

    async def assignment(self, claim: Claim, agent_id: str) -> dict[str, Any] | None:
        """What the agent needs to run the task: the action and the target with its clear
        config; None if the target is gone (the task is then failed)."""
        async with self.db.session(claim.tenant_id, write=False) as session:
            target_id = str(claim.payload.get("targetId"))
            target = await target_for_agent(session, target_id, self.plugins, self.box, agent_id)
        if target is None:
            return None
        return {**claim.payload, "tenantId": claim.tenant_id, "target": target}

    async def record(
        self, claim_id: str, epoch: int, tenant_id: str, payload: dict[str, Any], outcome: str, result: Any
    ) -> bool:
        """Complete the task (once: False for a stale epoch) and apply its result to the target."""
        body = result if isinstance(result, dict) else {}
        # One transaction: the task is done exactly when what it found is recorded.
        async with self.db.session(tenant_id, write=True) as session:
            if not await self.queue.complete_in(session, claim_id, epoch, {"outcome": outcome, **body}):
                return False
            await record_observation(session, str(payload.get("targetId")), str(payload.get("action")), outcome, body)
        return True
