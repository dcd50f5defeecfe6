"""What a running step reaches in the core (the step context's coroutines).

``notify`` sends through a notification integration, ``evaluate_gate`` evaluates a gate,
``check_target`` runs a target's health check on its agent and waits for it, and
``run_command`` runs a command on an agent and waits for it. Each acts for the run, as
the principal ``workflow-run:<run id>`` (what the audit trail shows), inside the run's
tenant; none holds a transaction open while it waits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shiplane_sdk import NotificationMessage, PluginError
from sqlalchemy import or_, select

from shiplane.agents.models import Agent
from shiplane.agents.service import AgentService
from shiplane.agents.tasks import AgentTasks, wait_for_task
from shiplane.deployments.service import DeploymentRunner
from shiplane.integrations.models import Integration
from shiplane.integrations.notifications import call_timeout, notifier
from shiplane.platform.auth import Principal
from shiplane.platform.database import Database
from shiplane.platform.errors import ApiError
from shiplane.platform.secrets import SecretBox
from shiplane.platform.settings import Settings
from shiplane.plugins.gates import CoreGateContext, evaluate_gate
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.service import PluginService
from shiplane.plugins.states import PluginStateCache
from shiplane.promotions.context import environment_for_gates, find_environment, find_release, release_for_gates
from shiplane.targets.models import Target
from shiplane.targets.service import TargetService

#: How long a target's health check may take on its agent before the step gives up.
CHECK_TIMEOUT = 300.0
MAX_COMMAND_BYTES = 64 * 1024
MAX_ENV_ENTRIES = 100


class StepServices:
    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        box: SecretBox,
        states: PluginStateCache,
        settings: Settings,
        tasks: AgentTasks,
    ) -> None:
        self.db = db
        self.registry = registry
        self.box = box
        self.states = states
        self.settings = settings
        self.tasks = tasks
        self.queue: Any = None  # set by the composition root (the rollback hook starts a run)

    @staticmethod
    def principal(tenant_id: str, run_id: str) -> Principal:
        return Principal(
            user_id=f"workflow-run:{run_id}",
            tenant_id=tenant_id,
            roles=("workflow",),
            permissions=frozenset({"*:read"}),
            tier=None,
        )

    # -- notify -------------------------------------------------------------------------------

    async def notify(self, tenant_id: str, run_id: str, integration: str, message: NotificationMessage) -> None:
        async with self.db.session(tenant_id, write=False) as session:
            row = await session.scalar(select(Integration).where(Integration.name == integration))
            if row is None:
                raise KeyError(f"no integration named {integration!r}")
            try:
                _type_id, plugin_id, capability, config, secrets = await notifier(session, self.registry, self.box, row)
            except ApiError as exc:
                raise PluginError(f"integration {integration!r}: {exc.message}") from None
        try:
            await self.registry.guard.call(
                plugin_id,
                "integration notify",
                capability.notify,
                config,
                message,
                secrets=secrets,
                tenant_id=tenant_id,
                timeout=call_timeout(config),
                breaker_free=True,
            )
        except PluginCallFailed as exc:
            raise PluginError(f"integration {integration!r} did not deliver: {exc.reason}") from None

    # -- gates --------------------------------------------------------------------------------

    async def evaluate_gate(
        self,
        tenant_id: str,
        run_id: str,
        context: dict[str, Any],
        gate: str,
        config: dict[str, Any],
        release: str | None,
        environment: str | None,
    ) -> dict[str, Any]:
        release = release or context.get("releaseId")
        environment = environment or context.get("environmentId")
        async with self.db.session(tenant_id, write=False) as session:
            release_data: dict[str, Any] = {}
            if release:
                row = await find_release(session, release)
                if row is None:
                    raise KeyError(f"no release {release!r}")
                release_data = await release_for_gates(session, row)
            environment_data: dict[str, Any] = {}
            if environment:
                env = await find_environment(session, environment)
                if env is None:
                    raise KeyError(f"no environment {environment!r}")
                environment_data = await environment_for_gates(session, env)
        plugins = PluginService(None, self.principal(tenant_id, run_id), self.registry, self.box, self.states)
        ctx = CoreGateContext(tenant_id, release_data, environment_data, None, datetime.now(UTC))
        result, lines = await evaluate_gate(plugins, gate, ctx, config)
        return {"status": result.status, "message": result.message, "details": result.details, "log": lines}

    # -- deployments --------------------------------------------------------------------------

    async def deploy(
        self,
        tenant_id: str,
        run_id: str,
        context: dict[str, Any],
        strategy: str,
        strategy_config: dict[str, Any],
        is_cancelled: Callable[[], bool],
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        # Only a run a promotion or a rollback started may deploy, and what it deploys is
        # theirs, never what the run's context says (anyone with workflows:run sets that).
        from shiplane.deployments.models import DeploymentJob
        from shiplane.promotions.models import Promotion

        async with self.db.session(tenant_id, write=False) as session:
            promotion = await session.scalar(
                select(Promotion).where(Promotion.workflow_run_id == run_id, Promotion.state == "deploying")
            )
            pending = await session.scalar(
                select(DeploymentJob.id).where(
                    DeploymentJob.workflow_run_id == run_id, DeploymentJob.state == "pending"
                )
            )
        runner = DeploymentRunner(self.db, self.registry, self.box, self.states, self.settings, self.tasks, self.queue)
        common: dict[str, Any] = {
            "strategy": strategy,
            "strategy_config": strategy_config,
            "workflow_run_id": run_id,
            "is_cancelled": is_cancelled,
            "log": log,
        }
        principal = self.principal(tenant_id, run_id)
        if promotion is not None:
            return await runner.run(
                principal,
                release_id=promotion.release_id,
                environment_id=promotion.environment_id,
                promotion_id=promotion.id,
                kind="deploy",
                **common,
            )
        if pending is not None:
            return await runner.run(
                principal,
                release_id="",
                environment_id="",
                promotion_id=None,
                kind="rollback",
                job_id=pending,
                **common,
            )
        raise PluginError(
            "this run was not started by a promotion, a rollback or an A/B release (or its deployment already ran):"
            " it cannot deploy"
        )

    # -- agents -------------------------------------------------------------------------------

    async def check_target(
        self, tenant_id: str, run_id: str, target: str, is_cancelled: Callable[[], bool]
    ) -> dict[str, Any]:
        principal = self.principal(tenant_id, run_id)
        async with self.db.session(tenant_id, write=True) as session:
            row = await session.scalar(select(Target).where(or_(Target.id == target, Target.name == target)))
            if row is None:
                raise KeyError(f"no target {target!r}")
            plugins = PluginService(session, principal, self.registry, self.box, self.states)
            try:
                queued = await TargetService(session, principal, plugins, self.settings).request_check(
                    row.id, self.tasks
                )
            except ApiError as exc:
                raise PluginError(f"target {row.name!r}: {exc.message}") from None
            target_id, task_id = row.id, str(queued.data["taskId"])
        done = await wait_for_task(self.db, tenant_id, task_id, is_cancelled=is_cancelled, timeout=CHECK_TIMEOUT)
        async with self.db.session(tenant_id, write=False) as session:
            status = await session.scalar(select(Target.health_status).where(Target.id == target_id))
        result = done.get("result") or {}
        return {
            "targetId": target_id,
            "taskId": task_id,
            "state": done["state"],
            "status": status if done["state"] == "succeeded" else "unreachable",
            "health": result.get("health"),
            "error": done.get("error") or result.get("error") or "",
        }

    async def run_command(
        self,
        tenant_id: str,
        run_id: str,
        spec: dict[str, Any],
        agent: str | None,
        agent_labels: dict[str, str] | None,
        is_cancelled: Callable[[], bool],
    ) -> dict[str, Any]:
        command = spec["command"]
        size = len(command) if isinstance(command, str) else sum(len(str(a)) for a in command)
        if size > MAX_COMMAND_BYTES:
            raise PluginError(f"the command is longer than {MAX_COMMAND_BYTES} bytes")
        if len(spec.get("env") or {}) > MAX_ENV_ENTRIES:
            raise PluginError(f"more than {MAX_ENV_ENTRIES} environment variables")
        principal = self.principal(tenant_id, run_id)
        async with self.db.session(tenant_id, write=True) as session:
            if agent is not None:
                found = await session.scalar(select(Agent).where(or_(Agent.id == agent, Agent.name == agent)))
                if found is None:
                    raise KeyError(f"no agent {agent!r}")
                if found.disabled:
                    raise PluginError(f"agent {found.name!r} is disabled")
                agent_id = found.id
            elif agent_labels:
                online = await AgentService(session, principal, self.settings).online_with("script", agent_labels)
                if online is None:
                    raise PluginError(f"no online agent runs scripts with the labels {agent_labels}")
                agent_id = online
            else:
                local = await session.scalar(select(Agent.id).where(Agent.name == "local"))
                if local is None:
                    raise KeyError("no local agent in this tenant: name an agent or agent labels")
                agent_id = local
            # Attempted once: a command whose agent vanished mid-run fails, it is not run twice.
            task_id = await self.tasks.enqueue(session, agent_id, "script", None, spec, max_attempts=1)
        timeout = float(spec.get("timeoutSeconds") or 600) + 60  # the agent enforces the command's own limit
        done = await wait_for_task(self.db, tenant_id, task_id, is_cancelled=is_cancelled, timeout=timeout)
        result = done.get("result") or {}
        return {
            "agentId": agent_id,
            "taskId": task_id,
            "state": done["state"],
            "exitCode": result.get("exitCode"),
            "output": result.get("output", ""),
            "truncated": bool(result.get("truncated", False)),
            "timedOut": bool(result.get("timedOut", False)) or done["state"] == "timeout",
            "durationSeconds": result.get("durationSeconds"),
            "error": done.get("error") or result.get("error") or "",
        }
