"""Integrations: instances of integration types, their secrets, and the calls to the system."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.plugins import disable, enable
from tests.conftest import Caller, CallerFactory, assert_error, run_sql

BASE = "/api/v1/integrations"
TOKEN = "s3cr3t-registry-token"


def body(name: str = "registry", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "typeId": "acme-registry",
        "config": {"url": "https://registry.acme.example", "apiToken": TOKEN},
        **fields,
    }


@pytest.fixture
def admin_acme(admin: Caller) -> Caller:
    enable(admin, "acme")
    return admin


def test_create_read_replace_delete_with_the_secret_kept_and_never_shown(admin_acme: Caller) -> None:
    admin = admin_acme
    created = admin.post(BASE, json=body())
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["config"] == {"url": "https://registry.acme.example", "apiToken": "***"}
    assert data["status"] == "active" and data["health"]["status"] == "unknown"
    assert TOKEN not in created.text and TOKEN not in admin.get(f"{BASE}/{data['id']}").text
    # "***" keeps the stored secret while the destination stays the same...
    kept = admin.put(
        f"{BASE}/{data['id']}", json={**body(description="ours"), "config": {**body()["config"], "apiToken": "***"}}
    )
    assert kept.status_code == 200, kept.text
    assert admin.post(f"{BASE}/{data['id']}/test").json()["data"]["ok"] is True
    # ...but not to a new one.
    moved = {"url": "https://evil.example", "apiToken": "***"}
    error = assert_error(admin.put(f"{BASE}/{data['id']}", json={**body(), "config": moved}), 400, "VALIDATION_ERROR")
    assert [e["field"] for e in error["validationErrors"]] == ["config.apiToken"]
    trail = admin.get("/api/v1/audit-events").text
    assert TOKEN not in trail
    assert admin.delete(f"{BASE}/{data['id']}").status_code == 204
    assert_error(admin.get(f"{BASE}/{data['id']}"), 404, "NOT_FOUND")


def test_test_answers_200_with_the_result_and_records_health(admin_acme: Caller) -> None:
    integration = admin_acme.post(BASE, json=body()).json()["data"]
    result = admin_acme.post(f"{BASE}/{integration['id']}/test")
    assert result.status_code == 200, result.text
    data = result.json()["data"]
    assert data["ok"] is True and data["message"] == "configured for https://registry.acme.example"
    assert data["latencyMs"] >= 0 and data["details"] == {}
    health = admin_acme.get(f"{BASE}/{integration['id']}/health").json()["data"]
    assert health["current"]["status"] == "ok"
    assert health["lastKnown"]["status"] == "ok" and health["lastKnown"]["checkedAt"]
    shown = admin_acme.get(f"{BASE}/{integration['id']}").json()["data"]
    assert shown["health"]["status"] == "ok" and shown["version"] == 1  # a check is not an edit


def test_discover_of_a_type_without_it_is_409(admin_acme: Caller) -> None:
    integration = admin_acme.post(BASE, json=body()).json()["data"]
    error = assert_error(admin_acme.post(f"{BASE}/{integration['id']}/discover", json={}), 409, "INVALID_STATE")
    assert "does not support discover" in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"typeId": "no-such-type"}, "typeId"),
        ({"config": {"url": "ftp://x", "apiToken": TOKEN}}, "config.url"),
        ({"config": {"url": "https://x"}}, "config.apiToken"),
        ({"name": "Not A Slug"}, "name"),
    ],
)
def test_a_bad_integration_is_a_400_naming_the_field(admin_acme: Caller, change: dict[str, Any], field: str) -> None:
    error = assert_error(admin_acme.post(BASE, json={**body(), **change}), 400, "VALIDATION_ERROR")
    assert field in [e["field"] for e in error["validationErrors"]], error


def test_a_disabled_plugins_integrations_report_it_and_refuse_use(admin_acme: Caller) -> None:
    integration = admin_acme.post(BASE, json=body()).json()["data"]
    disable(admin_acme, "acme")
    shown = admin_acme.get(f"{BASE}/{integration['id']}").json()["data"]
    assert shown["status"] == "unavailable" and shown["problem"]["code"] == "PLUGIN_DISABLED"
    assert_error(admin_acme.post(f"{BASE}/{integration['id']}/test"), 422, "PLUGIN_DISABLED")
    assert_error(admin_acme.post(BASE, json=body("other")), 422, "PLUGIN_DISABLED")


def test_a_nested_secret_stays_masked_once_its_type_is_gone(admin_acme: Caller, database_url: str) -> None:
    # No installed type names the secret fields: every sealed value, however deep, is ***.
    integration = admin_acme.post(BASE, json=body()).json()["data"]
    (row,) = run_sql(database_url, "SELECT config FROM integrations WHERE id = :id", {"id": integration["id"]})
    config = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    sealed = config["apiToken"]
    assert set(sealed) == {"$encrypted"}
    moved = {"url": config["url"], "auth": {"token": sealed}, "mirrors": [sealed]}
    cast = "CAST(:c AS JSON)" if database_url.startswith("postgresql") else ":c"
    run_sql(
        database_url,
        f"UPDATE integrations SET type_id = 'gone-registry', config = {cast} WHERE id = :id",
        {"c": json.dumps(moved), "id": integration["id"]},
    )
    shown = admin_acme.get(f"{BASE}/{integration['id']}")
    data = shown.json()["data"]
    assert data["problem"]["code"] == "CAPABILITY_MISSING"
    assert data["config"] == {"url": config["url"], "auth": {"token": "***"}, "mirrors": ["***"]}
    assert "$encrypted" not in shown.text and "$encrypted" not in admin_acme.get(BASE).text


def test_another_tenants_integration_is_404(admin_acme: Caller, other_admin: Caller) -> None:
    integration = admin_acme.post(BASE, json=body()).json()["data"]
    enable(other_admin, "acme")
    for method, path in [
        ("GET", f"{BASE}/{integration['id']}"),
        ("PUT", f"{BASE}/{integration['id']}"),
        ("DELETE", f"{BASE}/{integration['id']}"),
        ("POST", f"{BASE}/{integration['id']}/test"),
        ("POST", f"{BASE}/{integration['id']}/discover"),
        ("GET", f"{BASE}/{integration['id']}/health"),
    ]:
        response = other_admin.client.request(
            method,
            path,
            json=body() if method == "PUT" else None,
            headers={"Authorization": f"Bearer {other_admin.token}"},
        )
        assert_error(response, 404, "NOT_FOUND")
    assert other_admin.get(BASE).json()["data"] == []


def test_viewers_read_but_cannot_change_or_test(admin_acme: Caller, make_caller: CallerFactory) -> None:
    integration = admin_acme.post(BASE, json=body()).json()["data"]
    viewer = make_caller(["viewer"])
    assert [i["name"] for i in viewer.get(BASE).json()["data"]] == ["registry"]
    assert_error(viewer.post(BASE, json=body("x")), 403, "FORBIDDEN")
    assert_error(viewer.post(f"{BASE}/{integration['id']}/test"), 403, "FORBIDDEN")
