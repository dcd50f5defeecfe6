"""A/B releases (docs/progressive-delivery.md): a candidate release beside the control
one in an environment, traffic shifted to it in the strategy's steps through a traffic
router plugin, each step analysed (HTTP probes, metric queries), rolled back by itself
when the analysis fails.

The row holds the *desired* weights; the router is told after the transaction that
decides them commits (no transaction stays open across a plugin call), and what it
accepted is recorded (``appliedWeights``, ``routerError``). The driver (a sweep every
``SHIPLANE_AB_SWEEP_SECONDS`` in each server) re-applies weights the router lost or
refused, runs due analyses and moves steps; it claims a release with a compare-and-set
on its version, so several processes never move one twice. Everything it needs is in
the database: a server restart resumes a canary at its step.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from shiplane_sdk import IntegrationType, MetricQuery, MetricResult, RolloutStrategy, TrafficRouter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.environments.models import Environment
from shiplane.environments.service import require_protected
from shiplane.evidence.service import record_ab_decision
from shiplane.integrations.models import Integration
from shiplane.platform.auth import Principal
from shiplane.platform.database import Database, new_id, utcnow
from shiplane.platform.egress import EgressPolicy
from shiplane.platform.errors import ApiError, not_found, validation_error
from shiplane.platform.idempotency import WriteResult
from shiplane.platform.listing import ListField, ListParams, ListSpec, Page
from shiplane.platform.reads import TenantReads
from shiplane.platform.secrets import secret_values, unseal
from shiplane.platform.writes import audit_change, flush_change
from shiplane.plugins.guard import PluginCallFailed
from shiplane.plugins.models import PluginInstance
from shiplane.plugins.service import PluginService, enabled_plugin_ids
from shiplane.progressive.models import ABMeasurement, ABRelease
from shiplane.progressive.schemas import ABReleaseCreate, ab_out, measurement_out
from shiplane.progressive.states import TERMINAL, transition
from shiplane.releases.models import Release

log = logging.getLogger("shiplane.progressive")

#: A/B releases moved in this process by the state reached, and measurements by verdict.
COUNTS: Counter[str] = Counter()
VERDICTS: Counter[str] = Counter()

#: How long the driver waits before trying a router that refused again.
ROUTER_RETRY_SECONDS = 10.0
#: How many measurements `health` shows (the newest).
HEALTH_MEASUREMENTS = 500

LIST_SPEC = ListSpec(
    ABRelease,
    fields={
        "name": ListField(ABRelease.name, "string", unique=True),
        "state": ListField(ABRelease.state, "string"),
        "environmentId": ListField(ABRelease.environment_id, "string"),
        "createdAt": ListField(ABRelease.created_at, "datetime"),
        "updatedAt": ListField(ABRelease.updated_at, "datetime"),
    },
    default_sort="-createdAt",
)
_UNIQUE = "uq_ab_releases_tenant_name"


def split(candidate: int) -> dict[str, int]:
    return {"control": 100 - candidate, "candidate": candidate}


def system_principal(tenant_id: str) -> Principal:
    """Who the driver acts as (what the audit trail shows)."""
    return Principal(
        user_id="shiplane:progressive",
        tenant_id=tenant_id,
        roles=("system",),
        permissions=frozenset({"*:read"}),
        tier=None,
    )


@dataclass
class Router:
    plugin_id: str
    capability: TrafficRouter
    config: dict[str, Any]
    secrets: list[str]


async def router_of(session: AsyncSession, plugins: PluginService, instance_id: str) -> Router:
    """The traffic router instance ``instance_id`` with its clear config (ApiError if it is
    gone, not a traffic router, or its plugin is disabled for the tenant)."""
    instance = await session.scalar(select(PluginInstance).where(PluginInstance.id == instance_id))
    if instance is None or instance.capability_kind != "traffic_router":
        raise validation_error("routerInstanceId", f"no traffic router instance {instance_id!r}", "unknown")
    registered = plugins.registry.capabilities.get("traffic_router", {}).get(instance.capability_id)
    if registered is None:
        raise ApiError("NOT_FOUND", f"traffic router {instance.capability_id!r} is not installed")
    if registered.plugin_id not in await enabled_plugin_ids(session, plugins.registry):
        raise ApiError("PLUGIN_DISABLED", f"plugin {registered.plugin_id!r} is disabled for the tenant")
    capability = registered.capability
    assert isinstance(capability, TrafficRouter)
    paths = capability.secret_fields()
    config = unseal(instance.config, paths, plugins.box)
    return Router(registered.plugin_id, capability, config, secret_values(config, paths))


async def apply_weights(plugins: PluginService, router: Router, weights: dict[str, int], tenant: str) -> str:
    """Tell the router; '' when it accepted, else why not."""
    try:
        await plugins.registry.guard.call(
            router.plugin_id,
            f"traffic_router {router.capability.id} set_weights",
            router.capability.set_weights,
            router.config,
            dict(weights),
            secrets=router.secrets,
            tenant_id=tenant,
        )
    except PluginCallFailed as exc:
        return str(exc)[:2000]
    return ""


async def read_weights(plugins: PluginService, router: Router, tenant: str) -> dict[str, int]:
    result = await plugins.registry.guard.call(
        router.plugin_id,
        f"traffic_router {router.capability.id} get_weights",
        router.capability.get_weights,
        router.config,
        secrets=router.secrets,
        tenant_id=tenant,
    )
    return {str(k): int(v) for k, v in dict(result).items()}


# -- analysis ----------------------------------------------------------------------------------


@dataclass
class Measured:
    kind: str
    name: str
    query: str
    values: list[Any]
    threshold: dict[str, Any]
    verdict: str
    message: str
    side: str


async def _probe(client: httpx.AsyncClient, probe: dict[str, Any]) -> Measured:
    expected = list(probe.get("expectStatus") or [200])
    threshold = {"expectStatus": expected}
    side = str(probe.get("side") or "candidate")
    timeout = float(probe.get("timeoutSeconds") or 5.0)
    try:
        # Only the status is read (never the body), and the whole probe has one deadline:
        # a URL that trickles bytes cannot hold the driver.
        async with asyncio.timeout(timeout + 1):
            async with client.stream("GET", str(probe["url"]), timeout=timeout) as response:
                status = response.status_code
    except (httpx.HTTPError, TimeoutError) as exc:
        reason = (f"{type(exc).__name__}: {exc}".strip() if str(exc) else f"no answer in {timeout:g} s")[:500]
        return Measured("probe", probe["name"], str(probe["url"]), [], threshold, "fail", reason, side)
    response_status = status
    ok = response_status in expected
    message = f"HTTP {response_status}" + ("" if ok else f", expected {expected}")
    verdict = "pass" if ok else "fail"
    return Measured("probe", probe["name"], str(probe["url"]), [response_status], threshold, verdict, message, side)


async def _metric(session_db: Database, plugins: PluginService, tenant: str, check: dict[str, Any]) -> Measured:
    threshold = {k: check[k] for k in ("min", "max") if check.get(k) is not None}
    side = str(check.get("side") or "candidate")

    def measured(values: list[Any], verdict: str, message: str) -> Measured:
        return Measured("metric", check["name"], check["query"], values, threshold, verdict, message, side)

    async with session_db.session(tenant, write=False) as session:
        row = await session.scalar(select(Integration).where(Integration.id == check["integrationId"]))
        if row is None:
            return measured([], "inconclusive", f"integration {check['integrationId']!r} no longer exists")
        registered = plugins.registry.capabilities.get("integration_type", {}).get(row.type_id)
        enabled = await enabled_plugin_ids(session, plugins.registry)
    if registered is None or registered.plugin_id not in enabled:
        return measured([], "inconclusive", f"integration type {row.type_id!r} is not available")
    capability = registered.capability
    if not isinstance(capability, IntegrationType) or not capability.supports("query_metrics"):
        return measured([], "inconclusive", f"integration type {row.type_id!r} cannot query metrics")
    paths = capability.secret_fields()
    config = unseal(row.config, paths, plugins.box)
    try:
        result = await plugins.registry.guard.call(
            registered.plugin_id,
            "integration query_metrics",
            capability.query_metrics,
            config,
            MetricQuery(query=check["query"]),
            secrets=secret_values(config, paths),
            tenant_id=tenant,
        )
    except PluginCallFailed as exc:
        return measured([], "inconclusive", f"the query could not be answered: {exc}"[:2000])
    if not isinstance(result, MetricResult):
        return measured([], "inconclusive", "the integration returned no metric result")
    values = [p.value for s in result.series[:10] for p in s.points[-1:]]
    value = values[0] if values else None
    if value is None or math.isnan(value):
        return measured([None if v is None or math.isnan(v) else v for v in values], "inconclusive", "no data")
    low, high = check.get("min"), check.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"above the maximum {high}" if high is not None and value > high else f"below the minimum {low}"
        return measured(values, "fail", f"{value:g} is {bound}")
    return measured(values, "pass", f"{value:g} within the threshold")


async def run_checks(
    db: Database, plugins: PluginService, tenant: str, analysis: dict[str, Any], egress: EgressPolicy
) -> list[Measured]:
    found: list[Measured] = []
    if analysis.get("probes"):
        # Probes dial only what the egress policy allows (never the metadata service).
        async with egress.client(follow_redirects=False) as client:
            for probe in analysis["probes"]:
                found.append(await _probe(client, probe))
    for check in analysis.get("metrics") or []:
        found.append(await _metric(db, plugins, tenant, check))
    return found


def has_checks(analysis: dict[str, Any]) -> bool:
    return bool(analysis.get("probes") or analysis.get("metrics"))


# -- the service --------------------------------------------------------------------------------


class ABReleaseService:
    def __init__(self, db: Database, plugins: PluginService, queue: Any = None) -> None:
        self.db = db
        self.plugins = plugins
        self.queue = queue  # the work queue: a candidate's deployment runs as a workflow

    @property
    def principal(self) -> Principal:
        return self.plugins.principal

    @property
    def tenant(self) -> str:
        return self.principal.tenant_id

    async def list_page(self, reads: TenantReads, params: ListParams) -> Page:
        page = await reads.page(LIST_SPEC, params)
        return Page([ab_out(row) for row in page.items], page.pagination)

    async def _row(self, session: AsyncSession, ab_id: str, *, lock: bool = False) -> ABRelease:
        query = select(ABRelease).where(ABRelease.id == ab_id)
        row = await session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise not_found("A/B release", ab_id)
        return row

    async def get(self, ab_id: str) -> dict[str, Any]:
        async with self.db.session(self.tenant, write=False) as session:
            return ab_out(await self._row(session, ab_id))

    async def plan(self, body: ABReleaseCreate) -> list[Any]:
        """The strategy's steps for ``body``: its config checked and its steps planned by the
        plugin, through the guard, before any transaction is open (a slow plugin never holds
        a database connection or a row lock)."""
        registered = await self.plugins.usable_capability("rollout_strategy", body.strategy, "strategy")
        strategy = registered.capability
        if not isinstance(strategy, RolloutStrategy) or not strategy.progressive:
            raise validation_error(
                "strategy", f"rollout strategy {body.strategy!r} is not progressive", "not_progressive"
            )
        errors = await self.plugins.check_config(registered, body.strategy_config, [], "strategyConfig")
        if errors:
            raise ApiError(
                "VALIDATION_ERROR",
                f"strategyConfig does not match the schema of rollout strategy {body.strategy!r}",
                None,
                [],
            )
        try:
            steps = await self.plugins.registry.guard.call(
                registered.plugin_id, f"rollout_strategy {body.strategy} steps", strategy.steps, body.strategy_config
            )
        except PluginCallFailed as exc:
            raise validation_error(
                "strategyConfig", f"the strategy could not plan steps: {exc.reason}", "invalid"
            ) from None
        if not steps or len(steps) > 50:
            raise validation_error("strategyConfig", "a progressive rollout has 1 to 50 steps", "steps")
        return list(steps)

    async def create(self, session: AsyncSession, body: ABReleaseCreate, steps: list[Any]) -> WriteResult:
        env = await session.scalar(select(Environment).where(Environment.id == body.environment_id))
        if env is None:
            raise validation_error("environmentId", f"no environment {body.environment_id!r}", "unknown")
        for field, release_id in (
            ("controlReleaseId", body.control_release_id),
            ("candidateReleaseId", body.candidate_release_id),
        ):
            release = await session.scalar(select(Release).where(Release.id == release_id))
            if release is None:
                raise validation_error(field, f"no release {release_id!r}", "unknown")
            # As a promotion says it (promotions/service.py): a stored release in the wrong state.
            if release.state == "deprecated":
                raise ApiError(
                    "RELEASE_DEPRECATED",
                    f"release {release.name!r} is deprecated: it cannot be rolled out",
                    {"field": field, "releaseId": release.id, "reason": release.deprecation_reason},
                )
            if release.state != "ready":
                raise ApiError(
                    "INVALID_STATE",
                    f"release {release.name!r} is a draft: seal it before rolling it out",
                    {"field": field, "state": release.state, "action": "ab-release"},
                )
        if body.control_release_id == body.candidate_release_id:
            raise validation_error("candidateReleaseId", "the candidate must differ from the control release", "same")
        # The strategy is still usable in this transaction (disabled since planning: 422).
        await self.plugins.usable_capability("rollout_strategy", body.strategy, "strategy")
        await router_of(session, self.plugins, body.router_instance_id)  # exists, is a router, is enabled
        for index, check in enumerate(body.analysis.metrics):
            if await session.scalar(select(Integration.id).where(Integration.id == check.integration_id)) is None:
                raise validation_error(
                    f"analysis.metrics[{index}].integrationId", f"no integration {check.integration_id!r}", "unknown"
                )
        row = ABRelease(
            id=new_id(),
            tenant_id=self.tenant,
            name=body.name,
            environment_id=env.id,
            control_release_id=body.control_release_id,
            candidate_release_id=body.candidate_release_id,
            strategy=body.strategy,
            strategy_config=body.strategy_config,
            steps=[{"weight": s.weight, "pauseSeconds": s.pause_seconds, "manual": bool(s.manual)} for s in steps],
            router_instance_id=body.router_instance_id,
            analysis=body.analysis.model_dump(mode="json", by_alias=True),
            candidate_target_labels=dict(body.candidate_target_labels) if body.candidate_target_labels else None,
            state="draft",
            step_index=-1,
            weights={},
            apply_error="",
            failures=0,
            consecutive_failures=0,
            inconclusive=0,
            passes=0,
            message="draft: start it to shift traffic",
            created_by=self.principal.user_id,
        )
        session.add(row)
        await flush_change(session, "A/B release", _UNIQUE, row.name)
        data = ab_out(row)
        await audit_change(session, self.principal, "ab_release.create", "ab_release", row.id, None, data)
        return WriteResult(data, 201, {"Location": f"/api/v1/ab-releases/{row.id}"})

    # -- people --------------------------------------------------------------------------------

    async def act(self, ab_id: str, action: str, reason: str = "") -> dict[str, Any]:
        """start, advance, promote or rollback: decided in one transaction (the row locked),
        then the router is told; the answer shows what it accepted."""
        async with self.db.session(self.tenant, write=True) as session:
            row = await self._row(session, ab_id, lock=True)
            env = await session.scalar(select(Environment).where(Environment.id == row.environment_id))
            if env is not None:
                # Shifting traffic to a release is promoting it there; undoing it, a rollback.
                require_protected(env, self.principal, "rollback" if action == "rollback" else "promote")
            before = ab_out(row)
            now = utcnow()
            if action == "start" and row.candidate_target_labels:
                row.state = transition(row.state, "deploy")
                row.started_at = now
                await self._deploy_candidate(session, row)
            elif action == "start":
                row.state = transition(row.state, "start")
                row.started_at = now
                _enter_step(row, 0, now)
                row.message = f"step 1 of {len(row.steps)}: {row.weights['candidate']}% to the candidate"
            elif action == "advance":
                state = transition(row.state, "advance")
                latest = await session.scalar(
                    select(ABMeasurement.verdict)
                    .where(ABMeasurement.ab_release_id == row.id, ABMeasurement.step == row.step_index)
                    .order_by(ABMeasurement.id.desc())
                    .limit(1)
                )
                if latest == "fail":
                    raise ApiError(
                        "INVALID_STATE",
                        "the current step's last check failed: roll back, or wait for a passing check",
                        {"state": row.state, "action": action},
                    )
                if row.step_index + 1 >= len(row.steps):
                    raise ApiError(
                        "INVALID_STATE",
                        "this is the last step: promote or roll back",
                        {"state": row.state, "action": action, "step": row.step_index},
                    )
                row.state = state
                _enter_step(row, row.step_index + 1, now)
                row.message = f"advanced by {self.principal.user_id}: " + _step_message(row)
            elif action == "promote":
                row.state = transition(row.state, "promote")
                await _promote(session, row, f"promoted by {self.principal.user_id}")
            elif action == "rollback":
                row.state = transition(row.state, "rollback")
                why = f"rolled back by {self.principal.user_id}" + (f": {reason}" if reason else "")
                await _roll_back(session, row, why)
            else:  # pragma: no cover - the routes name the actions
                raise ValueError(action)
            COUNTS[row.state] += 1
            await session.flush()
            version, weights = row.version, dict(row.weights)
            await audit_change(
                session, self.principal, f"ab_release.{action}", "ab_release", row.id, before, ab_out(row)
            )
        await self._apply(ab_id, version, weights)
        return await self.get(ab_id)

    async def _deploy_candidate(self, session: AsyncSession, row: ABRelease) -> None:
        """The candidate's deployment to its targets: a pending ``candidate`` job run by a
        workflow (its ``deploy`` step), as durable as any deployment; no traffic moves until
        it succeeded (the driver then applies step 1)."""
        from shiplane.deployments.models import DeploymentJob
        from shiplane.promotions.service import default_template
        from shiplane.workflows.service import WorkflowService

        if self.queue is None:
            raise ApiError("SERVICE_UNAVAILABLE", "this process cannot start deployments")
        busy = await session.scalar(
            select(DeploymentJob.id).where(
                DeploymentJob.environment_id == row.environment_id, DeploymentJob.state.in_(("pending", "running"))
            )
        )
        if busy is not None:
            raise ApiError(
                "INVALID_STATE",
                f"a deployment to the environment is under way ({busy}): start when it has ended",
                {"deploymentJobId": busy},
            )
        job = DeploymentJob(
            id=new_id(),
            tenant_id=row.tenant_id,
            kind="candidate",
            release_id=row.candidate_release_id,
            environment_id=row.environment_id,
            target_labels=dict(row.candidate_target_labels or {}),
            strategy="all-at-once",
            strategy_config={},
            state="pending",
            reason=f"the candidate of A/B release {row.name}",
            message="waiting for its workflow run",
            manifest={},
            created_by=self.principal.user_id,
        )
        session.add(job)
        await session.flush()
        plugins = PluginService(session, self.principal, self.plugins.registry, self.plugins.box, self.plugins.states)
        workflows = WorkflowService(plugins, self.queue)
        run = await workflows.create_run(
            await default_template(workflows),
            None,
            {},
            {"kind": "ab-candidate", "abReleaseId": row.id, "jobId": job.id, "releaseId": job.release_id},
        )
        job.workflow_run_id = str(run.data["id"])
        row.deployment_job_id = job.id
        row.weights = split(0)  # all traffic stays on the control side meanwhile
        row.next_check_at = utcnow() + timedelta(seconds=1)
        labels = ", ".join(f"{k}={v}" for k, v in sorted((row.candidate_target_labels or {}).items()))
        row.message = f"deploying the candidate to the targets labelled {labels} (job {job.id})"

    async def _apply(self, ab_id: str, version: int, weights: dict[str, int]) -> None:
        """Tell the router ``weights`` (decided at ``version``) and record the answer."""
        async with self.db.session(self.tenant, write=False) as session:
            row = await self._row(session, ab_id)
            try:
                router = await router_of(session, self.plugins, row.router_instance_id)
            except ApiError as exc:
                error = exc.message
                router = None
        if router is not None:
            error = await apply_weights(self.plugins, router, weights, self.tenant)
        await record_applied(self.db, self.tenant, ab_id, version, weights, error)

    async def traffic(self, ab_id: str) -> dict[str, Any]:
        """The weights read back from the router now, beside the ones wanted."""
        async with self.db.session(self.tenant, write=False) as session:
            row = await self._row(session, ab_id)
            try:
                router: Router | None = await router_of(session, self.plugins, row.router_instance_id)
            except ApiError as exc:  # the instance deleted, or its plugin disabled or gone: nothing to read
                router, unusable = None, exc.message
        actual: dict[str, int] | None = None
        if router is None:
            error: str | None = f"the traffic router cannot be read: {unusable}"
        else:
            try:
                actual, error = await read_weights(self.plugins, router, self.tenant), None
            except PluginCallFailed as exc:
                error = str(exc)[:2000]
        return {
            "abReleaseId": row.id,
            "state": row.state,
            "currentStep": row.step_index if row.step_index >= 0 else None,
            "router": {"instanceId": row.router_instance_id, "type": router.capability.id if router else None},
            "weights": actual,
            "desired": row.weights or None,
            "inSync": actual == row.weights if actual is not None and row.weights else None,
            "error": error,
        }

    async def health(self, ab_id: str) -> dict[str, Any]:
        """Every measurement (newest last), and each side's health from its latest checks."""
        async with self.db.session(self.tenant, write=False) as session:
            row = await self._row(session, ab_id)
            rows = list(
                await session.scalars(
                    select(ABMeasurement)
                    .where(ABMeasurement.ab_release_id == ab_id)
                    .order_by(ABMeasurement.id.desc())
                    .limit(HEALTH_MEASUREMENTS)
                )
            )
        rows.reverse()
        checks = {(c["name"]): str(c.get("side") or "candidate") for c in _checks(row.analysis)}
        latest: dict[str, ABMeasurement] = {}
        for m in rows:
            latest[m.name] = m
        sides: dict[str, dict[str, Any]] = {}
        for side in ("control", "candidate"):
            mine = [latest[n] for n, s in checks.items() if s == side and n in latest]
            verdicts = {m.verdict for m in mine}
            status = (
                "unknown"
                if not mine
                else "unhealthy"
                if "fail" in verdicts
                else "degraded"
                if "inconclusive" in verdicts
                else "healthy"
            )
            sides[side] = {"status": status, "checks": {m.name: m.verdict for m in mine}}
        return {
            "abReleaseId": row.id,
            "state": row.state,
            "currentStep": row.step_index if row.step_index >= 0 else None,
            "failures": row.failures,
            "message": row.message,
            "sides": sides,
            "measurements": [measurement_out(m) for m in rows],
        }


