"""GET /plugins, GET /plugins/{id}, enable/disable per tenant, and GET /plugins/{id}/health."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import shiplane_sdk
from shiplane.plugins.gates import CoreGateContext, evaluate_gate
from shiplane.plugins.service import PluginService
from shiplane_sdk import GateResult

from tests.api.plugins import (
    BUILTIN_STRATEGIES,
    CAPABILITY_KEYS,
    FAILED_PLUGINS,
    PLUGINS,
    app_client,
    audit_events,
    caller_for,
    disable,
    enable,
    plugins_by_id,
    states,
    with_service,
)
from tests.conftest import Caller, assert_error

INSTALLED = {
    "builtin",
    "acme",
    "test-broken-import",
    "test-old-sdk",
    "test-misspelled",
    "test-raising",
    "test-hanging",
    "test-events",
    "test-raising-register",
    "test-exiting",
}

# -- listing ---------------------------------------------------------------------------------------


def test_list_shows_every_installed_plugin_sorted_by_id(viewer: Caller) -> None:
    response = viewer.get(PLUGINS, params={"pageSize": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    ids = [p["id"] for p in body["data"]]
    assert INSTALLED <= set(ids)
    assert ids == sorted(ids)
    for plugin in body["data"]:
        assert set(plugin["capabilities"]) == CAPABILITY_KEYS
        assert plugin["state"] in ("enabled", "disabled", "failed")
    assert body["meta"]["pagination"]["totalItems"] == len(ids)


def test_builtin_is_first_party_and_enabled_by_default(viewer: Caller) -> None:
    builtin = plugins_by_id(viewer)["builtin"]
    assert builtin["name"] == "Shiplane built-ins"
    assert builtin["version"] == "0.1.0"
    assert builtin["vendor"] == "Shiplane"
    assert builtin["distribution"] == "shiplane-plugin-builtin"
    assert builtin["firstParty"] is True
    assert builtin["state"] == "enabled"
    assert builtin["loadError"] is None
    assert builtin["health"] == "ok"
    assert builtin["capabilities"] == {
        "integrationTypes": [],
        "stepTypes": ["approval", "deploy", "gate", "health-check", "http", "manual", "notify", "script", "wait"],
        "gates": ["approval", "freeze-window", "pipeline-order", "policy", "release-not-deprecated"],
        "rolloutStrategies": BUILTIN_STRATEGIES,
        "targetTypes": ["local"],
        "trafficRouters": [],
    }


def test_vendor_plugin_is_listed_disabled_until_enabled(viewer: Caller) -> None:
    acme = plugins_by_id(viewer)["acme"]
    assert acme["name"] == "Acme"
    assert acme["version"] == "1.2.0"
    assert acme["vendor"] == "Acme Corp"
    assert acme["homepage"] == "https://acme.example/shiplane"
    assert acme["distribution"] == "acme-shiplane-plugin"
    assert acme["sdkRequires"] == ">=0.1,<1"
    assert acme["firstParty"] is False
    assert acme["state"] == "disabled"
    assert acme["loadError"] is None
    assert acme["capabilities"] == {
        "integrationTypes": ["acme-registry"],
        "stepTypes": ["checksum"],
        "gates": ["change-ticket"],
        "rolloutStrategies": [],
        "targetTypes": [],
        "trafficRouters": [],
    }


def test_the_misbehaving_but_loadable_test_plugins_are_disabled(viewer: Caller) -> None:
    plugins = plugins_by_id(viewer)
    assert plugins["test-raising"]["state"] == "disabled"
    assert plugins["test-raising"]["capabilities"]["gates"] == ["raising-gate"]
    assert plugins["test-raising"]["capabilities"]["stepTypes"] == ["raising-step"]
    hanging_gates = ["hanging-async-gate", "hanging-gate", "slow-config-gate"]
    assert plugins["test-hanging"]["capabilities"]["gates"] == hanging_gates
    assert plugins["test-events"]["state"] == "disabled"


def test_plugin_with_an_import_error_is_failed_and_says_why(viewer: Caller) -> None:
    plugin = plugins_by_id(viewer)["test-broken-import"]
    assert plugin["state"] == "failed"
    assert plugin["health"] == "failed"
    assert "ModuleNotFoundError" in plugin["loadError"]
    assert "shiplane_test_plugins_missing_dependency" in plugin["loadError"]
    assert all(items == [] for items in plugin["capabilities"].values())


def test_plugin_with_an_incompatible_sdk_range_is_failed_and_names_the_range(viewer: Caller) -> None:
    plugin = plugins_by_id(viewer)["test-old-sdk"]
    assert plugin["state"] == "failed"
    assert "incompatible SDK" in plugin["loadError"]
    assert ">=2.0,<3" in plugin["loadError"]
    assert shiplane_sdk.__version__ in plugin["loadError"]
    assert plugin["sdkRequires"] == ">=2.0,<3"
    # Its gate was never registered.
    assert plugin["capabilities"]["gates"] == []


def test_plugin_with_a_misspelled_hook_is_failed_and_names_the_hook(viewer: Caller) -> None:
    plugin = plugins_by_id(viewer)["test-misspelled"]
    assert plugin["state"] == "failed"
    assert "register_gatez" in plugin["loadError"]


def test_plugin_whose_registration_hook_raises_is_failed_with_nothing_registered(viewer: Caller) -> None:
    plugin = plugins_by_id(viewer)["test-raising-register"]
    assert plugin["state"] == "failed"
    assert "register_step_types" in plugin["loadError"] and "cannot build step types" in plugin["loadError"]
    # the gate its other hook returned is not registered either
    assert plugin["capabilities"]["gates"] == []
    assert "orphan-gate" not in [g["id"] for g in viewer.get("/api/v1/step-types").json()["data"]]


def test_list_pagination(viewer: Caller) -> None:
    everything = [p["id"] for p in viewer.get(PLUGINS, params={"pageSize": 100}).json()["data"]]
    default = viewer.get(PLUGINS).json()["meta"]["pagination"]
    assert default["page"] == 1 and default["pageSize"] == 20
    seen: list[str] = []
    page = 1
    while True:
        body = viewer.get(PLUGINS, params={"page": page, "pageSize": 3}).json()
        meta = body["meta"]["pagination"]
        assert meta["page"] == page and meta["pageSize"] == 3
        assert meta["totalItems"] == len(everything)
        assert meta["totalPages"] == -(-len(everything) // 3)
        assert meta["hasPrevious"] is (page > 1)
        assert len(body["data"]) <= 3
        seen += [p["id"] for p in body["data"]]
        if not meta["hasNext"]:
            break
        page += 1
    assert seen == everything
    beyond = viewer.get(PLUGINS, params={"page": page + 1, "pageSize": 3}).json()
    assert beyond["data"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"pageSize": 0}, "VALIDATION_ERROR"),
        ({"pageSize": 101}, "VALIDATION_ERROR"),
        ({"page": 0}, "VALIDATION_ERROR"),
        ({"page": "x"}, "VALIDATION_ERROR"),
        ({"sort": "name"}, "INVALID_SORT"),
        ({"filter": '{"state":"enabled"}'}, "INVALID_FILTER"),
    ],
)
def test_list_rejects_bad_list_params(viewer: Caller, params: dict, code: str) -> None:
    assert_error(viewer.get(PLUGINS, params=params), 400, code)


def test_get_plugin_describes_each_capability_with_its_schema(viewer: Caller) -> None:
    response = viewer.get(f"{PLUGINS}/acme")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == "acme" and data["state"] == "disabled" and data["version"] == "1.2.0"
    caps = data["capabilities"]
    assert set(caps) == CAPABILITY_KEYS
    (registry,) = caps["integrationTypes"]
    assert registry["id"] == "acme-registry"
    assert registry["kind"] == "integration_type"
    assert registry["category"] == "registry"
    assert registry["displayName"] == "Acme artifact registry"
    assert registry["configSchema"]["required"] == ["url", "apiToken"]
    assert registry["configSchema"]["properties"]["apiToken"]["writeOnly"] is True
    (gate,) = caps["gates"]
    assert gate["id"] == "change-ticket" and gate["kind"] == "gate"
    assert gate["description"].startswith("Passes only when")
    assert gate["configSchema"]["properties"]["pattern"]["type"] == "string"
    (step,) = caps["stepTypes"]
    assert step["id"] == "checksum" and step["idempotent"] is True
    assert step["configSchema"]["required"] == ["text"]


def test_get_builtin_lists_its_strategies_with_schemas(viewer: Caller) -> None:
    data = viewer.get(f"{PLUGINS}/builtin").json()["data"]
    assert data["state"] == "enabled"
    strategies = data["capabilities"]["rolloutStrategies"]
    assert sorted(s["id"] for s in strategies) == BUILTIN_STRATEGIES
    assert all(s["kind"] == "rollout_strategy" and "configSchema" in s for s in strategies)


def test_get_failed_plugin_shows_its_load_error(viewer: Caller) -> None:
    data = viewer.get(f"{PLUGINS}/test-old-sdk").json()["data"]
    assert data["state"] == "failed"
    assert "incompatible SDK" in data["loadError"]
    assert all(items == [] for items in data["capabilities"].values())


def test_unknown_plugin_is_404(viewer: Caller, admin: Caller) -> None:
    error = assert_error(viewer.get(f"{PLUGINS}/no-such-plugin"), 404, "NOT_FOUND")
    assert "no-such-plugin" in error["message"]
    assert_error(viewer.get(f"{PLUGINS}/no-such-plugin/health"), 404, "NOT_FOUND")
    assert_error(admin.post(f"{PLUGINS}/no-such-plugin/enable"), 404, "NOT_FOUND")
    assert_error(admin.post(f"{PLUGINS}/no-such-plugin/disable"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", PLUGINS),
        ("GET", f"{PLUGINS}/acme"),
        ("GET", f"{PLUGINS}/acme/health"),
        ("POST", f"{PLUGINS}/acme/enable"),
        ("POST", f"{PLUGINS}/acme/disable"),
    ],
)
def test_every_plugin_endpoint_requires_a_token(client, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    assert_error(client.request(method, path), 401, "UNAUTHORIZED")
    bad = client.request(method, path, headers={"Authorization": "Bearer not-a-jwt"})
    assert_error(bad, 401, "UNAUTHORIZED")


# -- enable / disable ----------------------------------------------------------------------------------


def test_enable_returns_the_plugin_enabled_for_this_tenant(admin: Caller) -> None:
    response = admin.post(f"{PLUGINS}/acme/enable")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == "acme" and data["state"] == "enabled"
    assert data["capabilities"]["gates"][0]["id"] == "change-ticket"
    assert states(admin)["acme"] == "enabled"
    assert admin.get(f"{PLUGINS}/acme").json()["data"]["state"] == "enabled"
    assert admin.get(f"{PLUGINS}/acme/health").json()["data"]["state"] == "enabled"


def test_enable_and_disable_are_repeatable(admin: Caller) -> None:
    enable(admin, "acme")
    enable(admin, "acme")
    disable(admin, "acme")
    disable(admin, "acme")
    enable(admin, "acme")
    assert states(admin)["acme"] == "enabled"


def test_enabling_acme_in_one_tenant_changes_nothing_in_another(admin: Caller, other_admin: Caller) -> None:
    before_other = states(other_admin)
    enable(admin, "acme")
    assert states(admin)["acme"] == "enabled"
    assert states(other_admin) == before_other
    assert states(other_admin)["acme"] == "disabled"
    assert other_admin.get(f"{PLUGINS}/acme").json()["data"]["state"] == "disabled"


def test_disabling_builtin_in_one_tenant_changes_nothing_in_another(admin: Caller, other_admin: Caller) -> None:
    disable(admin, "builtin")
    assert states(admin)["builtin"] == "disabled"
    assert states(other_admin)["builtin"] == "enabled"
    assert other_admin.get(f"{PLUGINS}/builtin").json()["data"]["state"] == "enabled"
    # And the other way round: the second tenant's own decision does not leak back.
    enable(other_admin, "acme")
    disable(other_admin, "acme")
    enable(admin, "builtin")
    assert states(admin)["acme"] == "disabled"
    assert states(admin)["builtin"] == "enabled"
    assert states(other_admin)["acme"] == "disabled"


def test_enable_and_disable_are_admin_only(viewer: Caller, make_caller) -> None:  # type: ignore[no-untyped-def]
    developer = make_caller(["developer"])
    for caller in (viewer, developer):
        assert_error(caller.post(f"{PLUGINS}/acme/enable"), 403, "FORBIDDEN")
        assert_error(caller.post(f"{PLUGINS}/builtin/disable"), 403, "FORBIDDEN")
    assert states(viewer)["acme"] == "disabled"
    assert states(viewer)["builtin"] == "enabled"


def test_plugins_admin_permission_alone_is_enough(make_caller) -> None:  # type: ignore[no-untyped-def]
    operator = make_caller([], permissions=["plugins:admin", "plugins:read"])
    enable(operator, "acme")
    assert states(operator)["acme"] == "enabled"


def test_enable_and_disable_are_audited_with_before_and_after(admin: Caller) -> None:
    enabled = admin.post(f"{PLUGINS}/acme/enable")
    disabled = admin.post(f"{PLUGINS}/acme/disable")
    builtin_off = admin.post(f"{PLUGINS}/builtin/disable")
    events = audit_events(admin, resourceType="plugin")
    by_request = {e["requestId"]: e for e in events}

    enable_event = by_request[enabled.headers["x-request-id"]]
    assert enable_event["action"] == "plugin.enable"
    assert enable_event["resourceId"] == "acme"
    assert enable_event["outcome"] == "success"
    assert enable_event["actor"] == {"type": "user", "id": admin.user_id}
    assert enable_event["changes"]["before"] == {"state": "disabled"}
    assert enable_event["changes"]["after"] == {"state": "enabled"}

    disable_event = by_request[disabled.headers["x-request-id"]]
    assert disable_event["action"] == "plugin.disable"
    assert disable_event["changes"] == {"before": {"state": "enabled"}, "after": {"state": "disabled"}}
    assert disable_event["sequence"] == enable_event["sequence"] + 1

    builtin_event = by_request[builtin_off.headers["x-request-id"]]
    assert builtin_event["action"] == "plugin.disable" and builtin_event["resourceId"] == "builtin"
    assert builtin_event["changes"] == {"before": {"state": "enabled"}, "after": {"state": "disabled"}}


def test_denied_attempt_is_audited_as_denied(admin: Caller, viewer: Caller) -> None:
    response = viewer.post(f"{PLUGINS}/acme/enable")
    assert_error(response, 403, "FORBIDDEN")
    denied = [e for e in audit_events(admin, outcome="denied") if e["requestId"] == response.headers["x-request-id"]]
    assert len(denied) == 1
    event = denied[0]
    assert event["action"] == "plugin.enable"
    assert event["resourceType"] == "plugin" and event["resourceId"] == "acme"
    assert event["actor"]["id"] == viewer.user_id
    assert event["changes"]["details"]["missingPermission"] == "plugins:admin"
    # No success event came with it.
    assert audit_events(admin, action="plugin.enable", outcome="success") == []


def test_audit_is_per_tenant(admin: Caller, other_admin: Caller) -> None:
    enable(admin, "acme")
    assert audit_events(other_admin, resourceType="plugin") == []


@pytest.mark.parametrize("plugin_id", FAILED_PLUGINS)
def test_enabling_a_failed_plugin_is_409_invalid_state(admin: Caller, plugin_id: str) -> None:
    error = assert_error(admin.post(f"{PLUGINS}/{plugin_id}/enable"), 409, "INVALID_STATE")
    assert plugin_id in error["message"]
    assert error["details"]["state"] == "failed"
    assert error["details"]["loadError"]
    assert states(admin)[plugin_id] == "failed"
    assert audit_events(admin, action="plugin.enable", outcome="success") == []


# -- health -------------------------------------------------------------------------------------------


def test_health_of_a_plugin_without_its_own_check(viewer: Caller) -> None:
    response = viewer.get(f"{PLUGINS}/builtin/health")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["pluginId"] == "builtin"
    assert data["status"] == "ok"
    assert data["loadState"] == "loaded" and data["loadError"] is None
    assert data["state"] == "enabled"
    assert data["pluginHealth"] is None
    assert data["breaker"]["state"] == "closed"
    assert data["checkedAt"].endswith("Z")


def test_health_includes_the_plugins_own_plugin_health(viewer: Caller) -> None:
    data = viewer.get(f"{PLUGINS}/acme/health").json()["data"]
    assert data["status"] == "ok"
    assert data["state"] == "disabled"  # health is readable whether or not the tenant enabled it
    assert data["pluginHealth"] == {"status": "ok", "message": "all good", "details": {}}
    assert data["breaker"]["state"] == "closed"
    assert data["breaker"]["consecutiveFailures"] == 0


@pytest.mark.parametrize("plugin_id", FAILED_PLUGINS)
def test_health_of_a_failed_plugin_is_failed_with_its_load_error(viewer: Caller, plugin_id: str) -> None:
    data = viewer.get(f"{PLUGINS}/{plugin_id}/health").json()["data"]
    assert data["status"] == "failed"
    assert data["loadState"] == "failed"
    assert data["state"] == "failed"
    assert data["loadError"] == plugins_by_id(viewer)[plugin_id]["loadError"]
    assert data["pluginHealth"] is None


def test_health_of_a_raising_plugin_is_failing_with_the_error(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path) as client:
        caller = caller_for(client, ["viewer"])
        data = caller.get(f"{PLUGINS}/test-raising/health").json()["data"]
        assert data["status"] == "failing"
        assert data["loadState"] == "loaded"
        assert data["pluginHealth"]["status"] == "failing"
        assert "RuntimeError: health check exploded" in data["pluginHealth"]["message"]
        # A health probe, which any tenant may make, does not count against the breaker.
        assert data["breaker"]["state"] == "closed"
        assert data["breaker"]["consecutiveFailures"] == 0
        assert data["breaker"]["lastError"] is None
        # The list shows the same health as the health endpoint.
        assert plugins_by_id(caller)["test-raising"]["health"] == "failing"


def test_health_of_a_hanging_plugin_times_out(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path, plugin_call_timeout_seconds=0.3) as client:
        caller = caller_for(client, ["viewer"])
        response = caller.get(f"{PLUGINS}/test-hanging/health")
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["status"] == "failing"
        assert "timed out" in data["pluginHealth"]["message"]
        # The server is still serving.
        assert caller.get("/api/v1/environments").status_code == 200
        assert caller.get(f"{PLUGINS}/acme/health").json()["data"]["status"] == "ok"


def test_repeated_failures_open_the_breaker_and_report_degraded(database_url: str, tmp_path: Path) -> None:
    threshold = 3
    overrides = {"plugin_breaker_threshold": threshold, "plugin_breaker_reset_seconds": 3600}
    with app_client(database_url, tmp_path, **overrides) as client:
        admin = caller_for(client)
        viewer = caller_for(client, ["viewer"], tenant_id=admin.tenant_id)
        enable(admin, "test-raising")
        ctx = CoreGateContext(admin.tenant_id, {"id": "r"}, {"id": "e"}, None, datetime.now(UTC))

        def evaluate() -> GateResult:
            async def work(service: PluginService) -> GateResult:
                return (await evaluate_gate(service, "raising-gate", ctx, {}))[0]

            return with_service(client, admin, work)

        for attempt in range(1, threshold):
            assert "gate exploded" in evaluate().message
            breaker = viewer.get(f"{PLUGINS}/test-raising/health").json()["data"]["breaker"]
            assert breaker["state"] == "closed" and breaker["consecutiveFailures"] == attempt
            # shared by every tenant: the kind of failure, never the plugin's own words
            assert breaker["lastError"] == "gate raising-gate: RuntimeError"
        evaluate()
        tripping = viewer.get(f"{PLUGINS}/test-raising/health").json()["data"]
        assert tripping["breaker"]["state"] == "open"
        assert tripping["breaker"]["consecutiveFailures"] == threshold
        assert tripping["status"] == "degraded"
        assert plugins_by_id(viewer)["test-raising"]["health"] == "degraded"

        # Further calls fail fast without reaching the plugin, and still block.
        blocked = evaluate()
        assert blocked.status == "fail" and "circuit open" in blocked.message
        after = viewer.get(f"{PLUGINS}/test-raising/health").json()["data"]["breaker"]
        assert after["totalCalls"] == tripping["breaker"]["totalCalls"]
        assert after["totalFailures"] == tripping["breaker"]["totalFailures"]

        # Other plugins and the rest of the server are unaffected.
        assert viewer.get(f"{PLUGINS}/acme/health").json()["data"]["status"] == "ok"
        assert plugins_by_id(viewer)["acme"]["health"] == "ok"
        assert viewer.get("/api/v1/environments").status_code == 200
