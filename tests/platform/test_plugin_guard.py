"""The plugin guard on its own: what a misbehaving plugin can and cannot do to the server."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest
from shiplane.plugins.gates import CoreGateContext, evaluate_gate
from shiplane.plugins.guard import PluginCallFailed, PluginGuard
from shiplane.plugins.service import PluginService

from tests.api.plugins import app_client, caller_for, enable, with_service


def test_system_exit_in_plugin_code_is_a_failed_call() -> None:
    guard = PluginGuard(timeout=1.0, threshold=5, reset_seconds=30)

    def sync_exit() -> None:
        sys.exit(2)

    async def async_exit() -> None:
        raise SystemExit("bye")

    async def run() -> None:
        for function in (sync_exit, async_exit):
            with pytest.raises(PluginCallFailed) as failure:
                await guard.call("p", "op", function)
            assert failure.value.kind == "SystemExit"

    asyncio.run(run())
    assert guard.breaker("p").total_failures == 2
    guard.shutdown()


def test_a_hanging_plugin_cannot_take_every_thread() -> None:
    guard = PluginGuard(timeout=0.1, threshold=100, reset_seconds=30, max_threads=4, max_in_flight_per_plugin=2)
    release = threading.Event()

    def hang() -> str:
        release.wait(10)
        return "late"

    def quick() -> str:
        return "fine"

    async def run() -> None:
        for _ in range(2):
            with pytest.raises(PluginCallFailed, match="timed out"):
                await guard.call("slow", "op", hang)
        # both threads are still blocked: the third call is refused at once
        assert guard.in_flight("slow") == 2
        with pytest.raises(PluginCallFailed) as refused:
            await guard.call("slow", "op", hang)
        assert refused.value.kind == "too many calls running"
        # another plugin still gets a thread
        assert await guard.call("other", "op", quick) == "fine"
        release.set()
        for _ in range(100):
            if guard.in_flight("slow") == 0:
                break
            await asyncio.sleep(0.02)
        assert guard.in_flight("slow") == 0
        assert await guard.call("slow", "op", quick) == "fine"

    asyncio.run(run())
    guard.shutdown()


def test_half_open_lets_one_trial_call_through() -> None:
    guard = PluginGuard(timeout=2.0, threshold=1, reset_seconds=0.1)

    async def boom() -> None:
        raise RuntimeError("x")

    async def slow_boom() -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError("x")

    async def run() -> None:
        with pytest.raises(PluginCallFailed):
            await guard.call("p", "op", boom)
        assert guard.breaker("p").state == "open"
        await asyncio.sleep(0.15)
        trial = asyncio.create_task(guard.call("p", "op", slow_boom))
        await asyncio.sleep(0.05)
        assert guard.breaker("p").state == "half_open"
        with pytest.raises(PluginCallFailed) as second:
            await guard.call("p", "op", boom)
        assert "trial call running" in second.value.reason
        with pytest.raises(PluginCallFailed):
            await trial
        assert guard.breaker("p").state == "open"

    asyncio.run(run())
    guard.shutdown()


def test_secrets_are_scrubbed_from_the_error_and_never_reach_the_shared_breaker() -> None:
    guard = PluginGuard(timeout=1.0, threshold=5, reset_seconds=30)

    def leak() -> None:
        raise RuntimeError("login to https://user:S3CRET-VALUE@vault failed")

    async def run() -> PluginCallFailed:
        with pytest.raises(PluginCallFailed) as failure:
            await guard.call("p", "gate g", leak, secrets=["S3CRET-VALUE"])
        return failure.value

    failure = asyncio.run(run())
    assert "S3CRET-VALUE" not in failure.reason and "***" in failure.reason
    assert guard.breaker("p").last_error == "gate g: RuntimeError"
    guard.shutdown()


def test_the_server_survives_plugin_code_calling_sys_exit(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path, event_delivery_enabled=True) as client:
        admin = caller_for(client)
        enable(admin, "test-exiting")
        # its on_event raises SystemExit for every event of this tenant
        for name in ("dev", "qa"):
            assert admin.post("/api/v1/environments", json={"name": name}).status_code == 201
        ctx = CoreGateContext(admin.tenant_id, {"id": "r"}, {"id": "e"}, None, __import__("datetime").datetime.now())

        async def work(service: PluginService):  # type: ignore[no-untyped-def]
            return (await evaluate_gate(service, "exiting-gate", ctx, {}))[0]

        result = with_service(client, admin, work)
        assert result.status == "fail" and "SystemExit" in result.message
        deadline = time.monotonic() + 10
        while client.app.state.shiplane.plugins.guard.breaker("test-exiting", admin.tenant_id).total_failures < 3:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the events never reached the plugin"
            time.sleep(0.05)
        # still serving, and the delivery loop is still alive
        assert admin.get("/api/v1/environments").status_code == 200
        assert not client.app.state.shiplane.events._task.done()  # type: ignore[attr-defined]


def test_a_health_probe_never_takes_the_half_open_trial() -> None:
    guard = PluginGuard(timeout=2.0, threshold=1, reset_seconds=0.1)
    probes: list[str] = []

    async def boom() -> None:
        raise RuntimeError("x")

    async def probe() -> str:
        probes.append("called")
        return "healthy"

    async def slow_ok() -> str:
        await asyncio.sleep(0.3)
        return "fine"

    async def run() -> None:
        breaker = guard.breaker("p")
        with pytest.raises(PluginCallFailed):
            await guard.call("p", "op", boom)
        assert breaker.state == "open"
        await asyncio.sleep(0.15)  # past reset_seconds: the next counted call would be the trial
        calls = breaker.total_calls
        with pytest.raises(PluginCallFailed) as refused:
            await guard.call("p", "plugin_health", probe, count=False)
        assert refused.value.kind == "circuit open"
        # refused at once: plugin code not run, no trial taken, breaker not moved
        assert probes == [] and breaker.total_calls == calls
        assert breaker.state == "open" and not breaker.trial_running
        # the counted call gets the trial; while it runs, probes are still refused
        trial = asyncio.create_task(guard.call("p", "gate g", slow_ok))
        await asyncio.sleep(0.05)
        assert breaker.state == "half_open" and breaker.trial_running
        with pytest.raises(PluginCallFailed) as refused:
            await guard.call("p", "plugin_health", probe, count=False)
        assert refused.value.kind == "circuit open" and probes == []
        assert await trial == "fine"
        assert breaker.state == "closed"
        # once closed, probes run again (and a succeeding probe never closed it)
        assert await guard.call("p", "plugin_health", probe, count=False) == "healthy"
        assert probes == ["called"]

    asyncio.run(run())
    guard.shutdown()


def test_one_tenants_hanging_calls_leave_room_for_other_tenants_up_to_the_plugin_cap() -> None:
    # The defaults: 4 calls per plugin and tenant, 8 per plugin across tenants.
    guard = PluginGuard(timeout=0.1, threshold=100, reset_seconds=30)
    release = threading.Event()

    def hang() -> str:
        release.wait(10)
        return "late"

    def quick() -> str:
        return "fine"

    async def run() -> None:
        try:
            for _ in range(4):
                with pytest.raises(PluginCallFailed, match="timed out"):
                    await guard.call("slow", "gate g", hang, tenant_id="a")
            # tenant a's quota is full: its next call is refused at once
            assert guard.in_flight("slow", "a", per_tenant=True) == 4
            with pytest.raises(PluginCallFailed) as refused:
                await guard.call("slow", "gate g", quick, tenant_id="a")
            assert refused.value.kind == "too many calls running"
            # ...while tenant b's call still runs
            assert await guard.call("slow", "gate g", quick, tenant_id="b") == "fine"
            for _ in range(4):
                with pytest.raises(PluginCallFailed, match="timed out"):
                    await guard.call("slow", "gate g", hang, tenant_id="b")
            # 8 calls of the plugin still running: the per-plugin cap refuses a third tenant
            assert guard.in_flight("slow") == 8
            assert guard.in_flight("slow", "b", per_tenant=True) == 4
            assert guard.in_flight("slow", "c", per_tenant=True) == 0
            with pytest.raises(PluginCallFailed) as refused:
                await guard.call("slow", "gate g", quick, tenant_id="c")
            assert refused.value.kind == "too many calls running"
            assert "8 calls still running" in refused.value.reason
            assert guard.in_flight("slow") == 8
            # other plugins are not affected
            assert await guard.call("other", "gate g", quick, tenant_id="c") == "fine"
        finally:
            release.set()
        for _ in range(200):
            if guard.in_flight("slow") == 0:
                break
            await asyncio.sleep(0.02)
        assert guard.in_flight("slow") == 0
        assert guard.in_flight("slow", "a", per_tenant=True) == 0
        assert await guard.call("slow", "gate g", quick, tenant_id="a") == "fine"
        assert await guard.call("slow", "gate g", quick, tenant_id="c") == "fine"

    asyncio.run(run())
    guard.shutdown()


def test_long_running_steps_have_a_lane_of_their_own() -> None:
    # A tenant's four long steps fill what its quick calls would have; they still get room,
    # and steps are limited in their own lane.
    guard = PluginGuard(timeout=5.0, threshold=100, reset_seconds=30, max_steps_per_plugin=4)
    release = asyncio.Event()

    async def step() -> str:
        await release.wait()
        return "done"

    async def quick() -> str:
        return "checked"

    async def run() -> None:
        steps = [asyncio.create_task(guard.call("p", "step", step, tenant_id="t", lane="step")) for _ in range(4)]
        await asyncio.sleep(0.05)
        assert await guard.call("p", "validate config", quick, tenant_id="t") == "checked"
        with pytest.raises(PluginCallFailed) as refused:
            await guard.call("p", "step", step, tenant_id="t", lane="step")
        assert refused.value.kind == "too many calls running"
        release.set()
        assert await asyncio.gather(*steps) == ["done"] * 4

    asyncio.run(run())
    guard.shutdown()
