"""GET /integration-types, /step-types, /rollout-strategies: what the registry holds for the tenant."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.plugins import BUILTIN_STRATEGIES, disable, enable
from tests.conftest import Caller, assert_error

API = "/api/v1"
LISTS = ("integration-types", "step-types", "rollout-strategies")


def listing(caller: Caller, path: str) -> list[dict]:
    response = caller.get(f"{API}/{path}", params={"pageSize": 100})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def ids(caller: Caller, path: str) -> list[str]:
    return [item["id"] for item in listing(caller, path)]


FIRST_PARTY_TYPES = ["git", "oci-registry", "smtp", "webhook"]
BUILTIN_STEPS = ["approval", "deploy", "gate", "health-check", "http", "manual", "notify", "script", "wait"]


def test_defaults_show_the_builtin_capabilities_only(viewer: Caller) -> None:
    assert ids(viewer, "rollout-strategies") == BUILTIN_STRATEGIES
    assert ids(viewer, "step-types") == BUILTIN_STEPS
    # The first-party integration types; acme's is hidden until acme is enabled.
    assert ids(viewer, "integration-types") == FIRST_PARTY_TYPES


def test_items_carry_plugin_id_kind_and_config_schema(viewer: Caller) -> None:
    for strategy in listing(viewer, "rollout-strategies"):
        assert strategy["pluginId"] == "builtin"
        assert strategy["kind"] == "rollout_strategy"
        assert strategy["displayName"] and strategy["description"]
        assert strategy["configSchema"]["type"] == "object"
    canary = next(s for s in listing(viewer, "rollout-strategies") if s["id"] == "canary")
    assert canary["configSchema"]["properties"]["steps"]["type"] == "array"
    wait = next(s for s in listing(viewer, "step-types") if s["id"] == "wait")
    assert wait["pluginId"] == "builtin"
    assert wait["kind"] == "step_type"
    assert wait["idempotent"] is True
    assert wait["configSchema"]["required"] == ["seconds"]


def test_acme_capabilities_appear_once_enabled(admin: Caller) -> None:
    enable(admin, "acme")
    assert ids(admin, "step-types") == sorted(["checksum", *BUILTIN_STEPS])
    assert ids(admin, "integration-types") == sorted(["acme-registry", *FIRST_PARTY_TYPES])
    registry = next(t for t in listing(admin, "integration-types") if t["id"] == "acme-registry")
    assert registry["pluginId"] == "acme"
    assert registry["category"] == "registry"
    assert registry["configSchema"]["properties"]["apiToken"]["writeOnly"] is True
    assert ids(admin, "rollout-strategies") == BUILTIN_STRATEGIES  # acme has none

    response = admin.get(f"{API}/integration-types/acme-registry")
    assert response.status_code == 200
    assert response.json()["data"] == registry
    step = admin.get(f"{API}/step-types/checksum").json()["data"]
    assert step["pluginId"] == "acme" and step["configSchema"]["required"] == ["text"]


def test_single_items_of_a_disabled_plugin_are_404(viewer: Caller) -> None:
    assert_error(viewer.get(f"{API}/integration-types/acme-registry"), 404, "NOT_FOUND")
    assert_error(viewer.get(f"{API}/step-types/checksum"), 404, "NOT_FOUND")


def test_step_type_detail(viewer: Caller) -> None:
    response = viewer.get(f"{API}/step-types/wait")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == "wait" and data["pluginId"] == "builtin"
    assert data["configSchema"]["properties"]["seconds"]["maximum"] == 86400


def test_unknown_items_are_404(viewer: Caller) -> None:
    assert_error(viewer.get(f"{API}/integration-types/no-such-type"), 404, "NOT_FOUND")
    assert_error(viewer.get(f"{API}/step-types/no-such-step"), 404, "NOT_FOUND")
    # A capability of a plugin that failed to load is not there either.
    assert_error(viewer.get(f"{API}/step-types/never-loaded"), 404, "NOT_FOUND")


def test_capabilities_of_misbehaving_plugins_appear_only_when_enabled(admin: Caller) -> None:
    assert "raising-step" not in ids(admin, "step-types")
    enable(admin, "test-raising")
    assert ids(admin, "step-types") == sorted(["raising-step", *BUILTIN_STEPS])
    assert admin.get(f"{API}/step-types/raising-step").json()["data"]["pluginId"] == "test-raising"


def test_disabling_builtin_empties_the_listings_of_this_tenant_only(admin: Caller, other_admin: Caller) -> None:
    disable(admin, "builtin")
    assert ids(admin, "rollout-strategies") == []
    assert ids(admin, "step-types") == []
    assert_error(admin.get(f"{API}/step-types/wait"), 404, "NOT_FOUND")
    # The other tenant still sees them.
    assert ids(other_admin, "rollout-strategies") == BUILTIN_STRATEGIES
    assert ids(other_admin, "step-types") == BUILTIN_STEPS
    assert other_admin.get(f"{API}/step-types/wait").status_code == 200
    # Enabling it again brings them back.
    enable(admin, "builtin")
    assert ids(admin, "rollout-strategies") == BUILTIN_STRATEGIES
    assert admin.get(f"{API}/step-types/wait").status_code == 200


def test_disabling_acme_removes_its_capabilities_for_this_tenant_only(admin: Caller, other_admin: Caller) -> None:
    enable(admin, "acme")
    enable(other_admin, "acme")
    disable(admin, "acme")
    assert ids(admin, "integration-types") == FIRST_PARTY_TYPES
    assert ids(admin, "step-types") == BUILTIN_STEPS
    assert_error(admin.get(f"{API}/integration-types/acme-registry"), 404, "NOT_FOUND")
    assert_error(admin.get(f"{API}/step-types/checksum"), 404, "NOT_FOUND")
    assert ids(other_admin, "integration-types") == sorted(["acme-registry", *FIRST_PARTY_TYPES])
    assert ids(other_admin, "step-types") == sorted(["checksum", *BUILTIN_STEPS])
    assert other_admin.get(f"{API}/step-types/checksum").status_code == 200


def test_rollout_strategies_have_no_single_item_route(viewer: Caller) -> None:
    response = viewer.get(f"{API}/rollout-strategies/canary")
    assert response.status_code in (404, 405)
    assert response.json()["success"] is False


def test_pagination_meta(viewer: Caller) -> None:
    body = viewer.get(f"{API}/rollout-strategies", params={"pageSize": 2, "page": 3}).json()
    assert [s["id"] for s in body["data"]] == BUILTIN_STRATEGIES[4:]
    assert body["meta"]["pagination"] == {
        "page": 3,
        "pageSize": 2,
        "totalItems": 5,
        "totalPages": 3,
        "hasNext": False,
        "hasPrevious": True,
        "nextCursor": None,
    }
    default = viewer.get(f"{API}/step-types").json()["meta"]["pagination"]
    assert default == {
        "page": 1,
        "pageSize": 20,
        "totalItems": len(BUILTIN_STEPS),
        "totalPages": 1,
        "hasNext": False,
        "hasPrevious": False,
        "nextCursor": None,
    }


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"sort": "id"}, "INVALID_SORT"),
        ({"sort": "-displayName"}, "INVALID_SORT"),
        ({"filter": '{"id": "wait"}'}, "INVALID_FILTER"),
        ({"filter": "{bad json"}, "INVALID_FILTER"),
        ({"pageSize": 0}, "VALIDATION_ERROR"),
        ({"pageSize": 101}, "VALIDATION_ERROR"),
        ({"page": -1}, "VALIDATION_ERROR"),
    ],
)
def test_sort_filter_and_bad_paging_are_400(viewer: Caller, path: str, params: dict, code: str) -> None:
    assert_error(viewer.get(f"{API}/{path}", params=params), 400, code)


@pytest.mark.parametrize(
    "path",
    [
        "integration-types",
        "integration-types/acme-registry",
        "step-types",
        "step-types/wait",
        "rollout-strategies",
    ],
)
def test_listings_require_a_token(client: TestClient, path: str) -> None:
    assert_error(client.get(f"{API}/{path}"), 401, "UNAUTHORIZED")


def test_listings_require_the_read_permission_of_their_module(make_caller) -> None:  # type: ignore[no-untyped-def]
    outsider = make_caller([], permissions=["plugins:read"])
    for path in LISTS:
        assert_error(outsider.get(f"{API}/{path}"), 403, "FORBIDDEN")
    reader = make_caller([], permissions=["integrations:read", "workflows:read", "ab-releases:read"])
    for path in LISTS:
        assert reader.get(f"{API}/{path}").status_code == 200
