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
import hashlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shiplane_sdk import NotificationMessage, PluginError, StepCancelled, StepResult, StepType
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from shiplane.engine.queue import Claim, WorkQueue
from shiplane.integrations.models import Integration
from shiplane.platform.database import Database, new_id, utcnow
from shiplane.platform.envelope import rfc3339
from shiplane.platform.secrets import SecretBox, is_sealed, secret_values, unseal
from shiplane.platform.tasks import stop_task, wait_event
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.service import enabled_plugin_ids
from shiplane.workflows.expressions import ExpressionError, expressions_in, parse_condition, render, truthy
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
    """The run row, locked. Its ``nodes`` are not loaded (``graph_of`` has them): decoding a
    1,000-node definition at every step's start and end was a third of the engine's time."""
    return await session.scalar(
        select(WorkflowRun)
        .options(defer(WorkflowRun.nodes, raiseload=True))
        .where(WorkflowRun.id == run_id)
        .with_for_update()
    )


@dataclass
class RunGraph:
    """A run's nodes (immutable: the pinned template version), with what the engine asks of them."""

    nodes: dict[str, dict[str, Any]]
    dependants: dict[str, list[str]]
    _reads: dict[str, frozenset[str] | None] = field(default_factory=dict)

    @classmethod
    def of(cls, nodes: list[dict[str, Any]]) -> RunGraph:
        dependants: dict[str, list[str]] = {n["id"]: [] for n in nodes}
        for n in nodes:
            for dep in n.get("dependsOn", []):
                dependants.setdefault(dep, []).append(n["id"])
        return cls({n["id"]: n for n in nodes}, dependants)

    def reads(self, node_id: str) -> frozenset[str] | None:
        """The steps whose outputs or state the node's expressions read (validation keeps
        them upstream); None when that cannot be told (a sealed field may hold one)."""
        if node_id not in self._reads:
            node = self.nodes[node_id]
            found: set[str] | None = set()
            try:
                expressions = [e for _path, e in expressions_in(node.get("config") or {})]
                if node.get("when"):
                    expressions.append(parse_condition(node["when"]))
                if _holds_sealed(node.get("config")):
                    found = None
            except ExpressionError:
                expressions = []  # the step fails when it renders; it reads nothing
            for expression in expressions:
                for reference in expression.references():
                    if found is None or not reference.path or reference.path[0] != "steps":
                        continue
                    if len(reference.path) < 2:
                        found = None  # `steps[<computed>]` or `steps` itself: it may read any step
                    else:
                        found.add(str(reference.path[1]))
            self._reads[node_id] = frozenset(found) if found is not None else None
        return self._reads[node_id]


