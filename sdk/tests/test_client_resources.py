"""The client's A/B release, variable-set, audit-report and dashboard-stream methods against
a real ``shiplane serve`` process (no mock of the server), answers as the typed models.

One server for the module, with the test plugins on its path (their file-backed traffic
router): an A/B release is created, started, advanced and promoted, and another rolled
back, and the router's state file shows the weights the server gave it; a variable set
goes through create, get, list, replace (with its version) and delete; an audit report is
asked for, made in the background and downloaded as the bytes its digest names; the
dashboard stream yields an agent's registration made before it was opened, then one made
while it is open, and the asynchronous client's stream opened ``since`` the first yields
the second next.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings
from tests.api.releases import Repo
from tests.conftest import make_database, once_on_sqlite
from tests.servers import Server, production_env, start_server

from shiplane_sdk.client import AsyncShiplaneClient, ConflictError, NotFoundError, ShiplaneClient, models

pytestmark = [pytest.mark.slow, once_on_sqlite("the client's A/B, variable-set, audit-report and dashboard methods")]

SECRET = "client-resources-secret-" + "s" * 40
ENCRYPTION_KEY = "client-resources-encryption-key-" + "k" * 20
WAIT = 30.0


@dataclass
class Live:
    server: Server
    tenant: str
    tmp: Path

    def token(self, roles: list[str] | None = None) -> str:
        return mint_token(
            Settings(auth_hs_secret=SECRET),
            user_id="resources-tests",
            tenant_id=self.tenant,
            roles=roles or ["admin"],
            lifetime_seconds=3600,
        )

    def client(self, roles: list[str] | None = None) -> ShiplaneClient:
        return ShiplaneClient(self.server.url, token=self.token(roles))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("client-resources")
    for url in make_database(tmp):
        env = production_env(
            url,
            tmp / "data",
            SECRET,
            ENCRYPTION_KEY,
            # the test plugins (their file-backed traffic router), as the root conftest installed them
            PYTHONPATH=os.environ["SHIPLANE_TEST_PLUGIN_SITE"],
            SHIPLANE_PLUGINS_IN_PROCESS='["test-events"]',
            SHIPLANE_AB_SWEEP_SECONDS="0.2",
        )
        server = start_server(env, tmp / "server")
        try:
            yield Live(server, f"tenant-{uuid.uuid4().hex[:8]}", tmp)
        finally:
            server.stop()


def _until(read: Any, check: Any, timeout: float = WAIT) -> Any:
    """``read()`` again (every 0.1 s, at most ``timeout`` seconds) until ``check`` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value):
            return value
        assert time.monotonic() < deadline, value
        time.sleep(0.1)


def _sealed_releases(client: ShiplaneClient, tmp: Path) -> tuple[models.ReleaseOut, models.ReleaseOut]:
    repo = Repo(tmp / "repo")
    integration = client.integrations.create({"name": "repo", "typeId": "git", "config": {"url": str(repo.path)}})
    component = client.components.create({"name": "web", "integrationId": integration.id, "reference": "."})
    sealed = []
    for tag in ("v1.0.0", "v2.0.0"):
        repo.commit()
        repo.tag(tag)
        client.components.sync_versions(component.id)
        sealed.append(client.releases.from_latest({"componentIds": [component.id], "name": f"web-{tag}"}))
    return sealed[0], sealed[1]


