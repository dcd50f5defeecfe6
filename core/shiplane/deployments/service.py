"""Deployment jobs (docs/deployments.md): the rollout strategy plans batches of the
environment's targets; each target's ``deploy`` task goes to its agent; the job ends by
the strategy's rules.

A job runs inside the ``deploy`` workflow step (the step's core service), so it is as
durable as a step: the engine holds its lease while it runs, and a process that dies
mid-job fails the step (``deploy`` is not idempotent) rather than deploy twice blindly.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from shiplane_sdk import Batch, PluginError, RolloutStrategy, TargetRef
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.agents.tasks import AgentTasks, wait_for_task
from shiplane.deployments.models import DeploymentArtifact, DeploymentEvent, DeploymentJob, DeploymentTask
from shiplane.deployments.states import ACTION_TO, transition
from shiplane.environments.models import Environment
from shiplane.evidence.dsse import sign_sticker
from shiplane.evidence.models import VersionSticker
from shiplane.evidence.service import lock_sticker_targets, publish_key, record_job_outcome, record_sticker
from shiplane.platform.auth import Principal
from shiplane.platform.database import Database, new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.errors import ApiError, not_found
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.schemas import ApiOut
from shiplane.platform.secrets import SecretBox
from shiplane.platform.settings import Settings
from shiplane.platform.signing import signer_of
from shiplane.platform.writes import audit_change
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.service import PluginService
from shiplane.plugins.states import PluginStateCache
from shiplane.releases.models import Release
from shiplane.targets.models import Target
from shiplane.targets.service import TargetService
from shiplane.variables.service import clear_values
from shiplane.variables.service import resolve as resolve_variables
from shiplane.variables.service import shown as shown_variables

#: Jobs ended in this process by state, and their (count, seconds) for /metrics.
COUNTS: Counter[str] = Counter()
DURATIONS: dict[str, tuple[int, float]] = {}

MANIFEST_MEDIA_TYPE = "application/vnd.shiplane.deployment.manifest.v1+json"
#: How long one target's deploy may take before the job gives up on it (the target type's
#: own deployTimeoutSeconds, at most a day, is enforced on the agent).
TASK_TIMEOUT = 86_400.0 + 120
MAX_TARGETS = 1000
#: The running job's log lines (this task's), hashed into its outcome's evidence.
JOB_LOG: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("shiplane_job_log", default=None)

TASK_STATES = ("queued", "dispatched", "succeeded", "failed", "timed_out", "cancelled")

LIST_SPEC = ListSpec(
    DeploymentJob,
    fields={
        "state": ListField(DeploymentJob.state, "string"),
        "kind": ListField(DeploymentJob.kind, "string", sortable=False),
        "environmentId": ListField(DeploymentJob.environment_id, "string"),
        "releaseId": ListField(DeploymentJob.release_id, "string"),
        "promotionId": ListField(DeploymentJob.promotion_id, "string", sortable=False),
        "createdAt": ListField(DeploymentJob.created_at, "datetime"),
        "updatedAt": ListField(DeploymentJob.updated_at, "datetime"),
    },
    default_sort="-createdAt",
)


def _when(value: Any) -> str | None:
    return rfc3339(value) if value is not None else None


JobState = Literal["pending", "running", "succeeded", "failed", "partially_applied", "cancelled", "rolled_back"]
TaskState = Literal["queued", "dispatched", "succeeded", "failed", "timed_out", "cancelled"]


class DeploymentVariableSetRefOut(ApiOut):
    id: str
    name: str
    revision: int = Field(description="The set's revision the deployment resolved")


class DeploymentVariablesOut(ApiOut):
    sets: list[DeploymentVariableSetRefOut] = Field(description="The variable sets resolved, in order")
    targets: dict[str, dict[str, str]] = Field(
        description="Per target id, each variable's value (secret values shown as ***)"
    )


class DeploymentJobOut(ApiOut):
    id: str
    tenant_id: str
    kind: Literal["deploy", "rollback", "candidate"] = Field(
        description="candidate: an A/B release's candidate side, on the targets with its labels"
    )
    promotion_id: str | None
    workflow_run_id: str | None = Field(description="The workflow run whose deploy step runs the job")
    release_id: str
    environment_id: str
    previous_release_id: str | None = Field(description="The release the environment had before the job")
    strategy: str = Field(description="The rollout strategy's id")
    strategy_config: dict[str, Any]
    state: JobState
    message: str
    reason: str = Field(description="Why (a rollback's reason; a promotion's deployment carries the promotion's)")
    variables: DeploymentVariablesOut | None = Field(description="The variables resolved when it started (null before)")
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeploymentJobDetailOut(DeploymentJobOut):
    tasks: dict[str, int] = Field(description="The number of its tasks in each task state (states with none left out)")


def job_out(row: Any, counts: dict[str, int] | None = None) -> dict[str, Any]:
    data = {
        "id": row.id,
        "tenantId": row.tenant_id,
        "kind": row.kind,
        "promotionId": row.promotion_id,
        "workflowRunId": row.workflow_run_id,
        "releaseId": row.release_id,
        "environmentId": row.environment_id,
        "previousReleaseId": row.previous_release_id,
        "strategy": row.strategy,
        "strategyConfig": row.strategy_config,
        "state": row.state,
        "message": row.message,
        "reason": row.reason,
        "variables": shown_variables(row.variables),
        "createdBy": row.created_by,
        "startedAt": _when(row.started_at),
        "finishedAt": _when(row.finished_at),
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }
    if counts is not None:
        data["tasks"] = counts
    return data


class DeploymentTaskOut(ApiOut):
    id: str
    job_id: str
    target_id: str
    target_name: str
    agent_id: str | None = Field(description="The agent the task went to (null until dispatched)")
    batch: int = Field(description="The rollout batch, 0 the first")
    state: TaskState
    message: str
    result: dict[str, Any] = Field(description="What the agent reported (its log is at .../logs)")
    started_at: datetime | None
    finished_at: datetime | None


class DeploymentTaskLogLineOut(ApiOut):
    offset: int = Field(description="The line's place in the task's log (0 the first)")
    line: str


class DeploymentTaskLogsOut(ApiOut):
    task_id: str
    offset: int
    lines: list[DeploymentTaskLogLineOut]
    has_more: bool


def task_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "jobId": row.job_id,
        "targetId": row.target_id,
        "targetName": row.target_name,
        "agentId": row.agent_id,
        "batch": row.batch,
        "state": row.state,
        "message": row.message,
        "result": {k: v for k, v in (row.result or {}).items() if k != "log"},
        "startedAt": _when(row.started_at),
        "finishedAt": _when(row.finished_at),
    }


class DeploymentArtifactOut(ApiOut):
    id: str
    job_id: str
    name: str = Field(description="manifest.json, variables.json or stickers.json")
    content_type: str
    size: int = Field(description="Bytes")
    digest: str
    created_at: datetime


def artifact_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "jobId": row.job_id,
        "name": row.name,
        "contentType": row.content_type,
        "size": row.size,
        "digest": row.digest,
        "createdAt": rfc3339(row.created_at),
    }


def _blob(job_id: str, tenant: str, name: str, value: Any) -> DeploymentArtifact:
    content = json.dumps(value, sort_keys=True, indent=2).encode()
    return DeploymentArtifact(
        id=new_id(),
        tenant_id=tenant,
        job_id=job_id,
        name=name,
        content_type="application/json",
        digest="sha256:" + hashlib.sha256(content).hexdigest(),
        size=len(content),
        content=content,
        created_at=utcnow(),
    )


async def emit(session: AsyncSession, job_id: str, events: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    """Append to the job's stream (the job row locked: it numbers them)."""
    if not events:
        return
    job = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id).with_for_update())
    if job is None:
        return
    for kind, target_id, data in events:
        job.seq = (job.seq or 0) + 1
        session.add(
            DeploymentEvent(
                tenant_id=job.tenant_id,
                job_id=job.id,
                seq=job.seq,
                kind=kind,
                target_id=target_id,
                data=data,
                at=utcnow(),
            )
        )


