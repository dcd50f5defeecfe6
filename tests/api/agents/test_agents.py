"""Agents: registration with a registration token, the agent's own credential, heartbeats,
status, updates and revocation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.plugins import app_client, caller_for
from tests.conftest import Caller, CallerFactory, assert_error, run_sql

BASE = "/api/v1/agents"


def registration(name: str = "web-1", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "hostname": f"{name}.example.internal",
        "agentVersion": "0.1.0",
        "capabilities": ["local"],
        "labels": {"zone": "eu-1"},
        **fields,
    }


def register(registrar: Caller, name: str = "web-1", **fields: Any) -> tuple[dict[str, Any], Caller]:
    response = registrar.post(f"{BASE}/register", json=registration(name, **fields))
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    agent = Caller(registrar.client, data["credential"], registrar.tenant_id, data["agent"]["id"])
    return data, agent


@pytest.fixture
def registrar(make_caller: CallerFactory) -> Caller:
    return make_caller(["agent-registrar"])


def test_registration_returns_the_agent_and_its_credential_once(registrar: Caller, admin: Caller) -> None:
    data, agent = register(registrar)
    assert data["credential"].startswith(f"shpa.{data['agent']['id']}.")
    assert data["heartbeatSeconds"] == 10
    shown = data["agent"]
    assert shown["name"] == "web-1" and shown["status"] == "offline" and shown["lastHeartbeatAt"] is None
    assert shown["capabilities"] == ["local"] and shown["labels"] == {"zone": "eu-1"}
    assert shown["registeredBy"] == registrar.user_id
    # Never again: not in reads, not in the audit trail or its event.
    read = admin.get(f"{BASE}/{shown['id']}").json()["data"]
    assert read == {**shown, "updatedAt": read["updatedAt"]}
    trail = admin.get("/api/v1/audit-events", params={"filter": '{"action": "agent.register"}'}).text
    assert data["credential"].split(".")[2] not in trail
    secret = data["credential"].split(".")[2]
    stored = run_sql(registrar.client.app.state.shiplane.settings.database_url, "SELECT credential_hash FROM agents")  # type: ignore[attr-defined]
    assert all(secret not in row[0] for row in stored)


def test_a_heartbeat_makes_the_agent_online(registrar: Caller, admin: Caller) -> None:
    data, agent = register(registrar)
    response = agent.post(f"{BASE}/{agent.user_id}/heartbeat", json={"agentVersion": "0.1.1"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"status": "online", "heartbeatSeconds": 10}
    shown = admin.get(f"{BASE}/{agent.user_id}").json()["data"]
    assert shown["status"] == "online" and shown["agentVersion"] == "0.1.1" and shown["lastHeartbeatAt"]
    # Heartbeats are not changes an admin's If-Match must race against.
    assert shown["version"] == 1
    assert agent.post(f"{BASE}/{agent.user_id}/heartbeat", json={}).status_code == 200
    assert admin.put(f"{BASE}/{agent.user_id}", json={"draining": True, "version": 1}).status_code == 200


def test_an_agent_without_heartbeats_goes_offline(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path, agent_liveness_seconds=0.2) as client:
        admin = caller_for(client, ["admin"])
        _, agent = register(admin)
        assert agent.post(f"{BASE}/{agent.user_id}/heartbeat", json={}).json()["data"]["status"] == "online"
        while admin.get(f"{BASE}/{agent.user_id}").json()["data"]["status"] == "online":
            time.sleep(0.05)  # the liveness window passes; nothing asserts how long it took
        assert admin.get(f"{BASE}/{agent.user_id}").json()["data"]["status"] == "offline"


def test_draining_and_disabled_are_set_by_an_admin(registrar: Caller, admin: Caller) -> None:
    data, agent = register(registrar)
    agent.post(f"{BASE}/{agent.user_id}/heartbeat", json={})
    changed = admin.put(f"{BASE}/{agent.user_id}", json={"labels": {"zone": "eu-2"}, "draining": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["status"] == "draining" and changed.json()["data"]["labels"] == {"zone": "eu-2"}
    disabled = admin.put(f"{BASE}/{agent.user_id}", json={"disabled": True, "draining": True}).json()["data"]
    assert disabled["status"] == "disabled"
    stale = admin.put(f"{BASE}/{agent.user_id}", json={"disabled": False, "version": 1})
    assert_error(stale, 409, "VERSION_CONFLICT")


def test_an_agent_credential_reaches_only_its_own_endpoints(registrar: Caller, admin: Caller) -> None:
    _, first = register(registrar, "web-1")
    _, second = register(registrar, "web-2")
    # Another agent's heartbeat: 403.
    assert_error(first.post(f"{BASE}/{second.user_id}/heartbeat", json={}), 403, "FORBIDDEN")
    # Everything else: 403 as well.
    for method, path in [
        ("GET", BASE),
        ("GET", f"{BASE}/{first.user_id}"),
        ("PUT", f"{BASE}/{first.user_id}"),
        ("DELETE", f"{BASE}/{first.user_id}"),
        ("POST", f"{BASE}/register"),
        ("GET", "/api/v1/environments"),
        ("POST", "/api/v1/environments"),
        ("GET", "/api/v1/plugins"),
        ("GET", "/api/v1/audit-events"),
    ]:
        response = first.client.request(method, path, json={}, headers={"Authorization": f"Bearer {first.token}"})
        assert_error(response, 403, "FORBIDDEN")
    # An admin's token cannot pose as the agent either.
    assert_error(admin.post(f"{BASE}/{first.user_id}/heartbeat", json={}), 403, "FORBIDDEN")


def test_a_registration_token_can_only_register(registrar: Caller) -> None:
    for method, path in [("GET", BASE), ("GET", "/api/v1/environments"), ("POST", "/api/v1/environments")]:
        response = registrar.client.request(
            method, path, json={}, headers={"Authorization": f"Bearer {registrar.token}"}
        )
        assert_error(response, 403, "FORBIDDEN")
    data, agent = register(registrar)
    assert_error(registrar.post(f"{BASE}/{agent.user_id}/heartbeat", json={}), 403, "FORBIDDEN")


def test_deleting_an_agent_revokes_its_credential(registrar: Caller, admin: Caller) -> None:
    _, agent = register(registrar)
    assert agent.post(f"{BASE}/{agent.user_id}/heartbeat", json={}).status_code == 200
    assert admin.delete(f"{BASE}/{agent.user_id}").status_code == 204
    assert_error(agent.post(f"{BASE}/{agent.user_id}/heartbeat", json={}), 401, "UNAUTHORIZED")
    assert_error(admin.get(f"{BASE}/{agent.user_id}"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "credential",
    ["shpa.", "shpa.x", "shpa.00000000-0000-0000-0000-000000000000.nope", "shpa." + "a" * 40 + ".b", "shpa.a.b.c"],
)
def test_a_forged_or_malformed_credential_is_401(client: TestClient, credential: str) -> None:
    response = client.get(BASE, headers={"Authorization": f"Bearer {credential}"})
    assert_error(response, 401, "UNAUTHORIZED")


def test_a_credential_with_the_right_id_and_a_wrong_secret_is_401(registrar: Caller) -> None:
    _, agent = register(registrar)
    forged = Caller(agent.client, f"shpa.{agent.user_id}.{'x' * 43}", agent.tenant_id, agent.user_id)
    assert_error(forged.post(f"{BASE}/{agent.user_id}/heartbeat", json={}), 401, "UNAUTHORIZED")


def test_names_are_unique_per_tenant_and_lists_are_paged(
    registrar: Caller, admin: Caller, make_caller: CallerFactory
) -> None:
    register(registrar, "web-1")
    register(registrar, "web-2")
    assert_error(registrar.post(f"{BASE}/register", json=registration("web-1")), 409, "ALREADY_EXISTS")
    page = admin.get(BASE, params={"pageSize": 1, "sort": "-name"}).json()
    assert [a["name"] for a in page["data"]] == ["web-2"] and page["meta"]["pagination"]["totalItems"] == 2


def test_another_tenants_agent_is_404(registrar: Caller, other_admin: Caller) -> None:
    _, agent = register(registrar)
    assert_error(other_admin.get(f"{BASE}/{agent.user_id}"), 404, "NOT_FOUND")
    assert_error(other_admin.put(f"{BASE}/{agent.user_id}", json={}), 404, "NOT_FOUND")
    assert_error(other_admin.delete(f"{BASE}/{agent.user_id}"), 404, "NOT_FOUND")
    assert other_admin.get(BASE).json()["data"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Web 1"}, "name"),
        ({"hostname": ""}, "hostname"),
        ({"labels": {"bad key!": "x"}}, "labels.bad key!.[key]"),
        ({"capabilities": ["x"] * 101}, "capabilities"),
        ({"agentVersion": 1}, "agentVersion"),
    ],
)
def test_a_bad_registration_is_a_400_naming_the_field(registrar: Caller, change: dict[str, Any], field: str) -> None:
    error = assert_error(registrar.post(f"{BASE}/register", json=registration(**change)), 400, "VALIDATION_ERROR")
    assert field in [e["field"] for e in error["validationErrors"]], error


def test_the_allow_header_of_register_names_its_own_operation(admin: Caller) -> None:
    # /agents/register also matches /agents/{agent_id}; its operations are the literal path's.
    response = admin.client.options(f"{BASE}/register", headers={"Authorization": f"Bearer {admin.token}"})
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    response = admin.client.patch(f"{BASE}/some-id", headers={"Authorization": f"Bearer {admin.token}"})
    assert response.status_code == 405 and response.headers["allow"] == "DELETE, GET, PUT"
