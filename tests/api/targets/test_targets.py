"""Targets: a target type's config in an environment, bound to an agent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Caller, CallerFactory, assert_error

BASE = "/api/v1/targets"


def environment(caller: Caller, name: str = "production") -> str:
    response = caller.post("/api/v1/environments", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def agent(caller: Caller, name: str = "web-1") -> str:
    body = {"name": name, "hostname": "h", "agentVersion": "0.1.0", "capabilities": ["local"]}
    response = caller.post("/api/v1/agents/register", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["agent"]["id"])


def target_body(env_id: str, name: str = "web-1", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "environmentId": env_id,
        "type": "local",
        "config": {"directory": "/srv/shop", "deployCommand": ["./deploy.sh", "{components.api.version}"]},
        "labels": {"role": "web"},
        **fields,
    }


def test_create_read_replace_delete(admin: Caller) -> None:
    env_id = environment(admin)
    agent_id = agent(admin)
    response = admin.post(BASE, json=target_body(env_id, agentId=agent_id))
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert response.headers["location"] == f"{BASE}/{data['id']}" and response.headers["etag"] == '"1"'
    assert data["type"] == "local" and data["environmentId"] == env_id and data["agentId"] == agent_id
    assert data["health"] == {"status": "unknown", "message": "", "checkedAt": None}
    assert data["problem"] is None and data["config"]["directory"] == "/srv/shop"
    assert admin.get(f"{BASE}/{data['id']}").json()["data"] == data
    replaced = admin.put(
        f"{BASE}/{data['id']}", json=target_body(env_id, agentLabels={"zone": "eu-1"}, version=1)
    ).json()["data"]
    assert replaced["agentId"] is None and replaced["agentLabels"] == {"zone": "eu-1"} and replaced["version"] == 2
    assert_error(admin.put(f"{BASE}/{data['id']}", json=target_body(env_id, version=1)), 409, "VERSION_CONFLICT")
    assert admin.delete(f"{BASE}/{data['id']}").status_code == 204
    assert_error(admin.get(f"{BASE}/{data['id']}"), 404, "NOT_FOUND")
    actions = [e["action"] for e in admin.get("/api/v1/audit-events").json()["data"]]
    assert {"target.create", "target.update", "target.delete"} <= set(actions)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "no-such-type"}, "type"),
        ({"environmentId": "00000000-0000-0000-0000-000000000000"}, "environmentId"),
        ({"agentId": "00000000-0000-0000-0000-000000000000"}, "agentId"),
        ({"agentId": "x", "agentLabels": {"a": "b"}}, "agentLabels"),
        ({"config": {"directory": "relative"}}, "config.directory"),
        ({"config": {}}, "config.directory"),
        ({"name": "Not A Slug"}, "name"),
        ({"labels": {"k": "v" * 200}}, "labels.k"),
    ],
)
def test_a_bad_target_is_a_400_naming_the_field(admin: Caller, change: dict[str, Any], field: str) -> None:
    env_id = environment(admin)
    error = assert_error(admin.post(BASE, json={**target_body(env_id), **change}), 400, "VALIDATION_ERROR")
    assert field in [e["field"] for e in error["validationErrors"]], error
    assert admin.get(BASE).json()["data"] == []


def test_an_environment_with_targets_cannot_be_deleted(admin: Caller) -> None:
    env_id = environment(admin)
    target_id = admin.post(BASE, json=target_body(env_id)).json()["data"]["id"]
    error = assert_error(admin.delete(f"/api/v1/environments/{env_id}"), 409, "RESOURCE_IN_USE")
    assert error["details"] == {"targets": ["web-1"]}
    assert admin.delete(f"{BASE}/{target_id}").status_code == 204
    assert admin.delete(f"/api/v1/environments/{env_id}").status_code == 204


def test_another_tenants_target_environment_and_agent_do_not_resolve(admin: Caller, other_admin: Caller) -> None:
    env_id = environment(admin)
    agent_id = agent(admin)
    target_id = admin.post(BASE, json=target_body(env_id)).json()["data"]["id"]
    assert_error(other_admin.get(f"{BASE}/{target_id}"), 404, "NOT_FOUND")
    assert_error(other_admin.put(f"{BASE}/{target_id}", json=target_body(env_id)), 404, "NOT_FOUND")
    assert_error(other_admin.delete(f"{BASE}/{target_id}"), 404, "NOT_FOUND")
    assert other_admin.get(BASE).json()["data"] == []
    # References into another tenant are 400s naming the field, as unknown ones are.
    error = assert_error(other_admin.post(BASE, json=target_body(env_id)), 400, "VALIDATION_ERROR")
    assert [e["field"] for e in error["validationErrors"]] == ["environmentId"]
    own_env = environment(other_admin)
    error = assert_error(other_admin.post(BASE, json=target_body(own_env, agentId=agent_id)), 400, "VALIDATION_ERROR")
    assert [e["field"] for e in error["validationErrors"]] == ["agentId"]


def test_viewers_read_targets_but_cannot_change_them(admin: Caller, make_caller: CallerFactory) -> None:
    env_id = environment(admin)
    admin.post(BASE, json=target_body(env_id))
    viewer = make_caller(["viewer"])
    assert [t["name"] for t in viewer.get(BASE).json()["data"]] == ["web-1"]
    assert_error(viewer.post(BASE, json=target_body(env_id, name="web-2")), 403, "FORBIDDEN")


def test_lists_sort_filter_and_page(admin: Caller) -> None:
    prod = environment(admin, "production")
    staging = environment(admin, "staging")
    for name, env_id in (("web-1", prod), ("web-2", prod), ("stage-1", staging)):
        assert admin.post(BASE, json=target_body(env_id, name=name)).status_code == 201
    page = admin.get(BASE, params={"sort": "-name", "pageSize": 2}).json()
    assert [t["name"] for t in page["data"]] == ["web-2", "web-1"]
    assert page["meta"]["pagination"]["totalItems"] == 3
    in_staging = admin.get(BASE, params={"filter": f'{{"environmentId": "{staging}"}}'}).json()["data"]
    assert [t["name"] for t in in_staging] == ["stage-1"]
    assert_error(admin.post(BASE, json=target_body(prod, name="web-1")), 409, "ALREADY_EXISTS")


def test_checks_stickers_and_drift_of_another_tenants_target_are_404(admin: Caller, other_admin: Caller) -> None:
    env_id = environment(admin)
    target_id = admin.post(BASE, json=target_body(env_id)).json()["data"]["id"]
    for method, path in [
        ("POST", f"{BASE}/{target_id}/health-check"),
        ("GET", f"{BASE}/{target_id}/sticker"),
        ("GET", f"{BASE}/{target_id}/drift"),
    ]:
        response = other_admin.client.request(method, path, headers={"Authorization": f"Bearer {other_admin.token}"})
        assert_error(response, 404, "NOT_FOUND")


def test_before_any_check_the_sticker_is_null_and_drift_unknown(admin: Caller) -> None:
    env_id = environment(admin)
    target_id = admin.post(BASE, json=target_body(env_id)).json()["data"]["id"]
    assert admin.get(f"{BASE}/{target_id}/sticker").json()["data"] == {
        "targetId": target_id,
        "sticker": None,
        "readAt": None,
    }
    drift = admin.get(f"{BASE}/{target_id}/drift").json()["data"]
    assert drift["status"] == "unknown" and drift["differences"] == []


def test_a_check_with_no_agent_to_run_it_is_409(admin: Caller) -> None:
    env_id = environment(admin)
    target_id = admin.post(BASE, json=target_body(env_id, agentLabels={"zone": "mars"})).json()["data"]["id"]
    error = assert_error(admin.post(f"{BASE}/{target_id}/health-check"), 409, "INVALID_STATE")
    assert error["details"]["agentsWanted"] == {"type": "local", "labels": {"zone": "mars"}}


def test_a_check_of_an_offline_agent_is_accepted_and_runs_when_it_connects(admin: Caller) -> None:
    env_id = environment(admin)
    agent_id = agent(admin)
    target_id = admin.post(BASE, json=target_body(env_id, agentId=agent_id)).json()["data"]["id"]
    response = admin.post(f"{BASE}/{target_id}/health-check", params={"wait": 0})
    assert response.status_code == 202, response.text
    assert response.json()["data"]["state"] == "running" and response.json()["data"]["agentId"] == agent_id
    assert_error(admin.post(f"{BASE}/{target_id}/health-check", params={"wait": 99}), 400, "VALIDATION_ERROR")