def _system(tenant: str) -> Principal:
    return Principal(
        user_id="shiplane:deployments",
        tenant_id=tenant,
        roles=("system",),
        permissions=frozenset({"*:read"}),
        tier=None,
    )


def manifest_of(release: Release, environment: Environment, job_id: str) -> dict[str, Any]:
    """What every target of the job receives (``TargetType.deploy``)."""
    return {
        "mediaType": MANIFEST_MEDIA_TYPE,
        "jobId": job_id,
        "release": {"id": release.id, "name": release.name, "manifestDigest": release.manifest_digest},
        "environment": {"id": environment.id, "name": environment.name},
        "components": [
            {
                "name": c.get("componentName") or c.get("name"),
                "version": c.get("version"),
                "digest": c.get("digest"),
                "reference": c.get("reference"),
            }
            for c in release.components or []
        ],
    }


def sticker_of(manifest: dict[str, Any], deployed_at: str) -> dict[str, Any]:
    """The version sticker each target keeps: what is deployed there, by which job."""
    return {
        "release": manifest["release"],
        "environment": manifest["environment"],
        "components": [
            {"name": c["name"], "version": c["version"], "digest": c["digest"]} for c in manifest["components"]
        ],
        "jobId": manifest["jobId"],
        "deployedAt": deployed_at,
    }