def _checks(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(analysis.get("probes") or []), *(analysis.get("metrics") or [])]


def _step_message(row: ABRelease) -> str:
    return f"step {row.step_index + 1} of {len(row.steps)}: {row.weights['candidate']}% to the candidate"


def _enter_step(row: ABRelease, index: int, now: Any) -> None:
    step = row.steps[index]
    row.step_index = index
    row.step_started_at = now
    row.weights = split(int(step["weight"]))
    row.failures = row.consecutive_failures = row.inconclusive = row.passes = 0
    # The decider tells the router at once; the driver's first look comes a moment later.
    row.next_check_at = now + timedelta(seconds=1)


async def _promote(session: AsyncSession, row: ABRelease, message: str) -> None:
    row.weights = split(100)
    row.finished_at = utcnow()
    # The decider tells the router at once; the driver looks again only if that failed.
    row.next_check_at = utcnow() + timedelta(seconds=ROUTER_RETRY_SECONDS)
    row.message = message
    env = await session.scalar(select(Environment).where(Environment.id == row.environment_id))
    if env is not None:
        env.current_release_id = row.candidate_release_id
    await record_ab_decision(session, row)


async def _roll_back(session: AsyncSession, row: ABRelease, message: str) -> None:
    row.weights = split(0)
    row.finished_at = utcnow()
    row.next_check_at = utcnow() + timedelta(seconds=ROUTER_RETRY_SECONDS)
    row.message = message
    await record_ab_decision(session, row)