def _holds_sealed(value: Any) -> bool:
    if is_sealed(value):
        return True
    if isinstance(value, dict):
        return any(_holds_sealed(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_sealed(v) for v in value)
    return False


#: Called in the transaction that finishes a run (its row locked), e.g. to finish the
#: promotion whose deployment workflow it was. Registered by the composition root.
RUN_FINISHED: list[Callable[[AsyncSession, WorkflowRun], Awaitable[None]]] = []

_GRAPHS: OrderedDict[str, RunGraph] = OrderedDict()
_GRAPHS_KEPT = 256


async def graph_of(session: AsyncSession, run_id: str) -> RunGraph:
    """The run's graph, from this process's cache (a run's nodes never change)."""
    graph = _GRAPHS.get(run_id)
    if graph is not None:
        _GRAPHS.move_to_end(run_id)
        return graph
    nodes = await session.scalar(select(WorkflowRun.nodes).where(WorkflowRun.id == run_id))
    graph = RunGraph.of(list(nodes or []))
    _GRAPHS[run_id] = graph
    while len(_GRAPHS) > _GRAPHS_KEPT:
        _GRAPHS.popitem(last=False)
    return graph


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


async def _step_rows(session: AsyncSession, run_id: str, node_ids: Collection[str] | None) -> dict[str, _StepState]:
    # Plain rows, not ORM objects.
    statement = select(WorkflowStep.id, WorkflowStep.node_id, WorkflowStep.state).where(WorkflowStep.run_id == run_id)
    if node_ids is not None:
        if not node_ids:
            return {}
        statement = statement.where(WorkflowStep.node_id.in_(sorted(node_ids)))
    return {row.node_id: _StepState(row.id, row.node_id, row.state) for row in await session.execute(statement)}


def _around(graph: RunGraph, node_ids: Collection[str]) -> set[str]:
    """The dependants of ``node_ids`` and what each of them depends on."""
    wanted: set[str] = set()
    for node_id in node_ids:
        for dependant in graph.dependants.get(node_id, []):
            wanted.add(dependant)
            wanted.update(graph.nodes[dependant].get("dependsOn", []))
    return wanted


async def advance(
    session: AsyncSession, queue: WorkQueue, run: WorkflowRun, changed: Collection[str] | None = None
) -> None:
    """Queue what may run now, skip what cannot, finish the run when every step has.
    The caller holds the run row lock.

    With ``changed`` (the nodes whose state the caller just moved), only their dependants
    (and, after a skip, theirs) are read: a step's end in a 1,000-node run reads a few rows,
    not all of them. Without it (a run starts, resumes or is cancelled) every step is."""
    if run.state in RUN_TERMINAL:
        return
    graph = await graph_of(session, run.id)
    nodes = graph.nodes
    whole = changed is None or run.state == "cancelling"
    steps = await _step_rows(session, run.id, None if whole else _around(graph, changed or []))
    events: list[tuple[str | None, str, dict[str, Any]]] = []
    decided: list[str] = []
    again = True
    while again:  # a skip can decide further dependants in the same pass
        again = False
        for node_id, step in list(steps.items()):
            if step.state in ("waiting", "queued") and run.state == "cancelling":
                # A queued step's work item, when an engine claims it, finds the step ended
                # (under this same run lock) and is dropped: the run ends now, not then.
                if await set_step(
                    session, step.id, step.state, "cancelled", message="the run was cancelled", finished_at=utcnow()
                ):
                    step.state = "cancelled"
                    events.append((node_id, "step", {"state": "cancelled"}))
                    again = True
                continue
            if step.state != "pending":
                continue
            node = nodes[node_id]
            depends = node.get("dependsOn", [])
            if any(d not in steps for d in depends):
                continue  # read only for a neighbour's sake
            verdicts = [_dependency_ok(steps[d], nodes[d]) for d in depends]
            if run.state == "cancelling":
                if await set_step(
                    session, step.id, "pending", "cancelled", message="the run was cancelled", finished_at=utcnow()
                ):
                    step.state = "cancelled"
                    events.append((node_id, "step", {"state": "cancelled"}))
                    again = True
            elif any(v is False for v in verdicts):
                blocker = next(d for d, v in zip(depends, verdicts, strict=False) if v is False)
                message = f"skipped: dependency {blocker!r} {steps[blocker].state}"
                if await set_step(session, step.id, "pending", "skipped", message=message, finished_at=utcnow()):
                    step.state = "skipped"
                    events.append((node_id, "step", {"state": "skipped", "message": message}))
                    decided.append(node_id)
                    again = True
            elif all(v is True for v in verdicts) and run.state == "running":
                if await set_step(session, step.id, "pending", "queued"):
                    step.state = "queued"
                    await enqueue_step(session, queue, run, node_id)
                    events.append((node_id, "step", {"state": "queued"}))
        if decided and not whole:
            # What the skipped steps' dependants need, not read yet.
            missing = _around(graph, decided) - set(steps)
            decided = []
            if missing:
                steps.update(await _step_rows(session, run.id, missing))
                again = True
    if whole:
        unfinished = sum(1 for s in steps.values() if s.state not in STEP_TERMINAL)
    else:
        unfinished = (
            await session.scalar(
                select(func.count())
                .select_from(WorkflowStep)
                .where(WorkflowStep.run_id == run.id, WorkflowStep.state.not_in(sorted(STEP_TERMINAL)))
            )
            or 0
        )
    if unfinished == 0:
        failed_ids = (
            [s.node_id for s in steps.values() if s.state == "failed"]
            if whole
            else list(
                await session.scalars(
                    select(WorkflowStep.node_id).where(WorkflowStep.run_id == run.id, WorkflowStep.state == "failed")
                )
            )
        )
        failed = [n for n in failed_ids if nodes[n].get("onFailure") != "continue"]
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
            for hook in RUN_FINISHED:
                await hook(session, run)
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
        decisions: list[dict[str, Any]] | None = None,
        services: Any = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.run_id = run.id
        self.step_id = node_id
        self.inputs = dict(run.inputs)
        self.requested_by = run.created_by
        self.decisions = list(decisions or [])
        self._context = dict(run.context or {})
        self._integrations = integrations
        self._box = box
        self._registry = registry
        self._services = services
        # Core services are coroutines on this loop; an out-of-process plugin's callbacks
        # (served in another thread) run them here too.
        self.loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._artifacts: dict[str, tuple[bytes, str]] = {}
        self.cancelled = False
        self.wait: dict[str, Any] | None = None

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

    # -- core services (step_services.py) -------------------------------------------------------

    def _need_services(self) -> Any:
        if self._services is None:
            raise PluginError("core services are not available to this step")
        return self._services

    async def notify(
        self,
        integration: str,
        subject: str,
        body: str,
        severity: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        message = NotificationMessage(
            subject=str(subject)[:1000],
            body=str(body)[:20_000],
            severity=severity,  # type: ignore[arg-type]  # validated by the model
            # Shaped like a domain event, so receivers handle it like the others.
            data={
                "event": {
                    "id": new_id(),
                    "type": "workflow_run.notification",
                    "tenantId": self.tenant_id,
                    "occurredAt": rfc3339(utcnow()),
                    "resourceType": "workflow_run",
                    "resourceId": self.run_id,
                    "data": {**(data or {}), "step": self.step_id},
                }
            },
        )
        await self._need_services().notify(self.tenant_id, self.run_id, str(integration), message)

    async def evaluate_gate(
        self,
        gate: str,
        config: dict[str, Any],
        release: str | None = None,
        environment: str | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._need_services().evaluate_gate(
            self.tenant_id, self.run_id, self._context, str(gate), dict(config), release, environment
        )
        return result

    async def check_target(self, target: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._need_services().check_target(
            self.tenant_id, self.run_id, str(target), self.is_cancelled
        )
        return result

    async def run_command(
        self,
        command: str | list[str],
        agent: str | None = None,
        agent_labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        timeout_seconds: float = 600,
        working_directory: str | None = None,
        secret_env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        merged = {**(env or {}), **(secret_env or {})}
        spec: dict[str, Any] = {
            "command": command if isinstance(command, str) else [str(a) for a in command],
            "env": {str(k): str(v) for k, v in merged.items()},
            "timeoutSeconds": float(timeout_seconds),
        }
        if secret_env:
            # The agent masks these variables' values in what it reports.
            spec["secretNames"] = sorted(str(k) for k in secret_env)
        if working_directory:
            spec["workingDirectory"] = str(working_directory)
        result: dict[str, Any] = await self._need_services().run_command(
            self.tenant_id, self.run_id, spec, agent, agent_labels, self.is_cancelled
        )
        return result

    async def deploy(
        self, strategy: str = "all-at-once", strategy_config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._need_services().deploy(
            self.tenant_id,
            self.run_id,
            self._context,
            str(strategy),
            dict(strategy_config or {}),
            self.is_cancelled,
            self.log,
        )
        return result

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
        # What steps reach in the core (step_services.StepServices), set by the composition root.
        self.services: Any = None
        self.step_seconds: tuple[int, float] = (0, 0.0)  # (steps run, seconds) for /metrics
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> set[asyncio.Task[None]]:
        return self._running

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
                await wait_event(wake, self.poll_seconds)

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
            graph = await graph_of(session, run_id)
            node = graph.nodes[node_id]
            capability, plugin_id = self._step_type(step.type)
            if run.state == "cancelling":
                await set_step(
                    session, step.id, step.state, "cancelled", message="the run was cancelled", finished_at=utcnow()
                )
                add_events(session, run, [(node_id, "step", {"state": "cancelled"})])
                await advance(session, self.queue, run, [node_id])
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
                    await advance(session, self.queue, run, [node_id])
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
            scope = await self._scope(session, run, graph.reads(node_id))
            integrations = {
                row.name: {"typeId": row.type_id, "config": row.config}
                for row in await session.execute(
                    select(Integration.name, Integration.type_id, Integration.config).limit(500)
                )
            }
            enabled = await enabled_plugin_ids(session, self.registry)
        # The step runs outside any transaction.
        began = time.perf_counter()
        outcome = await self._run_step(
            claim, run, node, capability, plugin_id, enabled, scope, integrations, list(step.decisions or [])
        )
        count, total = self.step_seconds
        self.step_seconds = (count + 1, total + time.perf_counter() - began)
        await self._finish(claim, run_id, node, step.id, attempt, outcome)

    def _step_type(self, type_id: str) -> tuple[StepType | None, str | None]:
        registered = self.registry.capabilities.get("step_type", {}).get(type_id)
        if registered is None or not isinstance(registered.capability, StepType):
            return None, None
        return registered.capability, registered.plugin_id

    async def _scope(self, session: AsyncSession, run: WorkflowRun, reads: frozenset[str] | None) -> dict[str, Any]:
        """What the node's expressions may read: only the steps they name (``reads``; None:
        every step), not all of a 1,000-node run's outputs."""
        steps: Any = []
        if reads is None or reads:
            statement = select(WorkflowStep.node_id, WorkflowStep.state, WorkflowStep.outputs).where(
                WorkflowStep.run_id == run.id
            )
            if reads is not None:
                statement = statement.where(WorkflowStep.node_id.in_(sorted(reads)))
            steps = await session.execute(statement)
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
        decisions: list[dict[str, Any]],
    ) -> tuple[str, dict[str, Any], str, StepRunContext | None]:
        """``(state, outputs, message, context)``: succeeded, failed, skipped, cancelled or
        waiting (then ``context.wait`` says for what)."""
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
        ctx = StepRunContext(
            claim.tenant_id, run, node["id"], integrations, self.box, self.registry, decisions, self.services
        )
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
        if result.status == "waiting" and result.wait is not None:
            ctx.wait = result.wait.model_dump(mode="json", by_alias=True)
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
            elif state == "waiting" and ctx is not None and ctx.wait is not None:
                decided = await session.scalar(select(WorkflowStep.decisions).where(WorkflowStep.id == step_id))
                if len(decided or []) > len(ctx.decisions):
                    # Someone decided while it ran: run it again with that decision.
                    if await set_step(session, step_id, "running", "queued", message=message[:4000], wait=ctx.wait):
                        await enqueue_step(session, self.queue, run, node_id)
                        events.append((node_id, "step", {"state": "queued", "message": "a decision arrived"}))
                elif await set_step(session, step_id, "running", "waiting", message=message[:4000], wait=ctx.wait):
                    events.append((node_id, "step", {"state": "waiting", "message": message[:4000], "wait": ctx.wait}))
                    self.counts["waiting"] += 1
            elif state == "failed" and node.get("onFailure") == "ask" and run.state in ("running", "paused"):
                if await set_step(session, step_id, "running", "waiting", message=message[:4000], wait=None):
                    events.append((node_id, "step", {"state": "waiting", "message": message[:4000]}))
                    self.counts["waiting"] += 1
            else:
                final = state if state in ("succeeded", "failed", "skipped", "cancelled") else "failed"
                values: dict[str, Any] = {"message": message[:4000], "finished_at": utcnow(), "wait": None}
                if final in ("succeeded", "failed"):
                    values["outputs"] = outputs  # a failed step's outputs say why (an exit code)
                if await set_step(session, step_id, "running", final, **values):
                    events.append((node_id, "step", {"state": final, "message": message[:4000]}))
                    self.counts[final] += 1
            add_events(session, run, events)
            await advance(session, self.queue, run, [node_id])


class _Stale(Exception):
    pass