class DeploymentRunner:
    """Creates and runs deployment jobs (for the ``deploy`` step)."""

    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        box: SecretBox,
        states: PluginStateCache,
        settings: Settings,
        tasks: AgentTasks,
        queue: Any = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.box = box
        self.states = states
        self.settings = settings
        self.tasks = tasks
        self.queue = queue

    async def _plan(
        self, principal: Principal, strategy: str, config: dict[str, Any], targets: list[TargetRef]
    ) -> list[Batch]:
        plugins = PluginService(None, principal, self.registry, self.box, self.states)
        try:
            registered = await plugins.capability("rollout_strategy", strategy, for_new_object=True)
        except ApiError as exc:
            raise PluginError(f"rollout strategy {strategy!r}: {exc.message}") from None
        capability = registered.capability
        assert isinstance(capability, RolloutStrategy)
        errors = await plugins.check_config(registered, config, [], "strategyConfig")
        if errors:
            raise PluginError("strategy config: " + "; ".join(f"{e.field or 'config'}: {e.message}" for e in errors))
        try:
            batches = await self.registry.guard.call(
                registered.plugin_id, "plan", capability.plan, targets, config, tenant_id=principal.tenant_id
            )
        except PluginCallFailed as exc:
            raise PluginError(f"rollout strategy {strategy!r} could not plan: {exc.reason}") from None
        planned = [t.id for b in batches for t in b.targets]
        if sorted(planned) != sorted(t.id for t in targets):
            raise PluginError(f"rollout strategy {strategy!r} planned targets other than the environment's")
        return list(batches)

    async def run(
        self,
        principal: Principal,
        *,
        release_id: str,
        environment_id: str,
        strategy: str,
        strategy_config: dict[str, Any],
        promotion_id: str | None,
        workflow_run_id: str | None,
        kind: str,
        is_cancelled: Callable[[], bool],
        log: Callable[[str], None],
        job_id: str | None = None,
        reason: str = "",
        replacing: str | None = None,
        alongside: str | None = None,
    ) -> dict[str, Any]:
        """Run a deployment job: a new one, or the pending one ``job_id`` (a rollback's,
        created with its request). ``alongside``: the job an automatic rollback undoes
        (still running; every other job of the environment must have ended)."""
        tenant = principal.tenant_id
        began: list[str] = []
        lines: list[str] = []
        step_log = log

        def logged(line: str) -> None:
            lines.append(line)
            step_log(line)

        token = JOB_LOG.set(lines)  # the job's own log, hashed into its evidence
        log = logged
        try:
            return await self._run(
                principal,
                release_id=release_id,
                environment_id=environment_id,
                strategy=strategy,
                strategy_config=strategy_config,
                promotion_id=promotion_id,
                workflow_run_id=workflow_run_id,
                kind=kind,
                is_cancelled=is_cancelled,
                log=log,
                job_id=job_id,
                reason=reason,
                replacing=replacing,
                alongside=alongside,
                began=began,
            )
        except PluginError as exc:
            if job_id is not None and not began:
                # A pending job (a rollback's, a candidate's) refused before it began: it
                # fails with the reason now (the refusal's transaction was rolled back).
                await self._refuse_pending(tenant, job_id, str(exc))
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a job never stays running: it fails with the reason
            if not began:
                raise PluginError(f"the deployment could not start: {type(exc).__name__}: {exc}") from None
            return await self._finish(
                tenant, began[0], "failed", f"the deployment broke: {type(exc).__name__}: {exc}", log
            )
        finally:
            JOB_LOG.reset(token)

    async def _run(
        self,
        principal: Principal,
        *,
        release_id: str,
        environment_id: str,
        strategy: str,
        strategy_config: dict[str, Any],
        promotion_id: str | None,
        workflow_run_id: str | None,
        kind: str,
        is_cancelled: Callable[[], bool],
        log: Callable[[str], None],
        job_id: str | None,
        reason: str,
        replacing: str | None,
        alongside: str | None,
        began: list[str],
    ) -> dict[str, Any]:
        tenant = principal.tenant_id
        async with self.db.session(tenant, write=True) as session:
            existing = None
            if job_id is not None:
                existing = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id))
                if existing is None or existing.state != "pending":
                    raise PluginError(f"deployment job {job_id} is not pending: it is not run again")
                release_id, environment_id, kind = existing.release_id, existing.environment_id, existing.kind
            release = await session.scalar(select(Release).where(Release.id == release_id))
            # The environment row locked: one deployment at a time checks and starts.
            env = await session.scalar(select(Environment).where(Environment.id == environment_id).with_for_update())
            if release is None or env is None:
                raise PluginError("the release or the environment no longer exists")
            if release.state != "ready":
                raise PluginError(f"release {release.name!r} is {release.state}: it is not deployed")
            busy = await session.scalar(
                select(DeploymentJob.id).where(
                    DeploymentJob.environment_id == env.id,
                    DeploymentJob.state.in_(("pending", "running")),
                    DeploymentJob.id.not_in([i for i in (job_id, alongside) if i] or [""]),
                )
            )
            if busy is not None:
                raise PluginError(f"a deployment to {env.name!r} is under way ({busy}): try again when it has ended")
            rows = list(
                await session.scalars(
                    select(Target).where(Target.environment_id == env.id).order_by(Target.name).limit(MAX_TARGETS + 1)
                )
            )
            if len(rows) > MAX_TARGETS:
                # Deploying a part and calling it done would be worse than refusing.
                raise PluginError(
                    f"environment {env.name!r} has more than {MAX_TARGETS} targets: one deployment job deploys"
                    " at most that many; split the environment"
                )
            wanted = dict(existing.target_labels or {}) if existing is not None else {}
            if wanted:
                rows = [t for t in rows if all((t.labels or {}).get(k) == v for k, v in wanted.items())]
                if not rows:
                    raise PluginError(f"no target of environment {env.name!r} has the labels {wanted}")
            job = existing or DeploymentJob(
                id=new_id(),
                tenant_id=tenant,
                kind=kind,
                promotion_id=promotion_id,
                release_id=release.id,
                environment_id=env.id,
                previous_release_id=replacing or env.current_release_id,
                state="pending",
                reason=reason,
                created_by=principal.user_id,
            )
            job.workflow_run_id = workflow_run_id
            policy = {"onFailedChecks": "rollback", "checkTargets": True, **(env.rollback_policy or {})}
            # Resolved now and kept with the job: a later change of a set never alters it.
            job.variables = await resolve_variables(
                session, list(env.variable_set_ids or []), env.id, [(t.id, dict(t.labels or {})) for t in rows]
            )
            job.strategy, job.strategy_config = strategy, dict(strategy_config)
            job.manifest = manifest_of(release, env, job.id)
            if existing is None:
                session.add(job)
            await session.flush()
            session.add(_blob(job.id, tenant, "manifest.json", job.manifest))
            session.add(_blob(job.id, tenant, "variables.json", shown_variables(job.variables)))
            job_id, manifest, snapshot = job.id, job.manifest, job.variables
            began.append(job_id)
            await emit(
                session,
                job_id,
                [
                    (
                        "job",
                        None,
                        {"state": "pending", "jobKind": job.kind, "releaseId": release.id, "targets": len(rows)},
                    )
                ],
            )
        log(f"deployment job {job_id}: {release.name} to {env.name}, {len(rows)} target(s), strategy {strategy}")
        refs = [TargetRef(id=t.id, name=t.name, labels=dict(t.labels or {})) for t in rows]
        try:
            batches = await self._plan(principal, strategy, strategy_config, refs)
        except PluginError as exc:
            return await self._finish(tenant, job_id, "failed", str(exc), log)
        names = {t.id: t.name for t in rows}
        async with self.db.session(tenant, write=True) as session:
            running = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id))
            assert running is not None
            running.state, running.started_at = transition(running.state, "start"), utcnow()
            started: list[tuple[str, str | None, dict[str, Any]]] = [
                ("job", None, {"state": "running", "batches": len(batches)})
            ]
            for batch in batches:
                for ref in batch.targets:
                    started.append(
                        ("task", ref.id, {"state": "queued", "batch": batch.index, "targetName": names[ref.id]})
                    )
                    session.add(
                        DeploymentTask(
                            id=new_id(),
                            tenant_id=tenant,
                            job_id=job_id,
                            target_id=ref.id,
                            target_name=names[ref.id],
                            batch=batch.index,
                            state="queued",
                            created_at=utcnow(),
                        )
                    )
            await emit(session, job_id, started)
            after = job_out(running)
            await audit_change(session, _system(tenant), "deployment_job.start", "deployment_job", job_id, None, after)
        allowed = int(strategy_config.get("maxUnavailable", 0)) if strategy != "all-at-once" else len(rows)
        failed = succeeded = 0
        stopped = ""
        for batch in batches:
            if is_cancelled():
                stopped = "cancelled"
                break
            outcomes = await self._run_batch(principal, job_id, batch, manifest, snapshot, is_cancelled, log)
            succeeded += sum(1 for o in outcomes if o == "succeeded")
            failed += sum(1 for o in outcomes if o != "succeeded")
            if any(o == "cancelled" for o in outcomes):
                stopped = "cancelled"
                break
            if failed > allowed:
                stopped = (
                    f"stopped after batch {batch.index}: {failed} target(s) failed, more than maxUnavailable {allowed}"
                )
                break
        if stopped:
            await self._cancel_queued(tenant, job_id, "not deployed: " + stopped)
        if stopped == "cancelled":
            state, message = "cancelled", "cancelled"
        elif failed == 0:
            state, message = "succeeded", f"deployed to {succeeded} target(s)"
        elif succeeded == 0:
            state, message = "failed", stopped or f"failed on all {failed} target(s)"
        else:
            state = "partially_applied"
            message = f"{succeeded} target(s) deployed, {failed} failed" + (f"; {stopped}" if stopped else "")
        if kind == "deploy" and succeeded and state != "cancelled" and policy.get("checkTargets", True):
            unhealthy = await self._post_checks(principal, job_id, is_cancelled, log)
            if unhealthy:
                return await self._failed_checks(
                    principal, job_id, unhealthy, policy, workflow_run_id, is_cancelled, log
                )
        return await self._finish(tenant, job_id, state, message, log)

    async def _post_checks(
        self, principal: Principal, job_id: str, is_cancelled: Callable[[], bool], log: Callable[[str], None]
    ) -> list[str]:
        """Each deployed target's health check, on its agent: the names of those not healthy."""
        tenant = principal.tenant_id
        checks: list[tuple[str, str, str]] = []  # (target id, name, work item)
        async with self.db.session(tenant, write=True) as session:
            for task in await session.scalars(
                select(DeploymentTask).where(DeploymentTask.job_id == job_id, DeploymentTask.state == "succeeded")
            ):
                if task.agent_id is None:
                    continue
                item = await self.tasks.enqueue(session, task.agent_id, "health-check", task.target_id)
                checks.append((task.target_id, task.target_name, item))
        log(f"post-deployment health checks on {len(checks)} target(s)")
        results = await asyncio.gather(
            *(wait_for_task(self.db, tenant, item, is_cancelled=is_cancelled, timeout=600) for _, _, item in checks)
        )
        unhealthy = []
        async with self.db.session(tenant, write=False) as session:
            for (target_id, name, _item), done in zip(checks, results, strict=True):
                status = await session.scalar(select(Target.health_status).where(Target.id == target_id))
                if done["state"] != "succeeded" or status != "healthy":
                    unhealthy.append(name)
                    log(f"{name}: {status} after the deployment")
        return unhealthy

    async def _failed_checks(
        self,
        principal: Principal,
        job_id: str,
        unhealthy: list[str],
        policy: dict[str, Any],
        workflow_run_id: str | None,
        is_cancelled: Callable[[], bool],
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        """The rollback policy decides: roll the environment back by itself, or hold."""
        tenant = principal.tenant_id
        why = f"post-deployment health check failed on {', '.join(unhealthy)}"
        async with self.db.session(tenant, write=False) as session:
            job = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id))
            assert job is not None
            previous, environment_id, release_id = job.previous_release_id, job.environment_id, job.release_id
        if policy.get("onFailedChecks") == "hold":
            async with self.db.session(tenant, write=True) as session:
                env = await session.scalar(select(Environment).where(Environment.id == environment_id))
                if env is not None:
                    env.current_release_id = release_id  # it stays in place
            return await self._finish(tenant, job_id, "failed", f"{why}; held in place (rollback policy: hold)", log)
        if previous is None:
            return await self._finish(tenant, job_id, "failed", f"{why}; no earlier release to roll back to", log)
        log(f"{why}: rolling back to the previous release (rollback policy: rollback)")
        rolled = await self.run(
            principal,
            release_id=previous,
            environment_id=environment_id,
            strategy="all-at-once",
            strategy_config={},
            promotion_id=None,
            workflow_run_id=workflow_run_id,
            kind="rollback",
            is_cancelled=is_cancelled,
            log=log,
            reason=f"automatic: {why}",
            replacing=release_id,
            alongside=job_id,
        )
        if rolled["state"] == "succeeded":
            return await self._finish(
                tenant, job_id, "rolled_back", f"{why}; rolled back by deployment job {rolled['jobId']}", log
            )
        return await self._finish(
            tenant, job_id, "failed", f"{why}; the automatic rollback {rolled['jobId']} {rolled['state']}", log
        )

    async def _run_batch(
        self,
        principal: Principal,
        job_id: str,
        batch: Batch,
        manifest: dict[str, Any],
        snapshot: dict[str, Any] | None,
        is_cancelled: Callable[[], bool],
        log: Callable[[str], None],
    ) -> list[str]:
        tenant = principal.tenant_id
        dispatched: list[tuple[str, str]] = []  # (task id, work item id)
        signed: dict[str, dict[str, Any]] = {}  # task id -> the signed sticker sent
        outcomes: list[str] = []
        async with self.db.session(tenant, write=True) as session:
            actor = await session.scalar(select(DeploymentJob.created_by).where(DeploymentJob.id == job_id))
            plugins = PluginService(session, principal, self.registry, self.box, self.states)
            targets = TargetService(session, principal, plugins, self.settings)
            changes: list[tuple[str, str | None, dict[str, Any]]] = []
            for ref in batch.targets:
                task = await session.scalar(
                    select(DeploymentTask).where(DeploymentTask.job_id == job_id, DeploymentTask.target_id == ref.id)
                )
                target = await session.scalar(select(Target).where(Target.id == ref.id))
                if task is None:
                    continue
                if target is None:
                    task.state, task.message, task.finished_at = "failed", "the target no longer exists", utcnow()
                    outcomes.append("failed")
                    changes.append(("task", ref.id, {"state": "failed", "message": task.message}))
                    continue
                try:
                    agent_id = await targets._agent_for(target)
                except ApiError as exc:
                    task.state, task.message, task.finished_at = "failed", exc.message, utcnow()
                    outcomes.append("failed")
                    changes.append(("task", ref.id, {"state": "failed", "message": task.message}))
                    log(f"{target.name}: {exc.message}")
                    continue
                await publish_key(session, signer_of(session))
                sticker = sign_sticker(
                    signer_of(session),
                    {
                        **sticker_of(manifest, rfc3339(utcnow())),
                        "target": {"id": target.id, "name": target.name},
                        "actor": actor or principal.user_id,
                    },
                )
                signed[task.id] = sticker
                resolved = ((snapshot or {}).get("targets") or {}).get(target.id) or {}
                item = await self.tasks.enqueue(
                    session,
                    agent_id,
                    "deploy",
                    target.id,
                    {
                        "manifest": manifest,
                        "sticker": sticker,
                        "jobId": job_id,
                        "variables": clear_values(resolved, self.box),  # sealed again in the queue
                        "secretVariables": sorted(n for n, v in resolved.items() if v.get("secret")),
                    },
                )
                task.agent_id, task.work_item_id, task.state, task.started_at = agent_id, item, "dispatched", utcnow()
                dispatched.append((task.id, item))
                changes.append(("task", ref.id, {"state": "dispatched", "agentId": agent_id}))
            await emit(session, job_id, changes)
        log(f"batch {batch.index}: {len(dispatched)} target(s) dispatched")
        results = await asyncio.gather(
            *(
                wait_for_task(self.db, tenant, item, is_cancelled=is_cancelled, timeout=TASK_TIMEOUT)
                for _task_id, item in dispatched
            )
        )
        async with self.db.session(tenant, write=True) as session:
            job_row = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id))
            assert job_row is not None
            finished: list[tuple[str, str | None, dict[str, Any]]] = []
            rows = await session.scalars(
                select(DeploymentTask).where(DeploymentTask.id.in_([task_id for task_id, _item in dispatched]))
            )
            tasks = {t.id: t for t in rows}
            await lock_sticker_targets(session, [t.target_id for t in tasks.values() if t.id in signed])
            for (task_id, _item), done in zip(dispatched, results, strict=True):
                task = tasks.get(task_id)
                if task is None:
                    continue
                result = dict(done.get("result") or {})
                state = {"succeeded": "succeeded", "cancelled": "cancelled", "timeout": "timed_out"}.get(
                    done["state"], "failed"
                )
                task.state, task.finished_at = state, utcnow()
                task.log = [str(line) for line in result.pop("log", [])][:500]
                task.result = result
                deployed: dict[str, Any] = result["deploy"] if isinstance(result.get("deploy"), dict) else {}
                task.message = str(done.get("error") or result.get("error") or deployed.get("message") or state)[:4000]
                outcomes.append(state)
                if state == "succeeded" and task.id in signed:
                    await record_sticker(session, job_row, task.target_id, task.target_name, signed[task.id])
                finished.extend(("log", task.target_id, {"line": line}) for line in task.log)
                finished.append(("task", task.target_id, {"state": state, "message": task.message}))
                log(f"{task.target_name}: {state}" + (f" ({task.message})" if state != "succeeded" else ""))
            await emit(session, job_id, finished)
        return outcomes

    async def _refuse_pending(self, tenant: str, job_id: str, message: str) -> None:
        async with self.db.session(tenant, write=True) as session:
            job = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id))
            if job is None or job.state != "pending":
                return
            job.state, job.message, job.finished_at = transition(job.state, "fail"), message[:4000], utcnow()
            await emit(session, job.id, [("job", None, {"state": job.state, "message": job.message})])
            await session.flush()
            await record_job_outcome(session, job, [], [], [message])

    async def _cancel_queued(self, tenant: str, job_id: str, message: str) -> None:
        async with self.db.session(tenant, write=True) as session:
            cancelled: list[tuple[str, str | None, dict[str, Any]]] = []
            for task in await session.scalars(
                select(DeploymentTask).where(DeploymentTask.job_id == job_id, DeploymentTask.state == "queued")
            ):
                task.state, task.message, task.finished_at = "cancelled", message, utcnow()
                cancelled.append(("task", task.target_id, {"state": "cancelled", "message": message}))
            await emit(session, job_id, cancelled)

    async def _finish(
        self, tenant: str, job_id: str, state: str, message: str, log: Callable[[str], None]
    ) -> dict[str, Any]:
        async with self.db.session(tenant, write=True) as session:
            job = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id))
            assert job is not None
            job.state, job.message, job.finished_at = transition(job.state, ACTION_TO[state]), message[:4000], utcnow()
            tasks = list(await session.scalars(select(DeploymentTask).where(DeploymentTask.job_id == job_id)))
            kept = list(
                await session.scalars(
                    select(VersionSticker)
                    .where(VersionSticker.deployment_job_id == job_id)
                    .order_by(VersionSticker.target_name)
                )
            )
            session.add(_blob(job_id, tenant, "stickers.json", {s.target_name: s.sticker for s in kept}))
            if state == "succeeded" and job.kind != "candidate":
                # (A candidate beside the current release does not replace it: its A/B
                # release's promotion does.)
                env = await session.scalar(select(Environment).where(Environment.id == job.environment_id))
                if env is not None:
                    env.current_release_id = job.release_id
                if job.kind == "rollback":
                    await mark_rolled_back(session, job)
                    hook = (env.rollback_policy or {}).get("hookTemplateId") if env is not None else None
                    if hook and self.queue is not None:
                        await self._start_hook(session, job, str(hook), log)
            counts: dict[str, int] = {}
            for t in tasks:
                counts[t.state] = counts.get(t.state, 0) + 1
            await session.flush()
            await record_job_outcome(
                session, job, tasks, kept, [*(JOB_LOG.get() or []), f"deployment job {job_id}: {state}: {message}"]
            )
            await emit(session, job_id, [("job", None, {"state": state, "message": message[:4000], "tasks": counts})])
            COUNTS[f"{job.kind}:{state}"] += 1
            if job.started_at is not None:
                seen, total = DURATIONS.get(job.kind, (0, 0.0))
                DURATIONS[job.kind] = (seen + 1, total + (utcnow() - job.started_at).total_seconds())
            await audit_change(
                session, _system(tenant), "deployment_job.finish", "deployment_job", job_id, None, job_out(job, counts)
            )
        log(f"deployment job {job_id}: {state}: {message}")
        return {"jobId": job_id, "state": state, "message": message, "tasks": counts}

    async def _start_hook(
        self, session: AsyncSession, job: DeploymentJob, template_id: str, log: Callable[[str], None]
    ) -> None:
        """The environment's rollback hook: a workflow run after each successful rollback."""
        from shiplane.workflows.service import WorkflowService

        principal = Principal(
            user_id="shiplane:rollbacks",
            tenant_id=job.tenant_id,
            roles=("system",),
            permissions=frozenset({"*:read"}),
            tier=None,
        )
        plugins = PluginService(session, principal, self.registry, self.box, self.states)
        context = {
            "kind": "rollback-hook",
            "jobId": job.id,
            "releaseId": job.release_id,
            "environmentId": job.environment_id,
        }
        try:
            started = await WorkflowService(plugins, self.queue).create_run(template_id, None, {}, context)
        except ApiError as exc:
            log(f"the rollback hook {template_id} could not start: {exc.message}")
            return
        log(f"rollback hook: workflow run {started.data['id']}")


