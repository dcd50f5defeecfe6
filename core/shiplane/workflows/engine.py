"""The workflow engine: runs advance through the durable work queue.

Each step to run is one ``workflow-step`` work item. Any process with the engine
(``shiplane serve``, or ``shiplane worker`` without the API) claims items, runs the
step through the plugin guard, and then, in one transaction with the run row locked,
records the outcome and *advances* the run: dependants whose dependencies are done are
queued (each with its own item), the others skipped when a dependency failed, and the
run finishes when every step has. Every state change is a compare-and-set against the
state read (states.py), so concurrent workers never both move one step or run.

Crashes: an item whose holder died is claimed again when its lease runs out. A step
found ``running`` then was interrupted: an idempotent step type runs again; any other
fails with the reason, never re-run silently. Log lines are acknowledged once written
(every half second while the step runs, and at its end); an acknowledged line is never
lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shiplane_sdk import StepCancelled, StepResult, StepType
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.engine.queue import Claim, WorkQueue
from shiplane.integrations.models import Integration
from shiplane.platform.database import Database, new_id, utcnow
from shiplane.platform.secrets import SecretBox, secret_values, unseal
from shiplane.platform.tasks import stop_task
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.service import enabled_plugin_ids
from shiplane.workflows.expressions import ExpressionError, parse_condition, render, truthy
from shiplane.workflows.models import WorkflowArtifact, WorkflowEvent, WorkflowRun, WorkflowStep
from shiplane.workflows.states import RUN_TERMINAL, STEP_TERMINAL

log = logging.getLogger("shiplane.workflows")

KIND = "workflow-step"
DEFAULT_TIMEOUT = 3600
MAX_BACKOFF = 600.0
MAX_LOG_LINE = 8192
MAX_ARTIFACT_BYTES = 10 * 1024 * 1024
FLUSH_SECONDS = 0.5


async def lock_run(session: AsyncSession, run_id: str) -> WorkflowRun | None:
    return await session.scalar(select(WorkflowRun).where(WorkflowRun.id == run_id).with_for_update())


def add_events(session: AsyncSession, run: WorkflowRun, events: list[tuple[str | None, str, dict[str, Any]]]) -> None:
    """Append to the run's stream; the run row must be locked (it numbers them)."""
    for node_id, kind, data in events:
        run.seq += 1
        session.add(
            WorkflowEvent(tenant_id=run.tenant_id, run_id=run.id, seq=run.seq, node_id=node_id, kind=kind, data=data)
        )