def test_an_ab_release_is_started_advanced_promoted_and_another_rolled_back(live: Live) -> None:
    weights_file = live.tmp / "router" / "weights.json"
    weights_file.parent.mkdir()
    with live.client() as client:
        client.plugins.enable("test-events")
        strategies = list(client.ab_releases.list_rollout_strategies())
        assert all(isinstance(s, models.RolloutStrategyOut) for s in strategies)
        canary = next(s for s in strategies if s.id == "canary")
        assert canary.progressive is True and canary.kind == "rollout_strategy"

        env = client.environments.create({"name": "ab-prod", "order": 1})
        control, candidate = _sealed_releases(client, live.tmp)
        router = client.plugins.create_instance(
            {
                "name": "edge",
                "pluginId": "test-events",
                "capabilityKind": "traffic_router",
                "capabilityId": "test-file-router",
                "config": {"stateFile": str(weights_file)},
            }
        )
        manual = {"steps": [{"weight": 10, "manual": True}, {"weight": 50, "manual": True}, {"weight": 100}]}
        body = models.ABReleaseCreate(
            name="web-canary",
            environment_id=env.id,
            control_release_id=control.id,
            candidate_release_id=candidate.id,
            strategy="canary",
            strategy_config=manual,
            router_instance_id=router.id,
        )
        ab = client.ab_releases.create(body)
        assert isinstance(ab, models.ABReleaseOut)
        assert ab.state == "draft" and ab.current_step is None and [s.weight for s in ab.steps] == [10, 50, 100]
        assert (ab.control_release_id, ab.candidate_release_id) == (control.id, candidate.id)
        assert not weights_file.exists()  # nothing was sent to the router yet

        started = client.ab_releases.start(ab.id)
        assert isinstance(started, models.ABReleaseOut)
        assert started.state == "running" and started.current_step == 0
        assert started.applied_weights is not None and started.applied_weights.candidate == 10
        assert json.loads(weights_file.read_text()) == {"control": 90, "candidate": 10}

        advanced = client.ab_releases.advance(ab.id)
        assert advanced.state == "running" and advanced.current_step == 1
        assert json.loads(weights_file.read_text()) == {"control": 50, "candidate": 50}

        traffic = client.ab_releases.traffic(ab.id)
        assert isinstance(traffic, models.ABTrafficOut)
        assert traffic.ab_release_id == ab.id and traffic.current_step == 1
        assert traffic.weights == {"control": 50, "candidate": 50}  # read back from the router's file
        assert traffic.desired is not None and traffic.desired.candidate == 50

        health = client.ab_releases.health(ab.id)
        assert isinstance(health, models.ABHealthOut)
        assert health.ab_release_id == ab.id and health.state == "running" and health.failures == 0

        promoted = client.ab_releases.promote(ab.id)
        assert isinstance(promoted, models.ABReleaseOut) and promoted.state == "promoted"
        assert json.loads(weights_file.read_text()) == {"control": 0, "candidate": 100}
        assert client.environments.get(env.id).current_release_id == candidate.id
        with pytest.raises(ConflictError):  # a promoted release is over
            client.ab_releases.advance(ab.id)

        second = client.ab_releases.create(body.model_copy(update={"name": "web-canary-2"}))
        client.ab_releases.start(second.id)
        rolled_back = client.ab_releases.rollback(second.id, "error budget")
        assert isinstance(rolled_back, models.ABReleaseOut)
        assert rolled_back.state == "rolled_back" and "error budget" in rolled_back.message
        assert json.loads(weights_file.read_text()) == {"control": 100, "candidate": 0}

        fetched = client.ab_releases.get(second.id)
        assert isinstance(fetched, models.ABReleaseOut) and fetched.state == "rolled_back"
        listed = list(client.ab_releases.list(sort="name"))
        assert all(isinstance(a, models.ABReleaseOut) for a in listed)
        assert [(a.name, a.state) for a in listed] == [("web-canary", "promoted"), ("web-canary-2", "rolled_back")]
        assert [a.name for a in client.ab_releases.list(filter={"state": "promoted"})] == ["web-canary"]
        with pytest.raises(NotFoundError):
            client.ab_releases.get("no-such-ab-release")


def test_variable_sets_are_created_read_listed_replaced_and_deleted(live: Live) -> None:
    with live.client() as client:
        created = client.variable_sets.create(
            models.VariableSetFields(
                name="web-config",
                description="the web tier",
                variables=[
                    models.VariableIn(name="LOG_LEVEL", value="info"),
                    models.VariableIn(name="DB_PASSWORD", value="hunter2", secret=True),
                ],
            )
        )
        assert isinstance(created, models.VariableSetOut)
        assert created.name == "web-config" and created.revision == 1 and created.version == 1
        shown = {v.name: (v.value, v.secret) for v in created.variables}
        assert shown == {"LOG_LEVEL": ("info", False), "DB_PASSWORD": ("***", True)}

        got = client.variable_sets.get(created.id)
        assert isinstance(got, models.VariableSetOut) and got.description == "the web tier"
        listed = list(client.variable_sets.list())
        assert all(isinstance(s, models.VariableSetOut) for s in listed)
        assert created.id in {s.id for s in listed}

        replacement = {
            "name": "web-config",
            "variables": [
                {"name": "LOG_LEVEL", "value": "debug"},
                {"name": "DB_PASSWORD", "value": "***", "secret": True},  # keeps the stored value
            ],
        }
        with pytest.raises(ConflictError):  # a stale version
            client.variable_sets.replace(created.id, {**replacement, "version": created.version + 5})
        replaced = client.variable_sets.replace(created.id, replacement, if_match=created.version)
        assert isinstance(replaced, models.VariableSetOut)
        assert replaced.revision == 2 and replaced.version == created.version + 1
        assert {v.name: v.value for v in replaced.variables} == {"LOG_LEVEL": "debug", "DB_PASSWORD": "***"}

        with pytest.raises(ConflictError):  # the version before the replace
            client.variable_sets.delete(created.id, if_match=created.version)
        client.variable_sets.delete(created.id, if_match=replaced.version)
        with pytest.raises(NotFoundError):
            client.variable_sets.get(created.id)
        assert created.id not in {s.id for s in client.variable_sets.list()}