async def mark_rolled_back(session: AsyncSession, rollback: DeploymentJob) -> None:
    """A rollback succeeded: the deployments of the release it replaced in that environment
    are ``rolled_back``, and so are the promotions that made them."""
    from shiplane.promotions.models import Promotion
    from shiplane.promotions.states import transition as promotion_transition

    if rollback.previous_release_id is None:
        return
    # Only the latest deployment of that release there: older ones were superseded already.
    replaced = await session.scalars(
        select(DeploymentJob)
        .where(
            DeploymentJob.environment_id == rollback.environment_id,
            DeploymentJob.release_id == rollback.previous_release_id,
            DeploymentJob.state.in_(("succeeded", "partially_applied")),
            DeploymentJob.id != rollback.id,
        )
        .order_by(DeploymentJob.created_at.desc(), DeploymentJob.id.desc())
        .limit(1)
    )
    for job in replaced:
        job.state = transition(job.state, "roll_back")
        job.message = f"rolled back by {rollback.id}"
        if job.promotion_id:
            promotion = await session.scalar(select(Promotion).where(Promotion.id == job.promotion_id))
            if promotion is not None and promotion.state in ("succeeded", "deploying"):
                promotion.state = promotion_transition(promotion.state, "roll_back")
                promotion.message = f"rolled back by deployment job {rollback.id}"