async def record_applied(
    db: Database, tenant: str, ab_id: str, version: int, weights: dict[str, int], error: str
) -> None:
    """What the router accepted, unless the release changed since (a later decision
    records its own). Not a new version: it is an observation, not a decision."""
    now = utcnow()
    values: dict[str, Any] = {"apply_error": error}
    if not error:
        values["applied_weights"] = weights
    async with db.session(tenant, write=True) as session:
        row = await session.scalar(select(ABRelease).where(ABRelease.id == ab_id))
        if row is None:
            return
        if row.version != version:
            # A later decision was made while these weights went out: the router may now
            # hold stale ones. The next look puts the row's own weights back (no new version).
            await session.execute(
                update(ABRelease)
                .where(ABRelease.id == ab_id, ABRelease.version == row.version)
                .values(next_check_at=now)
                .execution_options(synchronize_session=False)
            )
            return
        if error:
            values["next_check_at"] = now + timedelta(seconds=ROUTER_RETRY_SECONDS)
        elif row.state in TERMINAL:
            values["next_check_at"] = None
        await session.execute(
            update(ABRelease)
            .where(ABRelease.id == ab_id, ABRelease.version == version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


# -- the driver ---------------------------------------------------------------------------------


async def _candidate_deployed(
    db: Database, tenant: str, ab_id: str, claimed: int, router: Router, plugins: PluginService
) -> None:
    """A deploying A/B release: step 1 once its candidate's job succeeded; aborted if it did not."""
    from shiplane.deployments.models import DeploymentJob

    now = utcnow()
    async with db.session(tenant, write=True) as session:
        row = await session.scalar(select(ABRelease).where(ABRelease.id == ab_id))
        if row is None or row.version != claimed or row.state != "deploying":
            return
        job = await session.scalar(select(DeploymentJob).where(DeploymentJob.id == row.deployment_job_id))
        job_state = job.state if job is not None else "missing"
        if job_state in ("pending", "running"):
            row.next_check_at = now + timedelta(seconds=1)
            await session.flush()
            return
        before = {"state": row.state, "step": row.step_index}
        if job_state == "succeeded":
            row.state = transition(row.state, "deployed")
            _enter_step(row, 0, now)
            row.message = "the candidate is deployed: " + _step_message(row)
            action = "start"
        else:
            row.state = transition(row.state, "abort")
            row.finished_at, row.next_check_at = now, None
            why = job.message if job is not None else "its deployment job is gone"
            row.message = f"aborted: the candidate's deployment {job_state} ({why})"[:4000]
            action = "abort"
        await session.flush()
        decided_version, decided_weights = row.version, dict(row.weights)
        COUNTS[row.state] += 1
        await audit_change(
            session,
            system_principal(tenant),
            f"ab_release.{action}",
            "ab_release",
            row.id,
            before,
            {"state": row.state, "step": row.step_index, "weights": row.weights, "message": row.message},
        )
    if action == "start":
        error = await apply_weights(plugins, router, decided_weights, tenant)
        await record_applied(db, tenant, ab_id, decided_version, decided_weights, error)


async def _router_lost(db: Database, tenant: str, ab_id: str, claimed: int, error: str) -> None:
    async with db.session(tenant, write=True) as session:
        row = await session.scalar(select(ABRelease).where(ABRelease.id == ab_id))
        if row is None or row.version != claimed:
            return
        row.apply_error, row.next_check_at = error[:2000], None
        if row.state not in ("running", "paused"):
            await session.flush()
            return
        before = {"state": row.state, "step": row.step_index}
        row.state = transition(row.state, "abort")
        row.finished_at = utcnow()
        row.message = f"aborted: its traffic router cannot be used ({error}); traffic was left as it was"[:4000]
        await session.flush()
        COUNTS[row.state] += 1
        await audit_change(
            session,
            system_principal(tenant),
            "ab_release.abort",
            "ab_release",
            row.id,
            before,
            {"state": row.state, "message": row.message},
        )


async def due_ab_releases(db: Database, limit: int = 100) -> list[tuple[str, str]]:
    async with db.session(None, write=False) as session:
        rows = await session.execute(
            select(ABRelease.tenant_id, ABRelease.id)
            .where(ABRelease.next_check_at.is_not(None), ABRelease.next_check_at <= utcnow())
            .order_by(ABRelease.next_check_at)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]


async def drive(db: Database, plugins: PluginService, ab_id: str, egress: EgressPolicy) -> None:
    """One look at a due A/B release: re-apply weights the router lost, run the step's
    analysis, and move it (next step, promote, pause or roll back) by the policy."""
    tenant = plugins.principal.tenant_id
    # Claim it: the version moves, so another process's claim of the same look fails.
    async with db.session(tenant, write=True) as session:
        row = await session.scalar(select(ABRelease).where(ABRelease.id == ab_id))
        if row is None or row.next_check_at is None or row.next_check_at > utcnow():
            return
        seen = row.version
        interval = float((row.analysis or {}).get("intervalSeconds") or 30.0)
        state, step_index, weights = row.state, row.step_index, dict(row.weights or {})
        analysis, steps = dict(row.analysis or {}), list(row.steps or [])
        step_started = row.step_started_at
        applied, router_instance = row.applied_weights, row.router_instance_id
        claim = await session.execute(
            update(ABRelease)
            .where(ABRelease.id == ab_id, ABRelease.version == seen)
            .values(next_check_at=utcnow() + timedelta(seconds=max(interval, ROUTER_RETRY_SECONDS)), version=seen + 1)
            .execution_options(synchronize_session=False)
        )
        if claim.rowcount != 1:  # type: ignore[attr-defined]
            return
        claimed = seen + 1
    # The router: does it have the weights wanted? (HAProxy forgets runtime weights on a restart.)
    router: Router | None = None
    error = ""
    async with db.session(tenant, write=False) as session:
        try:
            router = await router_of(session, plugins, router_instance)
        except ApiError as exc:
            error = exc.message
    if router is None:
        # Its router instance is gone or its plugin disabled: traffic cannot be moved, so
        # nothing more is decided (a running one is aborted; a finished one is left).
        await _router_lost(db, tenant, ab_id, claimed, error)
        return
    if weights:
        try:
            actual = await read_weights(plugins, router, tenant)
        except PluginCallFailed as exc:
            actual = None
            error = str(exc)[:2000]
        if actual != weights:
            error = await apply_weights(plugins, router, weights, tenant)
    if weights and (error or applied != weights):
        await record_applied(db, tenant, ab_id, claimed, weights, error)
        async with db.session(tenant, write=False) as session:
            current = await session.scalar(select(ABRelease.version).where(ABRelease.id == ab_id))
        if current != claimed:
            return
    if state == "deploying":
        await _candidate_deployed(db, tenant, ab_id, claimed, router, plugins)
        return
    if state in TERMINAL or state != "running":
        if state in TERMINAL and not error:
            await record_applied(db, tenant, ab_id, claimed, weights, "")
        return
    measured = await run_checks(db, plugins, tenant, analysis, egress) if has_checks(analysis) else []
    now = utcnow()
    async with db.session(tenant, write=True) as session:
        row = await session.scalar(select(ABRelease).where(ABRelease.id == ab_id))
        if row is None or row.version != claimed or row.state != "running" or row.step_index != step_index:
            return  # a person acted meanwhile: their decision stands
        before = {"state": row.state, "step": row.step_index}
        for m in measured:
            VERDICTS[m.verdict] += 1
            session.add(
                ABMeasurement(
                    tenant_id=tenant,
                    ab_release_id=ab_id,
                    step=step_index,
                    kind=m.kind,
                    name=m.name,
                    query=m.query,
                    values=m.values,
                    threshold=m.threshold,
                    verdict=m.verdict,
                    message=m.message,
                    at=now,
                )
            )
            if m.verdict == "fail":
                row.failures += 1
                row.consecutive_failures += 1
            elif m.verdict == "inconclusive":
                row.inconclusive += 1
            else:
                row.consecutive_failures = 0
        failed = [m for m in measured if m.verdict == "fail"]
        if measured and not failed and not any(m.verdict == "inconclusive" for m in measured):
            row.passes += 1
        limit = int(analysis.get("failureLimit") or 0)
        consecutive = analysis.get("consecutiveFailureLimit")
        action = ""
        if failed and (row.failures > limit or (consecutive and row.consecutive_failures >= int(consecutive))):
            row.state = transition(row.state, "rollback")
            why = "; ".join(f"{m.name}: {m.message}" for m in failed)
            await _roll_back(session, row, f"rolled back by the analysis at step {step_index + 1}: {why}"[:4000])
            action = "rollback"
        elif row.inconclusive > int(analysis.get("inconclusiveLimit") or 0):
            row.state = transition(row.state, "pause")
            why = "; ".join(f"{m.name}: {m.message}" for m in measured if m.verdict == "inconclusive")
            row.message = f"paused: the analysis is inconclusive ({why}); advance or roll back"[:4000]
            row.next_check_at = None
            action = "pause"
        else:
            step = steps[step_index]
            elapsed = (now - step_started).total_seconds() if step_started is not None else 0.0
            pause = float(step.get("pauseSeconds") or 0)
            checked = row.passes > 0 or not has_checks(analysis)
            if not step.get("manual") and elapsed >= pause and checked:
                if step_index + 1 < len(steps):
                    _enter_step(row, step_index + 1, now)
                    row.message = "advanced by the analysis: " + _step_message(row)
                    action = "advance"
                elif int(step["weight"]) == 100:
                    row.state = transition(row.state, "promote")
                    await _promote(session, row, "promoted: every step passed its analysis")
                    action = "promote"
            if not action:
                remaining = max(pause - elapsed, 0.0)
                wait = (
                    min(float(analysis.get("intervalSeconds") or 30.0), remaining)
                    if remaining
                    else float(analysis.get("intervalSeconds") or 30.0)
                )
                if not has_checks(analysis) and remaining:
                    wait = remaining
                row.next_check_at = now + timedelta(seconds=max(wait, 0.5))
        await session.flush()
        decided_version, decided_weights = row.version, dict(row.weights)
        if action:
            COUNTS[row.state] += 1
            await audit_change(
                session,
                system_principal(tenant),
                f"ab_release.{action}",
                "ab_release",
                row.id,
                before,
                {"state": row.state, "step": row.step_index, "weights": row.weights, "message": row.message},
            )
    if action in ("advance", "promote", "rollback") and router is not None:
        error = await apply_weights(plugins, router, decided_weights, tenant)
        await record_applied(db, tenant, ab_id, decided_version, decided_weights, error)
