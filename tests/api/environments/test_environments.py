"""Environments: every status code of the spec that applies, tenancy, audit."""

from __future__ import annotations

import json

from tests.conftest import Caller, CallerFactory, assert_error

BASE = "/api/v1/environments"


def create(caller: Caller, name: str, **fields: object) -> dict:
    response = caller.post(BASE, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_create_returns_201_with_envelope_etag_and_location(admin: Caller) -> None:
    response = admin.post(BASE, json={"name": "staging", "displayName": "Staging", "order": 2, "isProduction": False})
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["name"] == "staging" and data["displayName"] == "Staging" and data["order"] == 2
    assert data["tenantId"] == admin.tenant_id and data["version"] == 1
    assert data["createdAt"].endswith("Z") and len(data["createdAt"]) == 24
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"{BASE}/{data['id']}"
    assert body["meta"]["requestId"] == response.headers["x-request-id"]


def test_defaults_display_name_and_order_after_the_last(admin: Caller) -> None:
    create(admin, "dev", order=5)
    data = create(admin, "qa")
    assert data["displayName"] == "qa"
    assert data["order"] == 6
    assert data["requiredPredecessors"] is None
    assert data["gates"] == []


def test_get_returns_the_environment(admin: Caller) -> None:
    env = create(admin, "dev")
    response = admin.get(f"{BASE}/{env['id']}")
    assert response.status_code == 200
    assert response.json()["data"] == env
    assert response.headers["etag"] == '"1"'


def test_duplicate_name_is_409_already_exists(admin: Caller) -> None:
    create(admin, "prod")
    assert_error(admin.post(BASE, json={"name": "prod"}), 409, "ALREADY_EXISTS")


def test_same_name_in_another_tenant_is_fine(admin: Caller, other_admin: Caller) -> None:
    create(admin, "prod")
    create(other_admin, "prod")


def test_invalid_body_lists_every_violation_with_dotted_paths(admin: Caller) -> None:
    response = admin.post(
        BASE,
        json={"name": "Not A Slug", "order": -1, "isProduction": "maybe", "gates": [{"config": {}}], "extra": 1},
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    fields = {e["field"] for e in error["validationErrors"]}
    assert {"name", "order", "isProduction", "gates.0.type", "extra"} <= fields
    for item in error["validationErrors"]:
        assert item["message"] and item["code"]


def test_missing_body_and_malformed_json_are_400(admin: Caller) -> None:
    assert_error(admin.post(BASE), 400, "VALIDATION_ERROR")
    response = admin.post(BASE, content=b'{"name": ', headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["code"] == "json_invalid"


def test_required_predecessors_are_checked(admin: Caller) -> None:
    dev = create(admin, "dev")
    qa = create(admin, "qa", requiredPredecessors=[dev["id"]])
    assert qa["requiredPredecessors"] == [dev["id"]]
    error = assert_error(
        admin.post(BASE, json={"name": "x", "requiredPredecessors": ["nope"]}), 400, "VALIDATION_ERROR"
    )
    assert error["validationErrors"][0]["field"] == "requiredPredecessors.0"
    # dev -> qa -> dev would be a cycle
    body = {"name": "dev", "requiredPredecessors": [qa["id"]]}
    error = assert_error(admin.put(f"{BASE}/{dev['id']}", json=body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["code"] == "cycle"
    error = assert_error(
        admin.put(f"{BASE}/{dev['id']}", json={"name": "dev", "requiredPredecessors": [dev["id"]]}),
        400,
        "VALIDATION_ERROR",
    )
    assert error["validationErrors"][0]["code"] == "self_reference"


def test_gates_and_policy_fields_are_stored(admin: Caller) -> None:
    rules = {"properties": {"components": {"minItems": 1}}}
    gates = [{"type": "pipeline-order"}, {"type": "policy", "name": "has-components", "config": {"rules": rules}}]
    policy = admin.post("/api/v1/approval-policies", json={"name": "two", "requiredApprovals": 2})
    assert policy.status_code == 201, policy.text
    policy_id = policy.json()["data"]["id"]
    env = create(admin, "prod", isProduction=True, gates=gates, approvalPolicyId=policy_id)
    fetched = admin.get(f"{BASE}/{env['id']}").json()["data"]
    ids = [g.pop("id") for g in fetched["gates"]]
    assert len(set(ids)) == 2  # assigned by the server
    assert fetched["gates"] == [{"type": "pipeline-order", "config": {}}, gates[1]]
    assert fetched["approvalPolicyId"] == policy_id
    assert fetched["isProduction"] is True


def test_gates_are_checked_against_the_gate_plugins(admin: Caller) -> None:
    # an unknown gate type names the field
    error = assert_error(
        admin.post(BASE, json={"name": "a", "gates": [{"type": "no-such-gate"}]}), 400, "VALIDATION_ERROR"
    )
    assert error["validationErrors"][0]["field"] == "gates.0.type"
    # every config violation, with its dotted path under the gate
    bad = {"name": "b", "gates": [{"type": "pipeline-order"}, {"type": "approval", "config": {"requiredApprovals": 0}}]}
    error = assert_error(admin.post(BASE, json=bad), 400, "VALIDATION_ERROR")
    assert [e["field"] for e in error["validationErrors"]] == ["gates.1.config.requiredApprovals"]
    # a gate of an installed plugin the tenant has not enabled is refused with 422
    error = assert_error(
        admin.post(BASE, json={"name": "c", "gates": [{"type": "change-ticket"}]}), 422, "PLUGIN_DISABLED"
    )
    assert error["details"]["pluginId"] == "acme"
    assert admin.get(BASE).json()["meta"]["pagination"]["totalItems"] == 0


def test_an_environment_reports_a_gate_whose_plugin_was_disabled(admin: Caller, other_admin: Caller) -> None:
    for caller in (admin, other_admin):
        assert caller.post("/api/v1/plugins/acme/enable").status_code == 200
    mine = create(admin, "prod", gates=[{"type": "change-ticket", "config": {"pattern": "CHG-[0-9]+"}}])
    theirs = create(other_admin, "prod", gates=[{"type": "change-ticket"}])
    assert "problem" not in mine["gates"][0]
    assert admin.post("/api/v1/plugins/acme/disable").status_code == 200
    gate = admin.get(f"{BASE}/{mine['id']}").json()["data"]["gates"][0]
    assert gate["problem"]["code"] == "PLUGIN_DISABLED"
    assert gate["config"] == {"pattern": "CHG-[0-9]+"}  # still stored as it was
    assert "problem" not in other_admin.get(f"{BASE}/{theirs['id']}").json()["data"]["gates"][0]
    # other fields can still be edited with the gate kept as it is; changing the gate is refused
    as_read = admin.get(f"{BASE}/{mine['id']}").json()["data"]["gates"]  # with its problem, read-only
    kept = admin.put(f"{BASE}/{mine['id']}", json={"name": "prod", "description": "x", "gates": as_read})
    assert kept.status_code == 200 and kept.json()["data"]["gates"][0]["problem"]["code"] == "PLUGIN_DISABLED"
    changed = [{"type": "change-ticket", "config": {"pattern": "OPS-[0-9]+"}}]
    assert_error(admin.put(f"{BASE}/{mine['id']}", json={"name": "prod", "gates": changed}), 422, "PLUGIN_DISABLED")


def test_put_replaces_mutable_fields_and_bumps_version(admin: Caller) -> None:
    env = create(admin, "dev", description="first", gates=[{"type": "pipeline-order"}])
    response = admin.put(f"{BASE}/{env['id']}", json={"name": "development", "order": 3})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "development" and data["order"] == 3
    assert data["description"] == "" and data["gates"] == []  # replaced, not merged
    assert data["version"] == 2 and response.headers["etag"] == '"2"'
    assert data["createdAt"] == env["createdAt"]


def test_put_with_stale_if_match_or_body_version_is_409(admin: Caller) -> None:
    env = create(admin, "dev")
    path = f"{BASE}/{env['id']}"
    assert admin.put(path, json={"name": "dev", "order": 1}, headers={"If-Match": '"1"'}).status_code == 200
    assert_error(
        admin.put(path, json={"name": "dev", "order": 2}, headers={"If-Match": '"1"'}), 409, "VERSION_CONFLICT"
    )
    assert_error(admin.put(path, json={"name": "dev", "order": 2, "version": 1}), 409, "VERSION_CONFLICT")
    assert admin.put(path, json={"name": "dev", "order": 2, "version": 2}).status_code == 200
    assert_error(admin.put(path, json={"name": "dev"}, headers={"If-Match": "garbage"}), 400, "VALIDATION_ERROR")
    assert admin.get(path).json()["data"]["order"] == 2


def test_put_without_order_keeps_the_place(admin: Caller) -> None:
    create(admin, "dev", order=1)
    qa = create(admin, "qa", order=2)
    create(admin, "prod", order=3)
    data = admin.put(f"{BASE}/{qa['id']}", json={"name": "qa", "description": "changed"}).json()["data"]
    assert data["order"] == 2 and data["description"] == "changed"


def test_put_without_changes_keeps_the_version(admin: Caller) -> None:
    env = create(admin, "dev", order=1)
    response = admin.put(f"{BASE}/{env['id']}", json={"name": "dev", "order": 1})
    assert response.json()["data"]["version"] == 1 and response.headers["etag"] == '"1"'


def test_put_to_a_taken_name_is_409(admin: Caller) -> None:
    create(admin, "dev")
    qa = create(admin, "qa")
    assert_error(admin.put(f"{BASE}/{qa['id']}", json={"name": "dev"}), 409, "ALREADY_EXISTS")


def test_delete_is_204_then_404(admin: Caller) -> None:
    env = create(admin, "dev")
    response = admin.delete(f"{BASE}/{env['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_error(admin.get(f"{BASE}/{env['id']}"), 404, "NOT_FOUND")
    assert_error(admin.delete(f"{BASE}/{env['id']}"), 404, "NOT_FOUND")


def test_delete_with_stale_if_match_is_409(admin: Caller) -> None:
    env = create(admin, "dev")
    admin.put(f"{BASE}/{env['id']}", json={"name": "dev", "order": 7})
    assert_error(admin.delete(f"{BASE}/{env['id']}", headers={"If-Match": '"1"'}), 409, "VERSION_CONFLICT")


def test_delete_of_a_required_predecessor_is_409_resource_in_use(admin: Caller) -> None:
    dev = create(admin, "dev")
    create(admin, "qa", requiredPredecessors=[dev["id"]])
    error = assert_error(admin.delete(f"{BASE}/{dev['id']}"), 409, "RESOURCE_IN_USE")
    assert error["details"]["requiredBy"] == ["qa"]


def test_unknown_id_is_404(admin: Caller) -> None:
    for response in (
        admin.get(f"{BASE}/does-not-exist"),
        admin.put(f"{BASE}/does-not-exist", json={"name": "x"}),
        admin.delete(f"{BASE}/does-not-exist"),
    ):
        assert_error(response, 404, "NOT_FOUND")


# --- authentication and authorization ---------------------------------------------------


def test_every_endpoint_without_a_token_is_401(client, admin: Caller) -> None:
    env = create(admin, "dev")
    path = f"{BASE}/{env['id']}"
    for response in (
        client.get(BASE),
        client.post(BASE, json={"name": "x"}),
        client.get(path),
        client.put(path, json={"name": "x"}),
        client.delete(path),
    ):
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_viewer_reads_but_cannot_write_403(admin: Caller, make_caller: CallerFactory) -> None:
    env = create(admin, "dev")
    viewer = make_caller(["viewer"])
    path = f"{BASE}/{env['id']}"
    assert viewer.get(BASE).status_code == 200
    assert viewer.get(path).status_code == 200
    assert_error(viewer.post(BASE, json={"name": "x"}), 403, "FORBIDDEN")
    assert_error(viewer.put(path, json={"name": "x"}), 403, "FORBIDDEN")
    assert_error(viewer.delete(path), 403, "FORBIDDEN")
    assert admin.get(path).json()["data"]["name"] == "dev"


def test_token_without_any_role_cannot_read_403(make_caller: CallerFactory) -> None:
    nobody = make_caller([])
    assert_error(nobody.get(BASE), 403, "FORBIDDEN")
    assert_error(nobody.get(f"{BASE}/x"), 403, "FORBIDDEN")


def test_explicit_permission_claim_grants_write(make_caller: CallerFactory) -> None:
    writer = make_caller(["viewer"], permissions=["environments:write"])
    assert writer.post(BASE, json={"name": "dev"}).status_code == 201


# --- tenancy --------------------------------------------------------------------------------


def test_another_tenants_environment_is_404_and_never_listed(admin: Caller, other_admin: Caller) -> None:
    env = create(other_admin, "theirs")
    path = f"{BASE}/{env['id']}"
    assert_error(admin.get(path), 404, "NOT_FOUND")
    assert_error(admin.put(path, json={"name": "mine"}), 404, "NOT_FOUND")
    assert_error(admin.delete(path), 404, "NOT_FOUND")
    listing = admin.get(BASE, params={"pageSize": 100}).json()
    assert env["id"] not in [e["id"] for e in listing["data"]]
    assert listing["meta"]["pagination"]["totalItems"] == 0
    # and the other tenant's environment is untouched
    assert other_admin.get(path).json()["data"]["name"] == "theirs"
    assert other_admin.get(path).json()["data"]["version"] == 1


def test_predecessor_of_another_tenant_is_unknown(admin: Caller, other_admin: Caller) -> None:
    theirs = create(other_admin, "theirs")
    assert_error(admin.post(BASE, json={"name": "x", "requiredPredecessors": [theirs["id"]]}), 400, "VALIDATION_ERROR")


# --- idempotency ------------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(admin: Caller) -> None:
    headers = {"Idempotency-Key": "create-dev-1"}
    first = admin.post(BASE, json={"name": "dev"}, headers=headers)
    second = admin.post(BASE, json={"name": "dev"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json()["data"] == first.json()["data"]
    assert second.headers["idempotent-replayed"] == "true"
    assert admin.get(BASE).json()["meta"]["pagination"]["totalItems"] == 1


def test_idempotency_key_with_another_body_is_422(admin: Caller) -> None:
    headers = {"Idempotency-Key": "create-dev-2"}
    assert admin.post(BASE, json={"name": "dev"}, headers=headers).status_code == 201
    assert_error(admin.post(BASE, json={"name": "qa"}, headers=headers), 422, "IDEMPOTENCY_KEY_REUSED")
    assert admin.get(BASE).json()["meta"]["pagination"]["totalItems"] == 1


def test_idempotency_keys_are_per_tenant(admin: Caller, other_admin: Caller) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    a = admin.post(BASE, json={"name": "dev"}, headers=headers).json()["data"]
    b = other_admin.post(BASE, json={"name": "dev"}, headers=headers).json()["data"]
    assert a["id"] != b["id"] and b["tenantId"] == other_admin.tenant_id


# --- audit ------------------------------------------------------------------------------------


def test_every_mutation_and_denied_attempt_is_audited(admin: Caller, make_caller: CallerFactory) -> None:
    env = create(admin, "dev")
    admin.put(f"{BASE}/{env['id']}", json={"name": "dev", "order": 9})
    viewer = make_caller(["viewer"])
    viewer.delete(f"{BASE}/{env['id']}")
    admin.delete(f"{BASE}/{env['id']}")
    events = admin.get("/api/v1/audit-events", params={"sort": "sequence"}).json()["data"]
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("environment.create", "success"),
        ("environment.update", "success"),
        ("environment.delete", "denied"),
        ("environment.delete", "success"),
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    assert events[1]["changes"]["before"]["order"] == 0 and events[1]["changes"]["after"]["order"] == 9
    assert events[2]["actor"] == {"type": "user", "id": viewer.user_id}
    assert events[2]["resourceId"] == env["id"]
    assert all(e["resourceType"] == "environment" for e in events)
    assert events[0]["prevHash"] == "0" * 64 and events[1]["prevHash"] == events[0]["hash"]


def test_a_refused_write_leaves_no_audit_event(admin: Caller) -> None:
    create(admin, "dev")
    admin.post(BASE, json={"name": "dev"})  # 409
    admin.post(BASE, json={"name": "BAD"})  # 400
    events = admin.get("/api/v1/audit-events").json()["data"]
    assert [e["action"] for e in events] == ["environment.create"]


def test_audit_events_filter_by_action_actor_resource_and_time(admin: Caller) -> None:
    dev = create(admin, "dev")
    qa = create(admin, "qa")
    admin.delete(f"{BASE}/{qa['id']}")
    by_action = admin.get("/api/v1/audit-events", params={"filter": json.dumps({"action": "environment.delete"})})
    assert [e["resourceId"] for e in by_action.json()["data"]] == [qa["id"]]
    by_resource = admin.get("/api/v1/audit-events", params={"filter": json.dumps({"resourceId": dev["id"]})})
    assert len(by_resource.json()["data"]) == 1
    by_actor = admin.get("/api/v1/audit-events", params={"filter": json.dumps({"actorId": admin.user_id})})
    assert by_actor.json()["meta"]["pagination"]["totalItems"] == 3
    since = by_action.json()["data"][0]["occurredAt"]
    by_time = admin.get("/api/v1/audit-events", params={"filter": json.dumps({"occurredAt": {"$gte": since}})})
    assert qa["id"] in [e["resourceId"] for e in by_time.json()["data"]]
    later = admin.get(
        "/api/v1/audit-events", params={"filter": json.dumps({"occurredAt": {"$gt": "2999-01-01T00:00:00Z"}})}
    )
    assert later.json()["data"] == []
    assert_error(admin.get("/api/v1/audit-events", params={"filter": '{"secret": 1}'}), 400, "INVALID_FILTER")


def test_audit_events_are_tenant_scoped_and_need_a_token(client, admin: Caller, other_admin: Caller) -> None:
    create(other_admin, "theirs")
    assert admin.get("/api/v1/audit-events").json()["data"] == []
    assert_error(client.get("/api/v1/audit-events"), 401, "UNAUTHORIZED")