async def set_step(session: AsyncSession, step_id: str, expected: str, new: str, **values: Any) -> bool:
    """Compare-and-set a step's state; whether this caller moved it."""
    result = await session.execute(
        update(WorkflowStep)
        .where(WorkflowStep.id == step_id, WorkflowStep.state == expected)
        .values(state=new, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def enqueue_step(
    session: AsyncSession, queue: WorkQueue, run: WorkflowRun, node_id: str, delay: float = 0
) -> None:
    run_at = utcnow() + timedelta(seconds=delay) if delay else None
    await queue.enqueue(session, KIND, {"runId": run.id, "nodeId": node_id}, run_at=run_at, max_attempts=5)


@dataclass
class _StepState:
    id: str
    node_id: str
    state: str


def _dependency_ok(dep: _StepState, node: dict[str, Any]) -> bool | None:
    """True: the dependant may run; False: it must be skipped; None: not decided yet."""
    if dep.state in ("succeeded", "skipped"):
        return True
    if dep.state == "failed":
        return node.get("onFailure") == "continue"
    if dep.state == "cancelled":
        return False
    return None


async def advance(session: AsyncSession, queue: WorkQueue, run: WorkflowRun) -> None:
    """Queue what may run now, skip what cannot, finish the run when every step has.
    The caller holds the run row lock."""
    if run.state in RUN_TERMINAL:
        return
    # Plain rows, not ORM objects: a 1,000-node run reads them at every step's end.
    rows = await session.execute(
        select(WorkflowStep.id, WorkflowStep.node_id, WorkflowStep.state).where(WorkflowStep.run_id == run.id)
    )
    steps = {row.node_id: _StepState(row.id, row.node_id, row.state) for row in rows}
    nodes = {n["id"]: n for n in run.nodes}
    events: list[tuple[str | None, str, dict[str, Any]]] = []
    changed = True
    while changed:  # a skip can decide further dependants in the same pass
        changed = False
        for node_id, step in steps.items():
            if step.state == "waiting" and run.state == "cancelling":
                if await set_step(
                    session, step.id, "waiting", "cancelled", message="the run was cancelled", finished_at=utcnow()
                ):
                    step.state = "cancelled"
                    events.append((node_id, "step", {"state": "cancelled"}))
                    changed = True
                continue
            if step.state != "pending":
                continue
            node = nodes[node_id]
            verdicts = [_dependency_ok(steps[d], nodes[d]) for d in node.get("dependsOn", [])]
            if run.state == "cancelling":
                if await set_step(
                    session, step.id, "pending", "cancelled", message="the run was cancelled", finished_at=utcnow()
                ):
                    step.state = "cancelled"
                    events.append((node_id, "step", {"state": "cancelled"}))
                    changed = True
            elif any(v is False for v in verdicts):
                blocker = next(d for d, v in zip(node.get("dependsOn", []), verdicts, strict=False) if v is False)
                message = f"skipped: dependency {blocker!r} {steps[blocker].state}"
                if await set_step(session, step.id, "pending", "skipped", message=message, finished_at=utcnow()):
                    step.state = "skipped"
                    events.append((node_id, "step", {"state": "skipped", "message": message}))
                    changed = True
            elif all(v is True for v in verdicts) and run.state == "running":
                if await set_step(session, step.id, "pending", "queued"):
                    step.state = "queued"
                    await enqueue_step(session, queue, run, node_id)
                    events.append((node_id, "step", {"state": "queued"}))
    if all(s.state in STEP_TERMINAL for s in steps.values()):
        failed = [
            s.node_id for s in steps.values() if s.state == "failed" and nodes[s.node_id].get("onFailure") != "continue"
        ]
        if run.state == "cancelling":
            new, message = "cancelled", "cancelled"
        elif run.state == "running":
            new = "failed" if failed else "succeeded"
            message = f"failed: {', '.join(failed)}" if failed else "every step finished"
        else:
            new = ""
            message = ""
        if new:
            run.state, run.message, run.finished_at = new, message, utcnow()
            events.append((None, "run", {"state": new, "message": message}))
    add_events(session, run, events)


class StepRunContext:
    """The ``StepContext`` a step sees. Its methods are sync, cheap and thread-safe:
    log lines and artifacts are buffered and written by the engine."""

    def __init__(
        self,
        tenant_id: str,
        run: WorkflowRun,
        node_id: str,
        integrations: dict[str, Any],
        box: SecretBox,
        registry: PluginRegistry,
    ) -> None:
        self.tenant_id = tenant_id
        self.run_id = run.id
        self.step_id = node_id
        self.inputs = dict(run.inputs)
        self._integrations = integrations
        self._box = box
        self._registry = registry
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._artifacts: dict[str, tuple[bytes, str]] = {}
        self.cancelled = False

    def log(self, line: str) -> None:
        with self._lock:
            for part in str(line).splitlines() or [""]:
                self._lines.append(part[:MAX_LOG_LINE])

    def write_artifact(self, name: str, content: bytes, content_type: str = "application/octet-stream") -> None:
        if not isinstance(content, bytes | bytearray) or len(content) > MAX_ARTIFACT_BYTES:
            raise ValueError(f"an artifact is bytes of at most {MAX_ARTIFACT_BYTES} bytes")
        with self._lock:
            self._artifacts[str(name)[:255]] = (bytes(content), str(content_type)[:255])

    def is_cancelled(self) -> bool:
        return self.cancelled

    def integration(self, name: str) -> dict[str, Any]:
        row = self._integrations.get(name)
        if row is None:
            raise KeyError(f"no integration named {name!r}")
        registered = self._registry.capabilities.get("integration_type", {}).get(row["typeId"])
        paths = registered.capability.secret_fields() if registered is not None else []
        return unseal(row["config"], paths, self._box)

    def secret(self, name: str) -> str:
        # Secrets for runs come with variables (not built yet): none is available.
        raise KeyError(f"no secret named {name!r} is available to this run")

    def take(self) -> tuple[list[str], dict[str, tuple[bytes, str]]]:
        with self._lock:
            lines, artifacts = self._lines, self._artifacts
            self._lines, self._artifacts = [], {}
        return lines, artifacts


class WorkflowEngine:
    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        queue: WorkQueue,
        box: SecretBox,
        *,
        concurrency: int = 16,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.registry = registry
        self.queue = queue
        self.box = box
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.counts: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="shiplane-workflow-engine")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _run(self) -> None:
        wake = self.queue.subscribe()
        while True:
            wake.clear()
            try:
                free = self.concurrency - len(self._running)
                claims = await self.queue.claim([KIND], self.lease, limit=free) if free > 0 else []
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried at the next round
                log.exception("claiming workflow steps failed")
                claims = []
            for claim in claims:
                task = asyncio.create_task(self._guarded(claim))
                self._running.add(task)
                task.add_done_callback(self._slot_freed)
            if not claims:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_seconds)

    def _slot_freed(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        # A free slot claims at once: waiting for the poll interval capped a full process
        # at `concurrency` steps per interval.
        self.queue.wake()

    async def _guarded(self, claim: Claim) -> None:
        try:
            await self.execute(claim)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the item's lease expires and another attempt follows
            log.exception("workflow step failed in the engine", extra={"item": claim.id})

    # -- one step -----------------------------------------------------------------------------

    async def execute(self, claim: Claim) -> None:
        run_id, node_id = str(claim.payload.get("runId")), str(claim.payload.get("nodeId"))
        tenant = claim.tenant_id
        async with self.db.session(tenant, write=True) as session:
            run = await lock_run(session, run_id)
            step = await session.scalar(
                select(WorkflowStep).where(WorkflowStep.run_id == run_id, WorkflowStep.node_id == node_id)
            )
            if run is None or step is None or step.state in STEP_TERMINAL or step.state == "pending":
                await self.queue.complete_in(session, claim.id, claim.epoch, {"stale": True})
                return
            node = next(n for n in run.nodes if n["id"] == node_id)
            capability, plugin_id = self._step_type(step.type)
            if run.state == "cancelling":
                await set_step(
                    session, step.id, step.state, "cancelled", message="the run was cancelled", finished_at=utcnow()
                )
                add_events(session, run, [(node_id, "step", {"state": "cancelled"})])
                await advance(session, self.queue, run)
                await self.queue.complete_in(session, claim.id, claim.epoch, {"cancelled": True})
                return
            if run.state == "paused" and step.state == "queued":
                await set_step(session, step.id, "queued", "pending")
                add_events(
                    session, run, [(node_id, "step", {"state": "pending", "message": "held: the run is paused"})]
                )
                await self.queue.complete_in(session, claim.id, claim.epoch, {"held": True})
                return
            if step.state == "running":
                # Its previous holder died mid-step.
                if capability is None or not capability.idempotent:
                    message = (
                        "interrupted: the process running this step stopped, and its step type is not "
                        "idempotent, so it is not run again"
                    )
                    await set_step(session, step.id, "running", "failed", message=message, finished_at=utcnow())
                    add_events(session, run, [(node_id, "step", {"state": "failed", "message": message})])
                    await advance(session, self.queue, run)
                    await self.queue.complete_in(session, claim.id, claim.epoch, {"interrupted": True})
                    self.counts["interrupted"] += 1
                    return
                moved = await set_step(
                    session, step.id, "running", "running", attempt=step.attempt + 1, started_at=utcnow()
                )
            else:
                moved = await set_step(
                    session, step.id, "queued", "running", attempt=step.attempt + 1, started_at=utcnow()
                )
            if not moved:
                await self.queue.complete_in(session, claim.id, claim.epoch, {"stale": True})
                return
            attempt = step.attempt + 1
            add_events(session, run, [(node_id, "step", {"state": "running", "attempt": attempt})])
        # What the step reads needs no lock: the run row is held only for the state change.
        async with self.db.session(tenant, write=False) as session:
            scope = await self._scope(session, run)
            integrations = {
                row.name: {"typeId": row.type_id, "config": row.config}
                for row in await session.execute(
                    select(Integration.name, Integration.type_id, Integration.config).limit(500)
                )
            }
            enabled = await enabled_plugin_ids(session, self.registry)
        # The step runs outside any transaction.
        outcome = await self._run_step(claim, run, node, capability, plugin_id, enabled, scope, integrations, attempt)
        await self._finish(claim, run_id, node, step.id, attempt, outcome)

    def _step_type(self, type_id: str) -> tuple[StepType | None, str | None]:
        registered = self.registry.capabilities.get("step_type", {}).get(type_id)
        if registered is None or not isinstance(registered.capability, StepType):
            return None, None
        return registered.capability, registered.plugin_id

    async def _scope(self, session: AsyncSession, run: WorkflowRun) -> dict[str, Any]:
        steps = await session.execute(
            select(WorkflowStep.node_id, WorkflowStep.state, WorkflowStep.outputs).where(WorkflowStep.run_id == run.id)
        )
        return {
            "inputs": run.inputs,
            "steps": {s.node_id: {"outputs": s.outputs, "state": s.state} for s in steps},
            "run": {"id": run.id, "templateId": run.template_id, "context": run.context},
            "env": {},
        }

    async def _run_step(
        self,
        claim: Claim,
        run: WorkflowRun,
        node: dict[str, Any],
        capability: StepType | None,
        plugin_id: str | None,
        enabled: set[str],
        scope: dict[str, Any],
        integrations: dict[str, Any],
        attempt: int,
    ) -> tuple[str, dict[str, Any], str, StepRunContext | None]:
        """``(state, outputs, message, context)``: succeeded, failed or skipped."""
        if capability is None or plugin_id is None:
            return "failed", {}, f"step type {node['type']!r} is not installed", None
        if plugin_id not in enabled:
            return "failed", {}, f"step type {node['type']!r}: plugin {plugin_id!r} is disabled for the tenant", None
        try:
            if node.get("when") and not truthy(parse_condition(node["when"]).evaluate(scope)):
                return "skipped", {}, f"skipped: `when` {node['when']!r} is false", None
            paths = capability.secret_fields()
            config = render(unseal(node.get("config") or {}, paths, self.box), scope)
        except ExpressionError as exc:
            return "failed", {}, f"expression: {exc}", None
        ctx = StepRunContext(claim.tenant_id, run, node["id"], integrations, self.box, self.registry)
        try:
            errors = await self.registry.guard.call(
                plugin_id,
                "validate config",
                capability.validate_config,
                config,
                tenant_id=claim.tenant_id,
                breaker_free=True,
                lane="step",
            )
        except PluginCallFailed as exc:
            return "failed", {}, f"the configuration could not be checked: {exc.reason}", ctx
        if errors:
            return (
                "failed",
                {},
                "invalid config: " + "; ".join(f"{e.field or 'config'}: {e.message}" for e in errors[:5]),
                ctx,
            )
        keeper = asyncio.create_task(self._keep(claim, run.id, node["id"], ctx))
        try:
            result = await self.registry.guard.call(
                plugin_id,
                "step",
                capability.run,
                ctx,
                config,
                timeout=float(node.get("timeoutSeconds") or DEFAULT_TIMEOUT),
                secrets=secret_values(config, paths),
                tenant_id=claim.tenant_id,
                breaker_free=True,
                lane="step",
            )
        except PluginCallFailed as exc:
            if exc.kind == "StepCancelled" or ctx.cancelled:
                return "cancelled", {}, "cancelled", ctx
            return "failed", {}, exc.reason, ctx
        except StepCancelled:
            return "cancelled", {}, "cancelled", ctx
        finally:
            await stop_task(keeper)
        if not isinstance(result, StepResult):
            return "failed", {}, f"step returned {type(result).__name__}, not a StepResult", ctx
        return result.status, dict(result.outputs), result.message, ctx

    async def _keep(self, claim: Claim, run_id: str, node_id: str, ctx: StepRunContext) -> None:
        """While the step runs: renew the lease, write log lines, notice cancellation."""
        renew_every = max(self.lease.total_seconds() / 3, FLUSH_SECONDS)
        last_renew = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._flush(claim.tenant_id, run_id, node_id, ctx)
            async with self.db.session(claim.tenant_id, write=False) as session:
                state = await session.scalar(select(WorkflowRun.state).where(WorkflowRun.id == run_id))
            ctx.cancelled = state in ("cancelling", "cancelled")
            now = asyncio.get_running_loop().time()
            if now - last_renew >= renew_every:
                await self.queue.renew(claim.id, claim.epoch, self.lease)
                last_renew = now

    async def _flush(
        self, tenant: str, run_id: str, node_id: str, ctx: StepRunContext, session: AsyncSession | None = None
    ) -> None:
        lines, artifacts = ctx.take()
        if not lines and not artifacts:
            return
        if session is None:
            async with self.db.session(tenant, write=True) as own:
                await self._write_output(own, tenant, run_id, node_id, lines, artifacts)
        else:
            await self._write_output(session, tenant, run_id, node_id, lines, artifacts)

    async def _write_output(
        self,
        session: AsyncSession,
        tenant: str,
        run_id: str,
        node_id: str,
        lines: list[str],
        artifacts: dict[str, tuple[bytes, str]],
    ) -> None:
        run = await lock_run(session, run_id)
        if run is None:
            return
        add_events(session, run, [(node_id, "log", {"line": line}) for line in lines])
        for name, (content, content_type) in artifacts.items():
            existing = await session.scalar(
                select(WorkflowArtifact).where(
                    WorkflowArtifact.run_id == run_id,
                    WorkflowArtifact.node_id == node_id,
                    WorkflowArtifact.name == name,
                )
            )
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            if existing is None:
                session.add(
                    WorkflowArtifact(
                        id=new_id(),
                        tenant_id=tenant,
                        run_id=run_id,
                        node_id=node_id,
                        name=name,
                        content_type=content_type,
                        digest=digest,
                        size=len(content),
                        content=content,
                    )
                )
            else:
                existing.content, existing.content_type, existing.digest, existing.size = (
                    content,
                    content_type,
                    digest,
                    len(content),
                )

    async def _finish(
        self,
        claim: Claim,
        run_id: str,
        node: dict[str, Any],
        step_id: str,
        attempt: int,
        outcome: tuple[str, dict[str, Any], str, StepRunContext | None],
    ) -> None:
        state, outputs, message, ctx = outcome
        try:
            async with self.db.session(claim.tenant_id, write=True) as session:
                await self._record(session, claim, run_id, node, step_id, attempt, state, outputs, message, ctx)
        except _Stale:
            self.counts["stale"] += 1
            log.warning("a step's result came after its lease was taken over; dropped", extra={"item": claim.id})

    async def _record(
        self,
        session: AsyncSession,
        claim: Claim,
        run_id: str,
        node: dict[str, Any],
        step_id: str,
        attempt: int,
        state: str,
        outputs: dict[str, Any],
        message: str,
        ctx: StepRunContext | None,
    ) -> None:
        node_id = node["id"]
        # Fencing first: a holder whose lease was taken over records nothing (the transaction rolls back).
        if not await self.queue.complete_in(session, claim.id, claim.epoch, {"state": state}):
            raise _Stale
        run = await lock_run(session, run_id)
        if run is not None:
            if ctx is not None:
                await self._flush(claim.tenant_id, run_id, node_id, ctx, session)
            retry = node.get("retry") or {}
            events: list[tuple[str | None, str, dict[str, Any]]] = []
            if state == "failed" and attempt <= int(retry.get("max", 0)) and run.state == "running":
                delay = min(float(retry.get("backoff", 5.0)) * 2 ** (attempt - 1), MAX_BACKOFF)
                if await set_step(
                    session, step_id, "running", "queued", message=f"attempt {attempt} failed: {message}"[:4000]
                ):
                    await enqueue_step(session, self.queue, run, node_id, delay)
                    events.append((node_id, "step", {"state": "queued", "message": message, "retryIn": delay}))
                    self.counts["retried"] += 1
            elif state == "failed" and node.get("onFailure") == "ask" and run.state in ("running", "paused"):
                if await set_step(session, step_id, "running", "waiting", message=message[:4000]):
                    events.append((node_id, "step", {"state": "waiting", "message": message[:4000]}))
                    self.counts["waiting"] += 1
            else:
                final = state if state in ("succeeded", "failed", "skipped", "cancelled") else "failed"
                values: dict[str, Any] = {"message": message[:4000], "finished_at": utcnow()}
                if final == "succeeded":
                    values["outputs"] = outputs
                if await set_step(session, step_id, "running", final, **values):
                    events.append((node_id, "step", {"state": final, "message": message[:4000]}))
                    self.counts[final] += 1
            add_events(session, run, events)
            await advance(session, self.queue, run)


class _Stale(Exception):
    pass
