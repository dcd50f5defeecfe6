"""The plugin's own health: probed at most every 10 s, one probe at a time per plugin.

``GET /plugins/{id}/health`` may be asked by any tenant, as often as it likes; the
probe must neither multiply calls into the plugin (taking the in-flight room other
tenants' gates need) nor remember the guard's refusals as the plugin's health, and
the plugin list must not show a report of any age.

These are the in-process guard's rules, so the plugins here run in process; a worker
process that a timeout kills reports ``failing`` by itself (``test_plugin_host.py``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from shiplane.plugins.gates import CoreGateContext, evaluate_gate
from shiplane.plugins.manager import HEALTH_CACHE_SECONDS, HEALTH_MAX_AGE_SECONDS, PluginRegistry
from shiplane.plugins.service import PluginService

from tests.api.plugins import PLUGINS, app_client, caller_for, enable, plugins_by_id, with_service
from tests.conftest import Caller

IN_PROCESS: dict[str, Any] = {"plugins_in_process": ["test-events", "test-hanging", "test-raising"]}


def registry_of(client: TestClient) -> PluginRegistry:
    return client.app.state.shiplane.plugins  # type: ignore[attr-defined,no-any-return]


def health(caller: Caller, plugin_id: str) -> dict[str, Any]:
    response = caller.get(f"{PLUGINS}/{plugin_id}/health")
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def age_cached_report(registry: PluginRegistry, plugin_id: str, seconds: float) -> None:
    """Make the cached report ``seconds`` older, as if it had been taken that long ago."""
    taken, report = registry._health[plugin_id]
    registry._health[plugin_id] = (taken - seconds, report)


def test_concurrent_health_requests_make_one_call_into_the_plugin(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path, plugin_call_timeout_seconds=0.5, **IN_PROCESS) as client:
        registry = registry_of(client)
        breaker = registry.guard.breaker("test-hanging")
        calls = breaker.total_calls
        callers = [caller_for(client) for _ in range(6)]  # six tenants asking at once
        start = threading.Barrier(len(callers))
        done = threading.Event()
        most_in_flight = 0

        def ask(caller: Caller) -> dict[str, Any]:
            start.wait(10)
            return health(caller, "test-hanging")

        def sample() -> None:
            nonlocal most_in_flight
            while not done.is_set():
                most_in_flight = max(most_in_flight, registry.guard.in_flight("test-hanging"))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(max_workers=len(callers)) as pool:
                reports = list(pool.map(ask, callers))
        finally:
            done.set()
            sampler.join()
        assert breaker.total_calls == calls + 1
        assert most_in_flight == 1
        for report in reports:
            assert report["status"] == "failing"
            assert "timed out" in report["pluginHealth"]["message"]
        # probes are not counted against the breaker
        assert breaker.state == "closed" and breaker.consecutive_failures == 0


def test_a_repeated_health_request_within_the_cache_period_does_not_call_the_plugin(
    database_url: str, tmp_path: Path
) -> None:
    with app_client(database_url, tmp_path, **IN_PROCESS) as client:
        caller = caller_for(client)
        registry = registry_of(client)
        breaker = registry.guard.breaker("acme")
        calls = breaker.total_calls
        first = health(caller, "acme")
        assert first["status"] == "ok"
        assert first["pluginHealth"] == {"status": "ok", "message": "all good", "details": {}}
        assert breaker.total_calls == calls + 1
        for _ in range(3):
            assert health(caller, "acme")["pluginHealth"] == first["pluginHealth"]
        assert breaker.total_calls == calls + 1  # served from the cache
        # once the report is older than the cache period, the next request asks again
        age_cached_report(registry, "acme", HEALTH_CACHE_SECONDS + 1)
        assert health(caller, "acme")["status"] == "ok"
        assert breaker.total_calls == calls + 2


def test_a_refused_probe_is_not_cached(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugin_call_timeout_seconds": 0.5, "plugin_breaker_threshold": 1, "plugin_breaker_reset_seconds": 0.2}
    with app_client(database_url, tmp_path, **overrides, **IN_PROCESS) as client:
        caller = caller_for(client)
        registry = registry_of(client)
        breaker = registry.guard.breaker("test-hanging")
        enable(caller, "test-hanging")
        ctx = CoreGateContext(caller.tenant_id, {"id": "r"}, {"id": "e"}, None, datetime.now(UTC))

        async def work(service: PluginService) -> str:
            return (await evaluate_gate(service, "hanging-async-gate", ctx, {}))[0].status

        # The tenant's own failure opens the tenant's breaker, not the plugin's.
        assert with_service(client, caller, work) == "fail"
        assert registry.guard.breaker("test-hanging", caller.tenant_id).state == "open"
        assert breaker.state == "closed"
        # The plugin's own breaker opens (as calls made for no tenant that fail would open it).
        breaker.state, breaker.opened_at = "open", time.monotonic()
        time.sleep(0.3)  # past reset_seconds: the probe still must not take the trial
        calls = breaker.total_calls
        report = health(caller, "test-hanging")
        assert report["status"] == "degraded"
        assert report["pluginHealth"]["status"] == "failing"
        assert "circuit" in report["pluginHealth"]["message"]
        assert breaker.total_calls == calls  # refused without calling the plugin
        assert breaker.state == "open" and not breaker.trial_running
        assert registry.cached_health("test-hanging") is None
        assert "test-hanging" not in registry._health
        # The breaker closes (as a succeeding trial would close it): the next request
        # probes the plugin for real instead of serving the refusal.
        breaker.state, breaker.consecutive_failures = "closed", 0
        own = registry.guard.breaker("test-hanging", caller.tenant_id)
        own.state, own.consecutive_failures = "closed", 0
        report = health(caller, "test-hanging")
        assert breaker.total_calls == calls + 1
        assert report["status"] == "failing" and "timed out" in report["pluginHealth"]["message"]


def test_the_plugin_list_does_not_show_a_stale_report(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path, plugin_call_timeout_seconds=0.5, **IN_PROCESS) as client:
        caller = caller_for(client)
        registry = registry_of(client)
        assert health(caller, "test-hanging")["status"] == "failing"
        assert plugins_by_id(caller)["test-hanging"]["health"] == "failing"
        assert registry.cached_health("test-hanging") is not None
        age_cached_report(registry, "test-hanging", HEALTH_MAX_AGE_SECONDS - 5)
        assert plugins_by_id(caller)["test-hanging"]["health"] == "failing"
        age_cached_report(registry, "test-hanging", 10)  # now 65 s old
        assert registry.cached_health("test-hanging") is None
        assert plugins_by_id(caller)["test-hanging"]["health"] == "ok"


def test_a_hanging_plugin_shows_failing_in_the_list_without_anyone_asking(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugin_call_timeout_seconds": 0.5, "plugin_health_probe_seconds": 0.2}
    with app_client(database_url, tmp_path, **overrides, **IN_PROCESS) as client:
        caller = caller_for(client)
        deadline = time.monotonic() + 15
        while True:
            listed = {p["id"]: p for p in caller.get("/api/v1/plugins").json()["data"]}
            if listed["test-hanging"]["health"] == "failing":
                break
            assert time.monotonic() < deadline, listed["test-hanging"]
            time.sleep(0.2)
        # The probe is the plugin's own health: the healthy plugins stay ok.
        assert listed["builtin"]["health"] == "ok"
