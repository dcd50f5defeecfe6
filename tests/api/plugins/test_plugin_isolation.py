"""Misbehaving plugins cannot take the server down: gates fail closed, events fail open.

Gates and events are driven through the app's real registry and guard with a
``PluginService`` (no mocks): the app here is built with a short call timeout so the
hanging test plugin times out quickly, and a high breaker threshold so repeated
failures across these tests never open a breaker unless a test means to.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shiplane_test_plugins.events as recorder
from fastapi.testclient import TestClient
from shiplane.plugins.delivery import dispatch_event
from shiplane.plugins.gates import CoreGateContext, evaluate_gate
from shiplane.plugins.service import PluginService
from shiplane_sdk import Event, GateResult

from tests.api.plugins import PLUGINS, app_client, caller_for, disable, enable, with_service
from tests.conftest import Caller

TIMEOUT = 0.3


@pytest.fixture(scope="module")
def guarded(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    overrides = {"plugin_call_timeout_seconds": TIMEOUT, "plugin_breaker_threshold": 1000}
    with app_client(database_url, tmp_path_factory.mktemp("isolation"), **overrides) as client:
        yield client


@pytest.fixture
def tenant_admin(guarded: TestClient) -> Caller:
    return caller_for(guarded, ["admin"])


def gate_context(
    caller: Caller, *, reason: str = "", release_state: str = "active", promotion: bool = True
) -> CoreGateContext:
    return CoreGateContext(
        tenant_id=caller.tenant_id,
        release={"id": "rel-1", "name": "shop-1.4.0", "state": release_state, "components": []},
        environment={"id": "env-1", "name": "production", "isProduction": True},
        promotion={"id": "promo-1", "reason": reason} if promotion else None,
        now=datetime.now(UTC),
    )


def evaluate(
    client: TestClient, caller: Caller, gate_id: str, ctx: CoreGateContext, config: dict[str, Any] | None = None
) -> tuple[GateResult, list[str]]:
    async def work(service: PluginService) -> tuple[GateResult, list[str]]:
        return await evaluate_gate(service, gate_id, ctx, config or {})

    return with_service(client, caller, work)


# -- gates fail closed ---------------------------------------------------------------------------------


def test_a_gate_that_raises_blocks_and_names_the_plugin_and_error(guarded: TestClient, tenant_admin: Caller) -> None:
    enable(tenant_admin, "test-raising")
    result, _lines = evaluate(guarded, tenant_admin, "raising-gate", gate_context(tenant_admin))
    assert result.status == "fail"
    assert "test-raising" in result.message
    assert "RuntimeError" in result.message and "gate exploded" in result.message
    assert result.details["gate"] == "raising-gate"
    assert result.details["plugin"] == "test-raising"
    assert result.details["error"] == "RuntimeError: gate exploded"


@pytest.mark.parametrize("gate_id", ["hanging-gate", "hanging-async-gate"])
def test_a_gate_that_hangs_blocks_with_timed_out(guarded: TestClient, tenant_admin: Caller, gate_id: str) -> None:
    enable(tenant_admin, "test-hanging")
    # The previous case's timeout killed a worker: let its replacement start, so the
    # 0.3 s limit meets the gate's evaluation, not the config check waiting for a worker.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runtime = tenant_admin.get("/api/v1/plugins/test-hanging").json()["data"]["runtime"]
        if any(not worker["busy"] for worker in runtime.get("workers", [])):
            break
        time.sleep(0.05)
    result, _lines = evaluate(guarded, tenant_admin, gate_id, gate_context(tenant_admin))
    assert result.status == "fail"
    assert "timed out" in result.message
    assert result.details["plugin"] == "test-hanging"
    assert "timed out" in result.details["error"]
    # And the server answers as before.
    assert tenant_admin.get("/api/v1/environments").status_code == 200


def test_a_gate_of_a_plugin_disabled_for_the_tenant_blocks(guarded: TestClient, tenant_admin: Caller) -> None:
    ctx = gate_context(tenant_admin, reason="deploying CHG-1234")
    # acme starts disabled: its gate is unavailable, so it fails rather than passing.
    result, _ = evaluate(guarded, tenant_admin, "change-ticket", ctx)
    assert result.status == "fail"
    assert "unavailable" in result.message and "disabled" in result.message
    assert result.details["gate"] == "change-ticket"
    # The same gate passes once enabled, and blocks again once disabled.
    enable(tenant_admin, "acme")
    assert evaluate(guarded, tenant_admin, "change-ticket", ctx)[0].status == "pass"
    disable(tenant_admin, "acme")
    assert evaluate(guarded, tenant_admin, "change-ticket", ctx)[0].status == "fail"
    # Disabling a first-party plugin takes its gates away as well.
    disable(tenant_admin, "builtin")
    assert evaluate(guarded, tenant_admin, "release-not-deprecated", ctx)[0].status == "fail"


def test_a_gate_disabled_in_one_tenant_still_works_in_another(guarded: TestClient) -> None:
    first, second = caller_for(guarded), caller_for(guarded)
    enable(first, "acme")
    enable(second, "acme")
    disable(first, "acme")
    assert evaluate(guarded, first, "change-ticket", gate_context(first, reason="CHG-1"))[0].status == "fail"
    assert evaluate(guarded, second, "change-ticket", gate_context(second, reason="CHG-1"))[0].status == "pass"


def test_an_unknown_gate_blocks(guarded: TestClient, tenant_admin: Caller) -> None:
    result, _ = evaluate(guarded, tenant_admin, "no-such-gate", gate_context(tenant_admin))
    assert result.status == "fail"
    assert "no-such-gate" in result.message


def test_a_gate_of_a_plugin_that_failed_to_load_blocks(guarded: TestClient, tenant_admin: Caller) -> None:
    # test-old-sdk's gate was never registered.
    result, _ = evaluate(guarded, tenant_admin, "never-loaded", gate_context(tenant_admin))
    assert result.status == "fail"


def test_change_ticket_passes_with_a_ticket_and_fails_without(guarded: TestClient, tenant_admin: Caller) -> None:
    enable(tenant_admin, "acme")
    passed, _ = evaluate(guarded, tenant_admin, "change-ticket", gate_context(tenant_admin, reason="fix, see CHG-4711"))
    assert passed.status == "pass"
    assert passed.details["ticket"] == "CHG-4711"
    failed, _ = evaluate(guarded, tenant_admin, "change-ticket", gate_context(tenant_admin, reason="just ship it"))
    assert failed.status == "fail"
    assert failed.details["ticket"] is None
    custom, _ = evaluate(
        guarded, tenant_admin, "change-ticket", gate_context(tenant_admin, reason="JIRA-7"), {"pattern": r"JIRA-\d+"}
    )
    assert custom.status == "pass"


def test_a_gate_with_an_invalid_config_blocks(guarded: TestClient, tenant_admin: Caller) -> None:
    enable(tenant_admin, "acme")
    ctx = gate_context(tenant_admin, reason="CHG-1")
    result, _ = evaluate(guarded, tenant_admin, "change-ticket", ctx, {"pattern": "", "extra": 1})
    assert result.status == "fail"
    fields = {e["field"] for e in result.details["configErrors"]}
    assert fields == {"pattern", "extra"}


def test_release_not_deprecated(guarded: TestClient, tenant_admin: Caller) -> None:
    deprecated, _ = evaluate(
        guarded, tenant_admin, "release-not-deprecated", gate_context(tenant_admin, release_state="deprecated")
    )
    assert deprecated.status == "fail"
    assert deprecated.details == {"releaseId": "rel-1", "releaseState": "deprecated"}
    fine, _ = evaluate(guarded, tenant_admin, "release-not-deprecated", gate_context(tenant_admin))
    assert fine.status == "pass"


# -- the breaker -----------------------------------------------------------------------------------------


def test_an_open_breaker_blocks_gates_at_once(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugin_breaker_threshold": 2, "plugin_breaker_reset_seconds": 3600}
    with app_client(database_url, tmp_path, **overrides) as client:
        caller = caller_for(client)
        enable(caller, "test-raising")
        ctx = gate_context(caller)
        for _ in range(2):
            result, _ = evaluate(client, caller, "raising-gate", ctx)
            assert result.status == "fail" and "gate exploded" in result.message
        breaker = client.app.state.shiplane.plugins.guard.breaker("test-raising", caller.tenant_id)  # type: ignore[attr-defined]
        calls = breaker.total_calls
        result, _ = evaluate(client, caller, "raising-gate", ctx)
        assert result.status == "fail"
        assert "circuit open" in result.message
        assert breaker.total_calls == calls  # the plugin was not called
        health = caller.get(f"{PLUGINS}/test-raising/health").json()["data"]
        assert health["status"] == "degraded"
        assert health["breaker"]["state"] == "open"
        # Another plugin's gate is unaffected.
        enable(caller, "acme")
        assert evaluate(client, caller, "change-ticket", gate_context(caller, reason="CHG-9"))[0].status == "pass"


def test_after_the_reset_time_one_trial_call_goes_through(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugin_breaker_threshold": 1, "plugin_breaker_reset_seconds": 0.2}
    with app_client(database_url, tmp_path, **overrides) as client:
        caller = caller_for(client)
        enable(caller, "test-raising")
        breaker = client.app.state.shiplane.plugins.guard.breaker("test-raising", caller.tenant_id)  # type: ignore[attr-defined]
        evaluate(client, caller, "raising-gate", gate_context(caller))
        assert breaker.state == "open"
        time.sleep(0.5)
        calls = breaker.total_calls
        result, _ = evaluate(client, caller, "raising-gate", gate_context(caller))
        # The trial reached the plugin, failed, and reopened the breaker.
        assert breaker.total_calls == calls + 1
        assert "gate exploded" in result.message
        assert breaker.state == "open"


# -- events fail open --------------------------------------------------------------------------------------


def test_events_fail_open_delivery_goes_on_past_a_failing_plugin(guarded: TestClient, tenant_admin: Caller) -> None:
    enable(tenant_admin, "test-raising")
    enable(tenant_admin, "test-events")
    registry = guarded.app.state.shiplane.plugins  # type: ignore[attr-defined]
    enabled = with_service(guarded, tenant_admin, lambda service: service.enabled_plugin_ids())
    assert {"test-raising", "test-events", "builtin"} <= enabled
    event = Event(
        id=str(uuid.uuid4()),
        type="release.created",
        tenant_id=tenant_admin.tenant_id,
        occurred_at=datetime.now(UTC),
        resource_type="release",
        resource_id="rel-1",
        data={"name": "shop-1.4.0"},
    )
    failures_before = registry.guard.breaker("test-raising", tenant_admin.tenant_id).total_failures

    async def dispatch() -> list[str]:
        return await dispatch_event(registry, enabled, event)

    assert guarded.portal is not None
    failed = guarded.portal.call(dispatch)
    assert failed == ["test-raising"]
    assert [e.id for e in recorder.RECEIVED if e.id == event.id] == [event.id]
    breaker = registry.guard.breaker("test-raising", tenant_admin.tenant_id)
    assert breaker.total_failures == failures_before + 1
    assert breaker.last_error == "on_event: RuntimeError"  # the kind, not the text (shared by tenants)


def test_events_go_only_to_plugins_enabled_for_the_tenant(guarded: TestClient, tenant_admin: Caller) -> None:
    # test-events is not enabled in this tenant: it must not see the tenant's events.
    registry = guarded.app.state.shiplane.plugins  # type: ignore[attr-defined]
    enabled = with_service(guarded, tenant_admin, lambda service: service.enabled_plugin_ids())
    assert "test-events" not in enabled
    event = Event(
        id=str(uuid.uuid4()),
        type="release.created",
        tenant_id=tenant_admin.tenant_id,
        occurred_at=datetime.now(UTC),
        resource_type="release",
        resource_id="rel-2",
    )

    async def dispatch() -> list[str]:
        return await dispatch_event(registry, enabled, event)

    assert guarded.portal is not None
    assert guarded.portal.call(dispatch) == []
    assert all(e.id != event.id for e in recorder.RECEIVED)


# -- the server keeps serving ---------------------------------------------------------------------------


def test_server_serves_other_requests_while_a_plugin_call_hangs(database_url: str, tmp_path: Path) -> None:
    # Long enough that the hanging health check is surely still in flight while the
    # other request is answered, short enough to end inside test-hanging's own sleep.
    with app_client(database_url, tmp_path, plugin_call_timeout_seconds=2.0) as client:
        caller = caller_for(client)
        breaker = client.app.state.shiplane.plugins.guard.breaker("test-hanging")  # type: ignore[attr-defined]
        calls = breaker.total_calls
        with ThreadPoolExecutor(max_workers=1) as pool:
            hanging = pool.submit(caller.get, f"{PLUGINS}/test-hanging/health")
            deadline = time.monotonic() + 10
            while breaker.total_calls == calls and time.monotonic() < deadline:
                time.sleep(0.01)
            assert breaker.total_calls == calls + 1, "the hanging health check never started"
            assert caller.get("/api/v1/environments").status_code == 200
            assert caller.get(f"{PLUGINS}/acme/health").json()["data"]["status"] == "ok"
            # The hanging call had not finished when those were answered.
            assert not hanging.done()
            assert breaker.last_error is None
            response = hanging.result(timeout=30)
        data = response.json()["data"]
        assert data["status"] == "failing"
        assert "timed out" in data["pluginHealth"]["message"]


def test_one_tenants_failing_gates_open_the_breaker_for_that_tenant_only(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugin_breaker_threshold": 2, "plugin_breaker_reset_seconds": 60}
    with app_client(database_url, tmp_path, **overrides) as client:
        noisy, quiet = caller_for(client), caller_for(client)
        for caller in (noisy, quiet):
            enable(caller, "test-raising")
        for _ in range(3):
            evaluate(client, noisy, "raising-gate", gate_context(noisy))
        guard = client.app.state.shiplane.plugins.guard  # type: ignore[attr-defined]
        assert guard.breaker("test-raising", noisy.tenant_id).state == "open"
        # The other tenant still reaches the plugin (its gate runs and fails on its own),
        # and sees the plugin healthy.
        result, _ = evaluate(client, quiet, "raising-gate", gate_context(quiet))
        assert "circuit open" not in result.message and "gate exploded" in result.message
        listed = {p["id"]: p for p in quiet.get(PLUGINS).json()["data"]}
        assert listed["test-raising"]["health"] != "degraded"
        noisy_view = {p["id"]: p for p in noisy.get(PLUGINS).json()["data"]}
        assert noisy_view["test-raising"]["health"] == "degraded"
