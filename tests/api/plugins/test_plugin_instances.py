"""Plugin instances: CRUD, config validated against the plugin's schema, secrets sealed.

A secret (a ``writeOnly`` property, here acme-registry's ``apiToken``) must never be
readable again: not in any response, not in the database, not in the audit trail,
not in the logs. The secrecy tests search all four for the clear text.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.platform.logging import JsonFormatter
from shiplane.plugins.instances import InstanceService
from shiplane.plugins.service import PluginService

from tests.api.plugins import INSTANCES, audit_events, disable, enable, with_service
from tests.conftest import Caller, CallerFactory, assert_error, run_sql


def new_secret() -> str:
    return f"tok-{uuid.uuid4().hex}"


def registry_body(name: str, token: str, **config: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "the Acme registry",
        "pluginId": "acme",
        "capabilityKind": "integration_type",
        "capabilityId": "acme-registry",
        "config": {"url": "https://registry.acme.example", "apiToken": token, **config},
    }


def wait_step_body(name: str, seconds: int = 5) -> dict[str, Any]:
    return {
        "name": name,
        "pluginId": "builtin",
        "capabilityKind": "step_type",
        "capabilityId": "wait",
        "config": {"seconds": seconds},
    }


def create(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    response = caller.post(INSTANCES, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


@pytest.fixture
def acme_admin(admin: Caller) -> Caller:
    enable(admin, "acme")
    return admin


def stored_secret(client: TestClient, caller: Caller, instance_id: str, field: str = "apiToken") -> Any:
    """The secret as the plugin would be handed it: decrypted through the service."""

    async def work(service: PluginService) -> Any:
        return InstanceService(service).decrypted_config(await InstanceService(service).get_instance(instance_id))[
            field
        ]

    return with_service(client, caller, work)


def database_dump(database_url: str) -> str:
    """Every value of every column of every table, as text."""
    if database_url.startswith("sqlite"):
        tables = [r[0] for r in run_sql(database_url, "SELECT name FROM sqlite_master WHERE type = 'table'")]
        quote = '"{}"'
    else:
        query = "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        query += " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
        tables = [r[0] for r in run_sql(database_url, query)]
        quote = "{}"
    assert "plugin_instances" in " ".join(tables)
    chunks = []
    for table in tables:
        name = quote.format(table) if "." not in table else ".".join(f'"{p}"' for p in table.split("."))
        for row in run_sql(database_url, f"SELECT * FROM {name}"):
            chunks.append(" ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row))
    return "\n".join(chunks)


# -- create / read --------------------------------------------------------------------------------------


def test_create_returns_201_with_etag_location_and_the_secret_masked(acme_admin: Caller) -> None:
    token = new_secret()
    response = acme_admin.post(INSTANCES, json=registry_body("acme-prod", token, timeoutSeconds=5))
    assert response.status_code == 201, response.text
    body = response.json()
    data = body["data"]
    assert body["success"] is True
    assert data["name"] == "acme-prod"
    assert data["description"] == "the Acme registry"
    assert data["pluginId"] == "acme"
    assert data["capabilityKind"] == "integration_type"
    assert data["capabilityId"] == "acme-registry"
    assert data["config"] == {"url": "https://registry.acme.example", "apiToken": "***", "timeoutSeconds": 5}
    assert data["status"] == "active" and data["problem"] is None
    assert data["tenantId"] == acme_admin.tenant_id
    assert data["version"] == 1
    assert data["createdAt"].endswith("Z") and data["updatedAt"].endswith("Z")
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"{INSTANCES}/{data['id']}"
    assert token not in response.text


def test_get_and_list_return_the_secret_masked(acme_admin: Caller, viewer: Caller) -> None:
    token = new_secret()
    created = create(acme_admin, registry_body("acme-prod", token))
    response = viewer.get(f"{INSTANCES}/{created['id']}")
    assert response.status_code == 200
    assert response.json()["data"] == created
    assert response.headers["etag"] == '"1"'
    listed = viewer.get(INSTANCES)
    assert listed.status_code == 200
    assert listed.json()["data"] == [created]
    assert token not in response.text and token not in listed.text


def test_secret_is_stored_encrypted_and_decrypts_for_the_plugin(
    acme_admin: Caller, client: TestClient, database_url: str
) -> None:
    token = new_secret()
    created = create(acme_admin, registry_body("acme-prod", token))
    assert stored_secret(client, acme_admin, created["id"]) == token
    (row,) = run_sql(database_url, "SELECT config FROM plugin_instances WHERE id = :id", {"id": created["id"]})
    config = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    assert config["url"] == "https://registry.acme.example"
    assert set(config["apiToken"]) == {"$encrypted"}
    assert token not in json.dumps(config)


def test_a_nested_secret_stays_masked_once_its_plugin_is_gone(acme_admin: Caller, database_url: str) -> None:
    # Without the plugin there is no schema naming the secret fields: every sealed value,
    # however deep, is shown as ***, never as its sealed blob.
    created = create(acme_admin, registry_body("acme-prod", new_secret()))
    (row,) = run_sql(database_url, "SELECT config FROM plugin_instances WHERE id = :id", {"id": created["id"]})
    config = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    sealed = config["apiToken"]
    moved = {"url": config["url"], "auth": {"token": sealed, "kind": "bearer"}, "mirrors": [sealed]}
    cast = "CAST(:c AS JSON)" if database_url.startswith("postgresql") else ":c"
    run_sql(
        database_url,
        f"UPDATE plugin_instances SET plugin_id = 'gone', capability_id = 'gone-registry', config = {cast}"
        " WHERE id = :id",
        {"c": json.dumps(moved), "id": created["id"]},
    )
    shown = acme_admin.get(f"{INSTANCES}/{created['id']}")
    assert shown.status_code == 200, shown.text
    data = shown.json()["data"]
    assert data["status"] == "unavailable" and data["problem"]["code"] == "PLUGIN_UNAVAILABLE"
    assert data["config"] == {"url": config["url"], "auth": {"token": "***", "kind": "bearer"}, "mirrors": ["***"]}
    assert "$encrypted" not in shown.text and sealed["$encrypted"] not in shown.text
    listed = acme_admin.get(INSTANCES)
    assert "$encrypted" not in listed.text


def test_create_a_builtin_step_instance(admin: Caller) -> None:
    created = create(admin, wait_step_body("pause-5"))
    assert created["pluginId"] == "builtin" and created["config"] == {"seconds": 5}
    assert created["status"] == "active"


# -- validation ---------------------------------------------------------------------------------------------


def test_invalid_config_lists_every_violation(acme_admin: Caller) -> None:
    body = registry_body("acme-bad", "short", timeoutSeconds=600, bogus=True)
    body["config"]["url"] = "ftp://nope"
    error = assert_error(acme_admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    by_field = {e["field"]: e for e in error["validationErrors"]}
    assert set(by_field) == {"config.url", "config.apiToken", "config.timeoutSeconds", "config.bogus"}
    assert by_field["config.url"]["code"] == "pattern"
    assert by_field["config.apiToken"]["code"] == "minLength"
    assert by_field["config.timeoutSeconds"]["code"] == "maximum"
    assert by_field["config.bogus"]["code"] == "additionalProperties"
    # The message about the secret does not quote it.
    assert "short" not in json.dumps(error)
    assert acme_admin.get(INSTANCES).json()["data"] == []


def test_missing_required_config_names_each_field(acme_admin: Caller) -> None:
    body = registry_body("acme-empty", "x")
    body["config"] = {}
    error = assert_error(acme_admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    assert {(e["field"], e["code"]) for e in error["validationErrors"]} == {
        ("config.url", "required"),
        ("config.apiToken", "required"),
    }


def test_wrong_types_in_config_are_each_reported(admin: Caller) -> None:
    body = wait_step_body("pause")
    body["config"] = {"seconds": "five", "unexpected": 1}
    error = assert_error(admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    assert {(e["field"], e["code"]) for e in error["validationErrors"]} == {
        ("config.seconds", "type"),
        ("config.unexpected", "additionalProperties"),
    }


def test_invalid_body_fields_are_each_reported(acme_admin: Caller) -> None:
    body = registry_body("Not A Valid Name", new_secret())
    body["capabilityKind"] = "widget"
    del body["pluginId"]
    error = assert_error(acme_admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    fields = {e["field"] for e in error["validationErrors"]}
    assert {"name", "capabilityKind", "pluginId"} <= fields
    assert body["config"]["apiToken"] not in json.dumps(error)


def test_unknown_capability_is_a_400_naming_the_field(acme_admin: Caller) -> None:
    body = registry_body("acme-x", new_secret())
    body["capabilityId"] = "no-such-type"
    error = assert_error(acme_admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "capabilityId"


def test_unknown_plugin_is_a_400_naming_the_field(acme_admin: Caller) -> None:
    body = registry_body("acme-x", new_secret())
    body["pluginId"] = "no-such-plugin"
    error = assert_error(acme_admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "pluginId"
    assert "no-such-plugin" in error["message"]


def test_capability_of_another_plugin_is_400(acme_admin: Caller) -> None:
    body = registry_body("acme-x", new_secret())
    body["pluginId"] = "builtin"
    error = assert_error(acme_admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "capabilityId"


def test_capability_of_a_failed_plugin_is_a_400(admin: Caller) -> None:
    body = {
        "name": "never",
        "pluginId": "test-old-sdk",
        "capabilityKind": "gate",
        "capabilityId": "never-loaded",
        "config": {},
    }
    error = assert_error(admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "capabilityId"


def test_capability_of_a_disabled_plugin_is_422_plugin_disabled(admin: Caller) -> None:
    error = assert_error(admin.post(INSTANCES, json=registry_body("acme-prod", new_secret())), 422, "PLUGIN_DISABLED")
    assert error["details"] == {
        "pluginId": "acme",
        "capabilityKind": "integration_type",
        "capabilityId": "acme-registry",
    }
    disable(admin, "builtin")
    assert_error(admin.post(INSTANCES, json=wait_step_body("pause")), 422, "PLUGIN_DISABLED")


# -- disabling a plugin in use -------------------------------------------------------------------------------


def test_disabling_the_plugin_marks_its_instances_unavailable_in_this_tenant_only(
    acme_admin: Caller, other_admin: Caller
) -> None:
    mine = create(acme_admin, registry_body("acme-prod", new_secret()))
    enable(other_admin, "acme")
    theirs = create(other_admin, registry_body("acme-prod", new_secret()))

    disable(acme_admin, "acme")
    data = acme_admin.get(f"{INSTANCES}/{mine['id']}").json()["data"]
    assert data["status"] == "unavailable"
    assert data["problem"]["code"] == "PLUGIN_DISABLED"
    assert "acme" in data["problem"]["message"]
    assert data["config"]["apiToken"] == "***"
    assert acme_admin.get(INSTANCES).json()["data"][0]["status"] == "unavailable"

    other = other_admin.get(f"{INSTANCES}/{theirs['id']}").json()["data"]
    assert other["status"] == "active" and other["problem"] is None
    assert other_admin.get(INSTANCES).json()["data"][0]["status"] == "active"

    # Changing it is refused while the plugin is disabled; deleting it is allowed.
    update = {**registry_body("acme-prod", "***"), "version": 1}
    assert_error(acme_admin.put(f"{INSTANCES}/{mine['id']}", json=update), 422, "PLUGIN_DISABLED")

    enable(acme_admin, "acme")
    again = acme_admin.get(f"{INSTANCES}/{mine['id']}").json()["data"]
    assert again["status"] == "active" and again["problem"] is None

    disable(acme_admin, "acme")
    assert acme_admin.delete(f"{INSTANCES}/{mine['id']}").status_code == 204


# -- replace ---------------------------------------------------------------------------------------------


def test_put_with_the_mask_keeps_the_stored_secret(acme_admin: Caller, client: TestClient) -> None:
    token = new_secret()
    created = create(acme_admin, registry_body("acme-prod", token))
    body = registry_body("acme-prod", "***", timeoutSeconds=30)
    body["description"] = "renamed"
    response = acme_admin.put(f"{INSTANCES}/{created['id']}", json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["config"] == {"url": "https://registry.acme.example", "apiToken": "***", "timeoutSeconds": 30}
    assert data["description"] == "renamed"
    assert data["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert stored_secret(client, acme_admin, created["id"]) == token


def test_put_with_a_new_secret_replaces_it(acme_admin: Caller, client: TestClient) -> None:
    old, new = new_secret(), new_secret()
    created = create(acme_admin, registry_body("acme-prod", old))
    response = acme_admin.put(f"{INSTANCES}/{created['id']}", json={**registry_body("acme-prod", new), "version": 1})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["config"]["apiToken"] == "***"
    assert new not in response.text
    assert stored_secret(client, acme_admin, created["id"]) == new


def test_put_with_invalid_config_lists_every_violation_and_changes_nothing(
    acme_admin: Caller, client: TestClient
) -> None:
    token = new_secret()
    created = create(acme_admin, registry_body("acme-prod", token))
    # A new URL needs the secret entered again (it stays with its destination).
    body = registry_body("acme-prod", new_secret(), timeoutSeconds=0)
    body["config"]["url"] = "nope"
    error = assert_error(acme_admin.put(f"{INSTANCES}/{created['id']}", json=body), 400, "VALIDATION_ERROR")
    assert {e["field"] for e in error["validationErrors"]} == {"config.url", "config.timeoutSeconds"}
    kept = registry_body("acme-prod", "***")
    kept["config"]["url"] = "https://elsewhere.example"
    error = assert_error(acme_admin.put(f"{INSTANCES}/{created['id']}", json=kept), 400, "VALIDATION_ERROR")
    assert [(e["field"], e["code"]) for e in error["validationErrors"]] == [("config.apiToken", "secret_required")]
    current = acme_admin.get(f"{INSTANCES}/{created['id']}").json()["data"]
    assert current == created
    assert stored_secret(client, acme_admin, created["id"]) == token


def test_put_stale_version_is_409(acme_admin: Caller) -> None:
    created = create(acme_admin, registry_body("acme-prod", new_secret()))
    path = f"{INSTANCES}/{created['id']}"
    assert acme_admin.put(path, json=registry_body("acme-prod", "***"), headers={"If-Match": '"1"'}).status_code == 200
    stale = acme_admin.put(path, json=registry_body("acme-prod", "***"), headers={"If-Match": '"1"'})
    error = assert_error(stale, 409, "VERSION_CONFLICT")
    assert error["details"] == {"currentVersion": 2, "expectedVersion": 1}
    assert_error(
        acme_admin.put(path, json={**registry_body("acme-prod", "***"), "version": 1}), 409, "VERSION_CONFLICT"
    )
    assert_error(acme_admin.delete(path, headers={"If-Match": '"1"'}), 409, "VERSION_CONFLICT")
    assert acme_admin.get(path).json()["data"]["version"] == 2


def test_duplicate_name_is_409_and_other_tenants_may_reuse_it(acme_admin: Caller, other_admin: Caller) -> None:
    create(acme_admin, registry_body("acme-prod", new_secret()))
    assert_error(acme_admin.post(INSTANCES, json=registry_body("acme-prod", new_secret())), 409, "ALREADY_EXISTS")
    second = create(acme_admin, registry_body("acme-stage", new_secret()))
    rename = acme_admin.put(f"{INSTANCES}/{second['id']}", json=registry_body("acme-prod", "***"))
    assert_error(rename, 409, "ALREADY_EXISTS")
    enable(other_admin, "acme")
    create(other_admin, registry_body("acme-prod", new_secret()))


# -- delete ------------------------------------------------------------------------------------------------------


def test_delete_is_204_then_404(acme_admin: Caller) -> None:
    created = create(acme_admin, registry_body("acme-prod", new_secret()))
    path = f"{INSTANCES}/{created['id']}"
    response = acme_admin.delete(path, headers={"If-Match": '"1"'})
    assert response.status_code == 204
    assert response.content == b""
    assert_error(acme_admin.get(path), 404, "NOT_FOUND")
    assert_error(acme_admin.delete(path), 404, "NOT_FOUND")
    assert_error(acme_admin.put(path, json=registry_body("acme-prod", new_secret())), 404, "NOT_FOUND")
    assert acme_admin.get(INSTANCES).json()["data"] == []
    # The name is free again.
    create(acme_admin, registry_body("acme-prod", new_secret()))


# -- tenancy --------------------------------------------------------------------------------------------------


def test_another_tenants_instance_is_404_and_not_listed(acme_admin: Caller, other_admin: Caller) -> None:
    token = new_secret()
    created = create(acme_admin, registry_body("acme-prod", token))
    path = f"{INSTANCES}/{created['id']}"
    enable(other_admin, "acme")
    assert_error(other_admin.get(path), 404, "NOT_FOUND")
    assert_error(other_admin.put(path, json=registry_body("acme-prod", "***")), 404, "NOT_FOUND")
    assert_error(other_admin.delete(path), 404, "NOT_FOUND")
    assert other_admin.get(INSTANCES).json()["data"] == []
    assert other_admin.get(INSTANCES).json()["meta"]["pagination"]["totalItems"] == 0
    # Nothing changed for the owner.
    assert acme_admin.get(path).json()["data"] == created


# -- authentication and authorisation ---------------------------------------------------------------------------


def test_every_endpoint_requires_a_token(client: TestClient) -> None:
    some = f"{INSTANCES}/{uuid.uuid4()}"
    for method, path in [("GET", INSTANCES), ("POST", INSTANCES), ("GET", some), ("PUT", some), ("DELETE", some)]:
        assert_error(client.request(method, path, json=registry_body("x", "y")), 401, "UNAUTHORIZED")


def test_writes_are_admin_only_and_denials_are_audited(
    acme_admin: Caller, viewer: Caller, make_caller: CallerFactory
) -> None:
    created = create(acme_admin, registry_body("acme-prod", new_secret()))
    path = f"{INSTANCES}/{created['id']}"
    developer = make_caller(["developer"])
    for caller in (viewer, developer):
        assert_error(caller.post(INSTANCES, json=registry_body("acme-2", new_secret())), 403, "FORBIDDEN")
        assert_error(caller.put(path, json=registry_body("acme-prod", "***")), 403, "FORBIDDEN")
        assert_error(caller.delete(path), 403, "FORBIDDEN")
        # Reading is allowed.
        assert caller.get(path).status_code == 200
        assert caller.get(INSTANCES).status_code == 200
    assert acme_admin.get(path).json()["data"] == created
    denied = audit_events(acme_admin, outcome="denied")
    actions = sorted(e["action"] for e in denied if e["actor"]["id"] == viewer.user_id)
    assert actions == ["plugin_instance.create", "plugin_instance.delete", "plugin_instance.update"]


def test_no_read_permission_is_403(make_caller: CallerFactory) -> None:
    outsider = make_caller([], permissions=["environments:read"])
    assert_error(outsider.get(INSTANCES), 403, "FORBIDDEN")
    assert_error(outsider.get(f"{INSTANCES}/{uuid.uuid4()}"), 403, "FORBIDDEN")


# -- lists ---------------------------------------------------------------------------------------------------------


def test_list_sorts_and_filters(acme_admin: Caller) -> None:
    for name in ("bravo", "alpha", "charlie"):
        create(acme_admin, registry_body(name, new_secret()))
    create(acme_admin, wait_step_body("delta"))

    def names(**params: Any) -> list[str]:
        response = acme_admin.get(INSTANCES, params=params)
        assert response.status_code == 200, response.text
        return [i["name"] for i in response.json()["data"]]

    assert names() == ["alpha", "bravo", "charlie", "delta"]
    assert names(sort="-name") == ["delta", "charlie", "bravo", "alpha"]
    assert names(sort="pluginId,-name") == ["charlie", "bravo", "alpha", "delta"]
    assert names(filter=json.dumps({"name": "bravo"})) == ["bravo"]
    assert names(filter=json.dumps({"pluginId": "builtin"})) == ["delta"]
    assert names(filter=json.dumps({"pluginId": "acme"})) == ["alpha", "bravo", "charlie"]
    assert names(filter=json.dumps({"name": {"$in": ["alpha", "delta"]}})) == ["alpha", "delta"]
    assert names(filter=json.dumps({"capabilityKind": "step_type"})) == ["delta"]
    assert names(filter=json.dumps({"$or": [{"name": "alpha"}, {"capabilityId": "wait"}]})) == ["alpha", "delta"]

    body = acme_admin.get(INSTANCES, params={"pageSize": 3, "page": 2}).json()
    assert [i["name"] for i in body["data"]] == ["delta"]
    assert body["meta"]["pagination"] == {
        "page": 2,
        "pageSize": 3,
        "totalItems": 4,
        "totalPages": 2,
        "hasNext": False,
        "hasPrevious": True,
        "nextCursor": None,
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"filter": '{"config": "x"}'}, "INVALID_FILTER"),
        ({"filter": '{"apiToken": "x"}'}, "INVALID_FILTER"),
        ({"filter": "{not json"}, "INVALID_FILTER"),
        ({"filter": '{"name": {"$regex": "a"}}'}, "INVALID_FILTER"),
        ({"sort": "config"}, "INVALID_SORT"),
        ({"sort": "name,name"}, "INVALID_SORT"),
        ({"pageSize": 101}, "VALIDATION_ERROR"),
        ({"page": 0}, "VALIDATION_ERROR"),
    ],
)
def test_list_rejects_invalid_params(viewer: Caller, params: dict, code: str) -> None:
    assert_error(viewer.get(INSTANCES, params=params), 400, code)


# -- audit ------------------------------------------------------------------------------------------------------------


def test_create_update_delete_are_audited_with_masked_config(acme_admin: Caller) -> None:
    token = new_secret()
    created = create(acme_admin, registry_body("acme-prod", token))
    path = f"{INSTANCES}/{created['id']}"
    acme_admin.put(path, json=registry_body("acme-prod", "***", timeoutSeconds=9))
    acme_admin.delete(path)
    events = audit_events(acme_admin, resourceType="plugin_instance")
    by_action = {e["action"]: e for e in events}
    assert set(by_action) == {"plugin_instance.create", "plugin_instance.update", "plugin_instance.delete"}
    assert all(e["resourceId"] == created["id"] and e["outcome"] == "success" for e in events)
    assert by_action["plugin_instance.create"]["changes"]["after"]["config"]["apiToken"] == "***"
    update = by_action["plugin_instance.update"]["changes"]
    assert update["before"]["config"].get("timeoutSeconds") is None
    assert update["after"]["config"]["timeoutSeconds"] == 9
    assert by_action["plugin_instance.delete"]["changes"]["before"]["name"] == "acme-prod"
    assert token not in json.dumps(events)


# -- the secret never appears in clear ------------------------------------------------------------------------------


def test_the_secret_never_appears_in_responses_database_audit_or_logs(
    make_caller: CallerFactory,
    other_admin: Caller,
    client: TestClient,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = make_caller(["admin"])
    first, second = new_secret(), new_secret()
    too_short = "Zq9x#k2"  # under minLength: rejected, and the rejection must not quote it
    responses = []

    def keep(response: Any) -> Any:
        responses.append(response)
        return response

    enable(admin, "acme")
    created = keep(admin.post(INSTANCES, json=registry_body("acme-prod", first), headers={"Idempotency-Key": "k-1"}))
    assert created.status_code == 201, created.text
    instance_id = created.json()["data"]["id"]
    path = f"{INSTANCES}/{instance_id}"
    replay = keep(admin.post(INSTANCES, json=registry_body("acme-prod", first), headers={"Idempotency-Key": "k-1"}))
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    reuse = keep(admin.post(INSTANCES, json=registry_body("acme-prod", second), headers={"Idempotency-Key": "k-1"}))
    assert reuse.status_code == 422
    keep(admin.get(path))
    keep(admin.get(INSTANCES))
    keep(admin.post(INSTANCES, json={**registry_body("acme-bad", too_short), "name": "Bad Name"}))
    bad = keep(admin.post(INSTANCES, json=registry_body("acme-bad", too_short)))
    assert bad.status_code == 400
    assert keep(admin.put(path, json=registry_body("acme-prod", "***", timeoutSeconds=3))).status_code == 200
    assert keep(admin.put(path, json=registry_body("acme-prod", second))).status_code == 200
    bad_put = keep(admin.put(path, json={**registry_body("acme-prod", first), "config": {"apiToken": first}}))
    assert bad_put.status_code == 400
    assert keep(other_admin.get(path)).status_code == 404
    disable(admin, "acme")
    keep(admin.get(path))
    assert keep(admin.put(path, json=registry_body("acme-prod", first))).status_code == 422
    enable(admin, "acme")
    audit = keep(admin.get("/api/v1/audit-events", params={"pageSize": 100}))
    assert stored_secret(client, admin, instance_id) == second

    secrets = [first, second, too_short]
    # Responses.
    for response in responses:
        for secret in secrets:
            assert secret not in response.text, (response.request.method, response.request.url, response.text)
            assert secret not in str(response.headers)
    # Audit, through the API and in the table.
    assert any(e["resourceId"] == instance_id for e in audit.json()["data"])
    raw_audit = run_sql(database_url, "SELECT changes FROM audit_events WHERE tenant_id = :t", {"t": admin.tenant_id})
    assert len(raw_audit) >= 5
    for secret in secrets:
        assert secret not in audit.text
        assert all(secret not in str(row[0]) for row in raw_audit)
    # Every column of every table.
    dump = database_dump(database_url)
    assert instance_id in dump and "$encrypted" in dump  # the search does see the rows
    for secret in secrets:
        assert secret not in dump
    # The log output, formatted as the server formats it (with every extra field).
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any("plugin-instances" in line for line in lines)  # requests were logged
    for secret in secrets:
        assert not [line for line in lines if secret in line]
    assert all(secret not in caplog.text for secret in secrets)
