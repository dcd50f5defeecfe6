"""The composition root: the process-wide services a request reaches through ``app.state.shiplane``.

It sits above the modules (``platform/`` never imports it), wiring the platform
pieces and the plugin machinery together."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

from shiplane.agents import credentials as agent_credentials
from shiplane.agents.tasks import AgentTasks
from shiplane.engine.queue import WorkQueue
from shiplane.integrations.notifications import Notifications
from shiplane.platform.auth import Principal
from shiplane.platform.database import Database, new_id
from shiplane.platform.egress import EgressPolicy
from shiplane.platform.http import Metrics
from shiplane.platform.jwt import TokenVerifier
from shiplane.platform.ratelimit import Decision, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from shiplane.platform.reads import ReadStore
from shiplane.platform.secrets import SecretBox
from shiplane.platform.settings import DEFAULT_TIERS, RateTier, Settings
from shiplane.platform.signing import Signer
from shiplane.platform.tasks import stop_task
from shiplane.plugins.delivery import EventDelivery
from shiplane.plugins.manager import PluginRegistry
from shiplane.plugins.states import PluginStateCache
from shiplane.serviceaccounts.tokens import OAuthAuthority
from shiplane.workflows.engine import WorkflowEngine
from shiplane.workflows.step_services import StepServices


def _forget(in_flight: set[str], ab_id: str, _task: object) -> None:
    in_flight.discard(ab_id)


#: The longest one look at an A/B release may take (its probes, queries and router calls).
AB_LOOK_SECONDS = 300.0


@dataclass
class Services:
    settings: Settings
    db: Database
    reads: ReadStore
    plugin_states: PluginStateCache
    verifier: TokenVerifier
    rate_limiter: RateLimiter | None
    plugins: PluginRegistry
    secret_box: SecretBox
    events: EventDelivery
    queue: WorkQueue
    notifications: Notifications
    workflows: WorkflowEngine
    agent_tasks: AgentTasks
    signer: Signer
    egress: EgressPolicy
    oauth: OAuthAuthority
    metrics: Metrics = field(default_factory=Metrics)
    # Failed authentications per client address (this process): once an address has
    # spent its unauthenticated burst on bad tokens, its next tokens are refused
    # before any signature is checked.
    auth_failures: MemoryRateLimiter = field(default_factory=MemoryRateLimiter)

    # Set by `shiplane serve`: the loopback URL its in-process local agent connects to.
    local_agent_url: str | None = None
    # The agents' task dispatcher of this process (agents/stream.py), made on the first stream.
    agent_dispatcher: Any = None
    _local_agent: asyncio.Task[None] | None = None
    _maintenance: asyncio.Task[None] | None = None
    _promotions: asyncio.Task[None] | None = None
    _ab_releases: asyncio.Task[None] | None = None
    _audit_stream: asyncio.Task[None] | None = None
    promotion_sweeps: int = 0

    def __post_init__(self) -> None:
        self.metrics.registry.register(_ReadPathCollector(self))

    @classmethod
    def build(cls, settings: Settings) -> Services:
        limiter: RateLimiter | None = None
        if settings.rate_limit_enabled:
            limiter = RedisRateLimiter(settings.redis_url) if settings.redis_url else MemoryRateLimiter()
        db = Database(settings.effective_database_url)
        reads = ReadStore(db, sqlite_threads=settings.sqlite_read_threads, pool_size=settings.database_read_pool_size)
        plugins = PluginRegistry(settings).load()
        queue = WorkQueue(db, owner=f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}")
        box = SecretBox(settings.encryption_key or "")
        events = EventDelivery(db, plugins, retention_hours=settings.outbox_retention_hours)
        notifications = Notifications(
            db,
            plugins,
            queue,
            box,
            max_attempts=settings.notification_max_attempts,
            retry_seconds=settings.notification_retry_seconds,
        )
        events.notifications = notifications
        workflows = WorkflowEngine(db, plugins, queue, box, lease_seconds=settings.workflow_lease_seconds)
        agent_tasks = AgentTasks(db, queue, plugins, box, timedelta(seconds=settings.agent_task_lease_seconds))
        states = PluginStateCache(reads, poll_seconds=settings.plugin_state_poll_seconds)
        workflows.services = StepServices(db, plugins, box, states, settings, agent_tasks)
        workflows.services.queue = queue
        from shiplane.deployments.service import fail_unfinished_jobs
        from shiplane.promotions.service import finish_promotion
        from shiplane.workflows import engine as workflow_engine

        # Evidence packets and version stickers are signed with it (in the transactions
        # that make the decisions); it is published in `signing_keys` at start.
        signer = Signer.from_settings(settings)
        db.signer = signer
        for hook in (fail_unfinished_jobs, finish_promotion):
            if hook not in workflow_engine.RUN_FINISHED:
                workflow_engine.RUN_FINISHED.append(hook)
        return cls(
            settings=settings,
            db=db,
            reads=reads,
            plugin_states=states,
            verifier=TokenVerifier(settings),
            rate_limiter=limiter,
            plugins=plugins,
            secret_box=box,
            events=events,
            notifications=notifications,
            workflows=workflows,
            queue=queue,
            agent_tasks=agent_tasks,
            signer=signer,
            egress=EgressPolicy.from_settings(settings),
            oauth=OAuthAuthority(settings, db, reads),
        )

    async def authenticate(self, token: str) -> Principal:
        """The caller a bearer token names: an agent credential, or a JWT (TokenError if neither)."""
        if agent_credentials.is_agent_credential(token):
            return await agent_credentials.authenticate(self.reads, token)
        if self.oauth.owns(token):
            return await self.oauth.authenticate(token)
        return Principal.from_claims(await self.verifier.verify(token))

    def tier_for(self, principal: Principal | None) -> str:
        tiers = self.settings.rate_limit_tiers
        if principal is not None:
            if principal.tier in tiers:
                return principal.tier  # type: ignore[return-value]
            tenant_tier = self.settings.tenant_tiers.get(principal.tenant_id)
            if tenant_tier in tiers:
                return tenant_tier  # type: ignore[return-value]
        return "standard"

    def _failure_key_and_tier(self, scope: dict[str, Any]) -> tuple[str, RateTier]:
        client = scope.get("client") or ("unknown", 0)
        tier = self.settings.rate_limit_tiers.get("standard") or DEFAULT_TIERS["standard"]
        return f"auth-fail:{client[0]}", tier

    def too_many_failed_authentications(self, scope: dict[str, Any]) -> bool:
        """Whether this client address has spent its burst on tokens that did not verify."""
        if self.rate_limiter is None:
            return False
        key, tier = self._failure_key_and_tier(scope)
        return self.auth_failures.exhausted(key, tier)

    async def record_failed_authentication(self, scope: dict[str, Any]) -> None:
        if self.rate_limiter is not None:
            key, tier = self._failure_key_and_tier(scope)
            await self.auth_failures.take(key, "standard", tier)

    async def take_rate_token(self, principal: Principal | None, scope: dict[str, Any]) -> Decision:
        assert self.rate_limiter is not None
        if principal is not None:
            # Length-prefixed: tenant "a:b" with user "c" and tenant "a" with user "b:c"
            # must not share a bucket.
            key = f"u:{len(principal.tenant_id)}:{principal.tenant_id}:{principal.user_id}"
        else:
            # Unauthenticated calls share a bucket per client address, so a flood of
            # bad tokens is throttled too.
            client = scope.get("client") or ("unknown", 0)
            key = f"anon:{client[0]}"
        tier_name = self.tier_for(principal)
        # A tier table configured without "standard" keeps the built-in standard tier
        # rather than failing every request that has no other tier.
        tier = self.settings.rate_limit_tiers.get(tier_name) or DEFAULT_TIERS["standard"]
        return await self.rate_limiter.take(key, tier_name, tier)

    async def start(self) -> None:
        from shiplane.evidence.service import register_key

        await register_key(self.db, self.signer)
        await self.oauth.record_key()
        await self.plugin_states.start()
        await self.plugins.startup()
        self.plugins.start_health_probes(self.settings.plugin_health_probe_seconds)
        if self.settings.event_delivery_enabled:
            await self.events.start()
            await self.notifications.start()
        await self.queue.listen()
        if self.settings.workflow_engine_enabled:
            await self.workflows.start()
        self._maintenance = asyncio.create_task(self._prune_forever(), name="shiplane-queue-prune")
        self._promotions = asyncio.create_task(self._sweep_promotions(), name="shiplane-promotion-sweep")
        self._ab_releases = asyncio.create_task(self._drive_ab_releases(), name="shiplane-ab-releases")
        self._audit_stream = asyncio.create_task(self._stream_audit(), name="shiplane-audit-stream")
        await self._start_local_agent()

    async def _prune_forever(self) -> None:
        """Finished work items are kept as long as delivered outbox events, then deleted."""
        retention = timedelta(hours=self.settings.outbox_retention_hours)
        while True:
            try:
                await self.queue.prune(retention)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried at the next round
                logging.getLogger("shiplane.engine").exception("pruning finished work items failed")
            await asyncio.sleep(600)

    async def _start_local_agent(self) -> None:
        wanted = self.settings.local_agent if self.settings.local_agent is not None else self.settings.is_development
        if not wanted or self.local_agent_url is None:
            return
        from shiplane.agents.runtime import AgentRuntime
        from shiplane.agents.service import ensure_local_agent

        tenant = self.settings.local_agent_tenant
        capabilities = sorted(self.plugins.capabilities.get("target_type", {}))
        credential = await ensure_local_agent(self.db, tenant, capabilities)
        runtime = AgentRuntime(
            self.local_agent_url,
            self.settings.data_dir / "local-agent",
            name="local",
            credential=credential,
            scripts=self.settings.local_agent_scripts,
            registry=self.plugins,
        )
        self._local_agent = asyncio.create_task(_local_agent(runtime), name="shiplane-local-agent")

    async def _sweep_promotions(self) -> None:
        """Blocked promotions whose cause may have ended are evaluated again (each settles with
        a compare-and-set, so several processes sweeping at once move each promotion once)."""
        from shiplane.plugins.service import PluginService
        from shiplane.promotions.service import PromotionService, due_promotions, system_principal

        while True:
            await asyncio.sleep(self.settings.promotion_sweep_seconds)
            try:
                due = await due_promotions(self.db)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried at the next round
                logging.getLogger("shiplane.promotions").exception("re-evaluating promotions failed")
                continue
            for tenant, promotion_id in due:
                # One promotion that cannot be settled must not hold up the others.
                try:
                    plugins = PluginService(
                        None, system_principal(tenant), self.plugins, self.secret_box, self.plugin_states
                    )
                    await PromotionService(self.db, plugins, self.queue).settle(promotion_id)
                    self.promotion_sweeps += 1
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - tried again at the next round
                    logging.getLogger("shiplane.promotions").exception(
                        "re-evaluating a promotion failed", extra={"promotion": promotion_id}
                    )

    async def _drive_ab_releases(self) -> None:
        """Running A/B releases move on: analyses run, steps advance, failures roll back
        (each look claimed with a compare-and-set: several processes never move one twice)."""
        overall = asyncio.Semaphore(8)
        per_tenant: dict[str, asyncio.Semaphore] = {}
        in_flight: set[str] = set()
        looks: set[asyncio.Task[None]] = set()
        try:
            await self._ab_rounds(overall, per_tenant, in_flight, looks)
        finally:
            for look in list(looks):
                look.cancel()

    async def _ab_rounds(
        self,
        overall: asyncio.Semaphore,
        per_tenant: dict[str, asyncio.Semaphore],
        in_flight: set[str],
        looks: set[asyncio.Task[None]],
    ) -> None:
        from shiplane.audit.reports import due_reports, start_making
        from shiplane.progressive.service import due_ab_releases

        next_reports = 0.0
        while True:
            await asyncio.sleep(self.settings.ab_sweep_seconds)
            if time.monotonic() >= next_reports:
                # Audit reports whose maker died (or never started: a crash after the request).
                next_reports = time.monotonic() + self.settings.audit_report_sweep_seconds
                try:
                    for tenant, report_id in await due_reports(self.db):
                        start_making(self.db, tenant, report_id)  # in the background: never holds canaries up
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - retried at the next round
                    logging.getLogger("shiplane.audit").exception("making pending audit reports failed")
            try:
                due = await due_ab_releases(self.db)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried at the next round
                logging.getLogger("shiplane.progressive").exception("looking for due A/B releases failed")
                continue
            # Each look in its own task (at most 8 at once, 2 per tenant, each with a deadline):
            # one tenant's slow probes or router cannot hold up another's canaries.
            for tenant, ab_id in due:
                if ab_id in in_flight:
                    continue
                in_flight.add(ab_id)
                look = asyncio.create_task(self._look_ab(tenant, ab_id, overall, per_tenant))
                looks.add(look)
                look.add_done_callback(looks.discard)
                look.add_done_callback(functools.partial(_forget, in_flight, ab_id))

    async def _look_ab(
        self, tenant: str, ab_id: str, overall: asyncio.Semaphore, per_tenant: dict[str, asyncio.Semaphore]
    ) -> None:
        from shiplane.plugins.service import PluginService
        from shiplane.progressive.service import drive, system_principal

        async with per_tenant.setdefault(tenant, asyncio.Semaphore(2)), overall:
            try:
                plugins = PluginService(
                    None, system_principal(tenant), self.plugins, self.secret_box, self.plugin_states
                )
                async with asyncio.timeout(AB_LOOK_SECONDS):
                    await drive(self.db, plugins, ab_id, self.egress)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one release must not hold up the others
                logging.getLogger("shiplane.progressive").exception(
                    "driving an A/B release failed", extra={"abRelease": ab_id}
                )

    async def _stream_audit(self) -> None:
        """Audit events to the tenants' SIEM sinks (audit/streaming.py), and retention
        pruning every 10 minutes."""
        from shiplane.audit.streaming import deliver_all
        from shiplane.retention.service import prune_all

        log = logging.getLogger("shiplane.audit")
        next_prune = time.monotonic() + 60
        while True:
            await asyncio.sleep(self.settings.audit_stream_seconds)
            try:
                await deliver_all(self.db, self.plugins, self.secret_box)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried at the next round
                log.exception("streaming audit events failed")
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + 600
                try:
                    await prune_all(self.db)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - retried at the next round
                    logging.getLogger("shiplane.retention").exception("pruning by the retention policies failed")

    async def close(self) -> None:
        await stop_task(self._audit_stream)
        await stop_task(self._ab_releases)
        await stop_task(self._promotions)
        await stop_task(self._local_agent)
        await stop_task(self._maintenance)
        await self.queue.close()
        await self.workflows.stop()
        await self.notifications.stop()
        await self.events.stop()
        await self.plugin_states.stop()
        await self.plugins.shutdown()
        if self.rate_limiter is not None:
            await self.rate_limiter.close()
        await self.reads.dispose()
        await self.db.dispose()


async def _local_agent(runtime: Any) -> None:
    """The in-process agent; its end (a refused credential, a bug) never ends the server."""
    try:
        await runtime.run()
    except asyncio.CancelledError:
        raise
    except BaseException:  # noqa: BLE001 - SystemExit from the runtime included
        logging.getLogger("shiplane.agent").exception("the local agent stopped")


class _ReadPathCollector:
    """Read-path figures, computed when /metrics is scraped (nothing per request but an int)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        reads = CounterMetricFamily(
            "shiplane_db_reads", "List and get reads, by where they ran (loop, thread, async)", labels=["mode"]
        )
        for mode, count in self.services.reads.counts.items():
            reads.add_metric([mode], count)
        yield reads
        cache = CounterMetricFamily(
            "shiplane_plugin_state_cache_lookups", "Tenant plugin-decision lookups, by result", labels=["result"]
        )
        cache.add_metric(["hit"], self.services.plugin_states.hits)
        cache.add_metric(["miss"], self.services.plugin_states.misses)
        yield cache
        yield from self._plugin_metrics()
        yield from self._queue_metrics()
        yield from self._notification_metrics()
        yield from self._workflow_metrics()
        yield from self._delivery_metrics()
        yield from self._agent_metrics()
        pools = GaugeMetricFamily("shiplane_db_pool_checked_out", "Database connections in use", labels=["pool"])
        pools.add_metric(["read"], self.services.reads.checked_out())
        write_pool: Any = self.services.db.write_engine.sync_engine.pool
        pools.add_metric(["write"], write_pool.checkedout() if hasattr(write_pool, "checkedout") else 0)
        yield pools

    def _plugin_metrics(self) -> Iterator[Metric]:
        registry = self.services.plugins
        guard = registry.guard
        calls = CounterMetricFamily(
            "shiplane_plugin_calls", "Calls into plugin code, by plugin and result", labels=["plugin", "result"]
        )
        seconds = SummaryMetricFamily("shiplane_plugin_call_duration_seconds", "Plugin call time", labels=["plugin"])
        with guard._in_flight_lock:
            outcomes = dict(guard.outcomes)
            durations = dict(guard.durations)
        for (plugin_id, result), count in sorted(outcomes.items()):
            calls.add_metric([plugin_id, result], count)
        for plugin_id, (count, total) in sorted(durations.items()):
            seconds.add_metric([plugin_id], count_value=count, sum_value=total)
        in_flight = GaugeMetricFamily("shiplane_plugin_calls_in_flight", "Plugin calls running", labels=["plugin"])
        workers = GaugeMetricFamily("shiplane_plugin_workers", "Live worker processes", labels=["plugin", "state"])
        memory = GaugeMetricFamily("shiplane_plugin_worker_rss_bytes", "Workers' resident memory", labels=["plugin"])
        exits = CounterMetricFamily(
            "shiplane_plugin_worker_exits", "Worker processes that ended, by how", labels=["plugin", "how"]
        )
        restarts = CounterMetricFamily(
            "shiplane_plugin_worker_restarts", "Workers started after one ended", labels=["plugin"]
        )
        failing = GaugeMetricFamily(
            "shiplane_plugin_worker_down", "1 while a plugin's last worker died and none is up yet", labels=["plugin"]
        )
        for plugin in registry.loaded():
            in_flight.add_metric([plugin.id], guard.in_flight(plugin.id))
            processes = plugin.processes
            if processes is None:
                continue
            status = processes.status()
            busy = sum(1 for w in status["workers"] if w["busy"])
            workers.add_metric([plugin.id, "busy"], busy)
            workers.add_metric([plugin.id, "idle"], len(status["workers"]) - busy)
            memory.add_metric([plugin.id], sum(w.get("rssBytes", 0) for w in status["workers"]))
            for how in ("crashed", "killed"):
                exits.add_metric([plugin.id, how], processes.exits.get(how, 0))
            restarts.add_metric([plugin.id], processes.restarts)
            failing.add_metric([plugin.id], 1 if processes.failing() else 0)
        yield from (calls, seconds, in_flight, workers, memory, exits, restarts, failing)

    def _notification_metrics(self) -> Iterator[Metric]:
        counts = self.services.notifications.counts
        family = CounterMetricFamily(
            "shiplane_notifications",
            "Notification deliveries in this process by outcome: enqueued (fan-out), delivered, "
            "failed_attempt (retried with backoff), skipped (integration gone or its plugin disabled)",
            labels=["outcome"],
        )
        for name in ("enqueued", "delivered", "failed_attempt", "skipped"):
            family.add_metric([name], counts.get(name, 0))
        yield family

    def _workflow_metrics(self) -> Iterator[Metric]:
        engine = self.services.workflows
        steps = CounterMetricFamily(
            "shiplane_workflow_steps",
            "Workflow step outcomes recorded by this process's engine: succeeded, failed, skipped, cancelled, "
            "retried (queued again after a failure), waiting (for people, or after a failure with onFailure: ask), "
            "interrupted (a non-idempotent step whose process died, failed), stale (a result after the lease "
            "was taken over, dropped)",
            labels=["outcome"],
        )
        for name in ("succeeded", "failed", "skipped", "cancelled", "retried", "waiting", "interrupted", "stale"):
            steps.add_metric([name], engine.counts.get(name, 0))
        yield steps
        running = GaugeMetricFamily("shiplane_workflow_steps_running", "Workflow steps this process runs now")
        running.add_metric([], len(engine.running))
        yield running
        count, total = engine.step_seconds
        seconds = SummaryMetricFamily(
            "shiplane_workflow_step_duration_seconds",
            "How long steps ran in this process (the step type's own time, through the plugin guard)",
        )
        seconds.add_metric([], count_value=count, sum_value=total)
        yield seconds

    def _delivery_metrics(self) -> Iterator[Metric]:
        from shiplane.deployments import service as deployments
        from shiplane.promotions import service as promotions

        moves = CounterMetricFamily(
            "shiplane_promotions",
            "Promotion moves in this process by the state reached (requested, evaluated again, finished)",
            labels=["state"],
        )
        for state, count in sorted(promotions.COUNTS.items()):
            moves.add_metric([state], count)
        yield moves
        sweeps = CounterMetricFamily(
            "shiplane_promotion_reevaluations", "Blocked or expiring promotions this process evaluated again"
        )
        sweeps.add_metric([], self.services.promotion_sweeps)
        yield sweeps
        jobs = CounterMetricFamily(
            "shiplane_deployment_jobs", "Deployment jobs that ended in this process", labels=["kind", "state"]
        )
        for key, count in sorted(deployments.COUNTS.items()):
            kind, _, state = key.partition(":")
            jobs.add_metric([kind, state], count)
        yield jobs
        seconds = SummaryMetricFamily(
            "shiplane_deployment_job_duration_seconds", "How long deployment jobs ran, by kind", labels=["kind"]
        )
        for kind, (count, total) in sorted(deployments.DURATIONS.items()):
            seconds.add_metric([kind], count_value=count, sum_value=total)
        yield seconds
        from shiplane.audit import streaming
        from shiplane.evidence import service as evidence

        streamed = CounterMetricFamily(
            "shiplane_audit_stream_events",
            "Audit events this process delivered to SIEM sinks, and batches they refused",
            labels=["outcome"],
        )
        for outcome in ("delivered", "failed_batch"):
            streamed.add_metric([outcome], streaming.COUNTS.get(outcome, 0))
        yield streamed
        lag = GaugeMetricFamily(
            "shiplane_audit_stream_lag_events", "The most events a SIEM sink was behind at this process's last pass"
        )
        lag.add_metric([], streaming.LAG["max"])
        yield lag
        from shiplane.progressive import service as progressive

        moved = CounterMetricFamily(
            "shiplane_ab_releases", "A/B release moves in this process by the state reached", labels=["state"]
        )
        for state, count in sorted(progressive.COUNTS.items()):
            moved.add_metric([state], count)
        yield moved
        measured = CounterMetricFamily(
            "shiplane_ab_measurements", "A/B release analysis measurements by verdict", labels=["verdict"]
        )
        for verdict in ("pass", "fail", "inconclusive"):
            measured.add_metric([verdict], progressive.VERDICTS.get(verdict, 0))
        yield measured

        packets = CounterMetricFamily(
            "shiplane_evidence_packets", "Signed evidence packets written by this process", labels=["kind"]
        )
        for kind in (evidence.DECISION, evidence.OUTCOME, evidence.AB_DECISION):
            packets.add_metric([kind], evidence.COUNTS.get(kind, 0))
        yield packets

    def _queue_metrics(self) -> Iterator[Metric]:
        queue = self.services.queue
        operations = CounterMetricFamily(
            "shiplane_work_items",
            "Work-queue operations in this process: enqueued, claimed, completed, retried, failed, "
            "lease_expired (claimed again after its lease ran out), stale (a fenced-out holder)",
            labels=["event"],
        )
        for name in ("enqueued", "claimed", "completed", "retried", "failed", "lease_expired", "stale", "pruned"):
            operations.add_metric([name], queue.counts.get(name, 0))
        yield operations
        depth = GaugeMetricFamily(
            "shiplane_work_queue_depth",
            "Unfinished work items by kind and state, as of the last scrape",
            labels=["kind", "state"],
        )
        for (kind, state), count in sorted(queue.last_depth.items()):
            depth.add_metric([kind, state], count)
        yield depth

    def _agent_metrics(self) -> Iterator[Metric]:
        dispatcher = self.services.agent_dispatcher
        streams = GaugeMetricFamily("shiplane_agent_streams", "Agents' task streams connected to this process")
        streams.add_metric([], len(dispatcher.sessions) if dispatcher is not None else 0)
        yield streams
        tasks = CounterMetricFamily(
            "shiplane_agent_tasks",
            "Agent tasks through this process's streams: offered, assigned, succeeded, failed, "
            "rejected (a renewal or result of a stale epoch)",
            labels=["event"],
        )
        counts = dispatcher.counts if dispatcher is not None else {}
        for name in ("offered", "assigned", "succeeded", "failed", "rejected"):
            tasks.add_metric([name], counts.get(name, 0))
        yield tasks