def test_an_audit_report_is_made_listed_and_downloaded_and_the_retention_policy_set(live: Live) -> None:
    with live.client() as client:
        env = client.environments.create({"name": "audited", "order": 50})
        now = datetime.now(UTC)
        asked = client.audit.create_report(
            models.AuditReportCreate(
                period_start=now - timedelta(days=1), period_end=now + timedelta(minutes=5), environment_ids=[env.id]
            )
        )
        assert isinstance(asked, models.AuditReportOut)
        assert asked.environment_ids == [env.id] and asked.format == "json" and asked.state in ("pending", "ready")

        ready = _until(lambda: client.audit.get_report(asked.id), lambda r: r.state != "pending")
        assert isinstance(ready, models.AuditReportOut) and ready.state == "ready", ready.message
        reports = list(client.audit.list_reports())
        assert all(isinstance(r, models.AuditReportOut) for r in reports)
        assert asked.id in {r.id for r in reports}

        content = client.audit.download_report(asked.id)
        assert isinstance(content, bytes) and len(content) == ready.size
        assert ready.digest == "sha256:" + hashlib.sha256(content).hexdigest()
        report = json.loads(content)
        assert report["tenantId"] == live.tenant and report["environments"] == [{"id": env.id, "name": "audited"}]
        assert report["changes"] == [] and ready.changes == 0
        assert report["checkpoint"]["sequence"] >= 1  # the audit chain's head, signed

        policy = client.audit.retention_policy()
        assert isinstance(policy, models.RetentionPolicyOut) and policy.tenant_id == live.tenant
        changed = client.audit.set_retention_policy(models.RetentionPolicyBody(logs_days=30))
        assert isinstance(changed, models.RetentionPolicyOut)
        assert changed.logs_days == 30 and changed.evidence_days is None and changed.updated_by == "resources-tests"
        assert client.audit.retention_policy().logs_days == 30
        pruned = client.audit.prune()
        assert isinstance(pruned, models.RetentionPruneOut)
        assert pruned.before.logs is not None and pruned.before.logs < datetime.now(UTC) - timedelta(days=29)


def test_the_dashboard_stream_yields_changes_made_before_and_while_it_is_open(live: Live) -> None:
    messages: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()

    def registration(name: str) -> Any:
        """The agent ``name``'s registration on the stream (bounded)."""
        deadline = time.monotonic() + WAIT
        while True:
            message = messages.get(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(message, BaseException):
                raise message
            if message.get("event") == "agent.registered" and (message.get("data") or {}).get("name") == name:
                return message
            assert time.monotonic() < deadline, "no registration of " + name

    with live.client() as client:
        before = client.agents.register(
            {"name": "dash-before", "hostname": "host-1", "agentVersion": "1.0.0", "capabilities": ["local"]}
        )

        def read() -> None:
            stream = client.deployments.dashboard_stream()
            try:
                for message in stream:
                    messages.put(message)
                    if (message.get("data") or {}).get("name") == "dash-while":
                        return
            except BaseException as exc:  # shown in the test's thread
                messages.put(exc)
            finally:
                getattr(stream, "close", lambda: None)()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        first = registration("dash-before")
        assert first["type"] == "event" and first["resourceType"] == "agent"
        assert first["resourceId"] == before.agent.id and first["actor"] == {"type": "user", "id": "resources-tests"}
        during = client.agents.register({"name": "dash-while", "hostname": "host-2", "agentVersion": "1.0.0"})
        second = registration("dash-while")
        assert second["resourceId"] == during.agent.id and second["seq"] > first["seq"]
        reader.join(WAIT)
        assert not reader.is_alive()

    async def resumed() -> dict[str, Any]:
        """The asynchronous client's first event after ``since``: the second registration."""
        async with AsyncShiplaneClient(live.server.url, token=live.token()) as client:
            stream = client.deployments.dashboard_stream(since=first["seq"])
            try:
                while True:
                    message = await asyncio.wait_for(anext(stream), WAIT)
                    if message["type"] == "event":
                        return message
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

    assert asyncio.run(resumed())["seq"] == second["seq"]