class DeploymentReads:
    def __init__(self, db: Database, principal: Principal) -> None:
        self.db = db
        self.principal = principal

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([job_out(row) for row in page.items], page.pagination)

    async def _job(self, session: AsyncSession, job_id: str) -> DeploymentJob:
        job = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == job_id))
        if job is None:
            raise not_found("deployment job", job_id)
        return job

    async def job(self, job_id: str) -> dict[str, Any]:
        async with self.db.session(self.principal.tenant_id, write=False) as session:
            job = await self._job(session, job_id)
            counts: dict[str, int] = {}
            for state in await session.scalars(select(DeploymentTask.state).where(DeploymentTask.job_id == job_id)):
                counts[state] = counts.get(state, 0) + 1
            return job_out(job, counts)

    async def tasks(self, job_id: str) -> list[dict[str, Any]]:
        async with self.db.session(self.principal.tenant_id, write=False) as session:
            await self._job(session, job_id)
            rows = await session.scalars(
                select(DeploymentTask)
                .where(DeploymentTask.job_id == job_id)
                .order_by(DeploymentTask.batch, DeploymentTask.target_name)
            )
            return [task_out(r) for r in rows]

    async def task(self, job_id: str, task_id: str) -> DeploymentTask:
        async with self.db.session(self.principal.tenant_id, write=False) as session:
            await self._job(session, job_id)
            row = await session.scalar(
                select(DeploymentTask).where(DeploymentTask.job_id == job_id, DeploymentTask.id == task_id)
            )
            if row is None:
                raise not_found("deployment task", task_id)
            return row

    async def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        async with self.db.session(self.principal.tenant_id, write=False) as session:
            await self._job(session, job_id)
            rows = await session.scalars(
                select(DeploymentArtifact).where(DeploymentArtifact.job_id == job_id).order_by(DeploymentArtifact.name)
            )
            return [artifact_out(r) for r in rows]

    async def artifact(self, job_id: str, artifact_id: str) -> DeploymentArtifact:
        async with self.db.session(self.principal.tenant_id, write=False) as session:
            await self._job(session, job_id)
            row = await session.scalar(
                select(DeploymentArtifact).where(
                    DeploymentArtifact.job_id == job_id, DeploymentArtifact.id == artifact_id
                )
            )
            if row is None:
                raise not_found("deployment artifact", artifact_id)
            return row


async def fail_unfinished_jobs(session: AsyncSession, run: Any) -> None:
    """A workflow run ended (engine.RUN_FINISHED, in its transaction): a deployment job it
    owned that is still pending or running (its process died, its step never ran) fails,
    so the environment is not left "under way" for ever."""
    rows = await session.scalars(
        select(DeploymentJob).where(
            DeploymentJob.workflow_run_id == run.id, DeploymentJob.state.in_(("pending", "running"))
        )
    )
    for job in rows:
        job.state = transition(job.state, "fail")
        job.message = f"its workflow run ended ({run.state}) before the deployment did"
        job.finished_at = utcnow()
        await emit(session, job.id, [("job", None, {"state": job.state, "message": job.message})])
        tasks = list(await session.scalars(select(DeploymentTask).where(DeploymentTask.job_id == job.id)))
        kept = list(await session.scalars(select(VersionSticker).where(VersionSticker.deployment_job_id == job.id)))
        await session.flush()
        await record_job_outcome(session, job, tasks, kept, [job.message])
