"""Promotions: gates from the environment, approval policies with separation of duties,
freeze windows with overrides, re-evaluation when a block ends, and the state table."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.app import create_app
from shiplane.promotions.states import PERSON_ACTIONS, STATES

from tests.api.promotions import ENVIRONMENTS, PROMOTIONS, environment, policy, promote, sealed_release
from tests.api.releases import RELEASES
from tests.conftest import Caller, CallerFactory, assert_error, make_settings, run_sql


def finished(caller: Caller, promotion_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The promotion once its deployment workflow ended (succeeded or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        promotion: dict[str, Any] = caller.get(f"{PROMOTIONS}/{promotion_id}").json()["data"]
        if promotion["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return promotion
        time.sleep(0.1)


def jobs_of(caller: Caller, promotion_id: str) -> list[dict[str, Any]]:
    params = {"filter": json.dumps({"promotionId": promotion_id})}
    data: list[dict[str, Any]] = caller.get("/api/v1/deployment-jobs", params=params).json()["data"]
    return data


def audit(caller: Caller, **filters: str) -> list[dict[str, Any]]:
    response = caller.get("/api/v1/audit-events", params={"filter": json.dumps(filters), "pageSize": 100})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def freeze(caller: Caller, env_id: str, minutes_left: float, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    window = {
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "endsAt": (now + timedelta(minutes=minutes_left)).isoformat(),
        "reason": "quarter close",
        **fields,
    }
    response = caller.post(f"{ENVIRONMENTS}/{env_id}/freeze-windows", json=window)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_a_promotion_with_no_gates_is_approved_and_pins_the_release(admin: Caller, tmp_path: Path) -> None:
    release = sealed_release(admin, tmp_path)
    dev = environment(admin, "dev", 1)
    created = promote(admin, release["id"], dev["id"], reason="first deploy")
    assert created.status_code == 201, created.text
    promotion = created.json()["data"]
    # Approved at once, so its deployment workflow started in the same transaction.
    assert promotion["state"] == "deploying" and promotion["reason"] == "first deploy"
    assert promotion["requestedBy"] == admin.user_id and promotion["approvals"] == []
    assert created.headers["Location"] == f"{PROMOTIONS}/{promotion['id']}"
    done = finished(admin, promotion["id"])
    assert done["state"] == "succeeded" and done["message"] == "deployed"
    run = admin.get(f"/api/v1/workflow-runs/{done['workflowRunId']}").json()["data"]
    assert run["state"] == "succeeded" and run["context"]["promotionId"] == promotion["id"]
    [job] = jobs_of(admin, promotion["id"])
    assert job["state"] == "succeeded" and job["releaseId"] == release["id"] and job["strategy"] == "all-at-once"
    env = admin.get(f"{ENVIRONMENTS}/{dev['id']}").json()["data"]
    assert env["currentReleaseId"] == release["id"]
    # A release that was promoted can no longer be deleted.
    assert_error(admin.delete(f"{RELEASES}/{release['id']}"), 409, "INVALID_STATE")
    listed = admin.get(PROMOTIONS, params={"filter": json.dumps({"environmentId": dev["id"]})}).json()
    assert [p["id"] for p in listed["data"]] == [promotion["id"]]


def test_only_sealed_and_not_deprecated_releases_are_promoted(admin: Caller, tmp_path: Path) -> None:
    release = sealed_release(admin, tmp_path)
    dev = environment(admin, "dev", 1)
    entries = [{"componentId": c["componentId"], "version": c["version"]} for c in release["components"]]
    draft = admin.post(RELEASES, json={"name": "draft", "components": entries}).json()["data"]
    assert_error(promote(admin, draft["id"], dev["id"]), 409, "INVALID_STATE")
    assert admin.post(f"{RELEASES}/{release['id']}/deprecate", json={"reason": "CVE"}).status_code == 200
    error = assert_error(promote(admin, release["id"], dev["id"]), 422, "RELEASE_DEPRECATED")
    assert error["details"]["reason"] == "CVE"
    error = assert_error(promote(admin, "nope", dev["id"]), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "releaseId"


def test_a_freeze_window_blocks_with_every_failing_gate_and_the_override_takes_the_role(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    release = sealed_release(admin, tmp_path)
    dev = environment(admin, "dev", 1)
    rules = {"properties": {"name": {"pattern": "^hotfix-"}}}
    prod = environment(
        admin,
        "prod",
        2,
        gates=[
            {"type": "freeze-window"},
            {"type": "pipeline-order"},
            {"type": "policy", "name": "hotfixes only", "config": {"rules": rules}},
        ],
    )
    window = freeze(admin, prod["id"], 60, overrideRoles=["release-manager"])
    manager = make_caller(["release-manager"])
    error = assert_error(promote(manager, release["id"], prod["id"]), 422, "PROMOTION_BLOCKED")
    failing = {g["type"]: g for g in error["details"]["gates"]}
    assert set(failing) == {"freeze-window", "pipeline-order", "policy"}
    assert failing["pipeline-order"]["status"] == "fail" and "required" in failing["pipeline-order"]["message"]
    # It is kept, blocked, to move on when the causes end.
    kept = manager.get(f"{PROMOTIONS}/{error['details']['promotionId']}").json()["data"]
    assert kept["state"] == "blocked" and kept["recheckAt"] is not None
    decision = manager.get(f"{PROMOTIONS}/{kept['id']}/decision").json()["data"]
    freeze_gate = next(g for g in decision["gates"] if g["type"] == "freeze-window")
    assert freeze_gate["details"]["activeWindows"][0]["id"] == window["id"]
    assert freeze_gate["inputs"]["environmentId"] == prod["id"] and freeze_gate["evaluatedAt"]
    policy_gate = next(g for g in decision["gates"] if g["type"] == "policy")
    assert policy_gate["details"]["violations"][0]["path"] == "name"

    # Overriding the freeze takes one of the window's override roles, and a reason.
    developer = make_caller(["developer"], permissions=["promotions:create"])
    override = {"freezeOverride": {"reason": "security fix"}}
    error = assert_error(promote(developer, release["id"], prod["id"], **override), 403, "FORBIDDEN")
    assert error["details"]["overrideRoles"] == ["release-manager"]
    assert_error(promote(manager, release["id"], dev["id"], **override), 400, "VALIDATION_ERROR")
    error = assert_error(promote(manager, release["id"], prod["id"], **override), 422, "PROMOTION_BLOCKED")
    overridden = manager.get(f"{PROMOTIONS}/{error['details']['promotionId']}").json()["data"]
    assert {g["type"] for g in error["details"]["gates"]} == {"pipeline-order", "policy"}
    assert overridden["freezeOverride"]["reason"] == "security fix"
    assert overridden["freezeOverride"]["by"] == manager.user_id
    assert [e["resourceId"] for e in audit(admin, action="promotion.freeze_override")] == [overridden["id"]]


def test_preview_evaluates_without_creating(admin: Caller, tmp_path: Path) -> None:
    release = sealed_release(admin, tmp_path)
    prod = environment(admin, "prod", 1, gates=[{"type": "freeze-window"}])
    freeze(admin, prod["id"], 30)
    preview = admin.post(f"{PROMOTIONS}/preview-gates", json={"releaseId": release["id"], "environmentId": prod["id"]})
    assert preview.status_code == 200, preview.text
    data = preview.json()["data"]
    assert data["outcome"] == "blocked" and data["gates"][0]["status"] == "fail"
    assert admin.get(PROMOTIONS).json()["data"] == []


def test_two_approvals_from_the_policys_role_and_never_the_requesters(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    release = sealed_release(admin, tmp_path)
    rule = policy(admin, requiredApprovals=2, approverRoles=["approver"])
    prod = environment(admin, "prod", 1, approvalPolicyId=rule["id"])
    requester = make_caller(["release-manager", "approver"])
    created = promote(requester, release["id"], prod["id"])
    assert created.status_code == 201, created.text
    promotion = created.json()["data"]
    assert promotion["state"] == "awaiting_approval" and promotion["message"] == "0 of 2 approval(s)"
    url = f"{PROMOTIONS}/{promotion['id']}"

    error = assert_error(requester.post(f"{url}/approve", json={}), 422, "SELF_APPROVAL_FORBIDDEN")
    assert error["details"]["requestedBy"] == requester.user_id
    assert_error(make_caller(["developer"]).post(f"{url}/approve", json={}), 403, "FORBIDDEN")
    # promotions:approve, but not in the policy's roles.
    outsider = make_caller(["admin"])
    error = assert_error(outsider.post(f"{url}/approve", json={}), 403, "FORBIDDEN")
    assert error["details"]["approverRoles"] == ["approver"]

    first, second = make_caller(["approver"]), make_caller(["approver"])
    pending = first.get("/api/v1/my/pending-approvals").json()["data"]
    assert [p["id"] for p in pending] == [promotion["id"]]
    assert requester.get("/api/v1/my/pending-approvals").json()["data"] == []
    answer = first.post(f"{url}/approve", json={"comment": "tested in staging"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["state"] == "awaiting_approval"
    assert answer.json()["data"]["message"] == "1 of 2 approval(s)"
    assert_error(first.post(f"{url}/approve", json={}), 409, "INVALID_STATE")  # one person counts once
    assert first.get("/api/v1/my/pending-approvals").json()["data"] == []

    done = second.post(f"{url}/approve", json={})
    assert done.status_code == 200, done.text
    assert done.json()["data"]["state"] == "deploying"  # approved: its deployment started
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    approvals = admin.get(f"{url}/approvals").json()["data"]
    assert [(a["userId"], a["decision"], a["comment"]) for a in approvals] == [
        (first.user_id, "approve", "tested in staging"),
        (second.user_id, "approve", ""),
    ]
    decision = admin.get(f"{url}/decision").json()["data"]
    assert decision["outcome"] == "deployed" and decision["approvalPolicy"]["id"] == rule["id"]
    assert [g["status"] for g in decision["gates"]] == ["pass"]
    assert_error(make_caller(["approver"]).post(f"{url}/approve", json={}), 409, "INVALID_STATE")


def test_twenty_concurrent_approvals_approve_it_once(admin: Caller, make_caller: CallerFactory, tmp_path: Path) -> None:
    release = sealed_release(admin, tmp_path)
    rule = policy(admin, requiredApprovals=2, approverRoles=["approver"])
    prod = environment(admin, "prod", 1, approvalPolicyId=rule["id"])
    promotion = promote(admin, release["id"], prod["id"]).json()["data"]
    approvers = [make_caller(["approver"]) for _ in range(20)]
    url = f"{PROMOTIONS}/{promotion['id']}/approve"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda c: c.post(url, json={}), approvers))
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {200, 409} and codes.count(200) >= 2, codes
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    # Approved exactly once: one move, one deployment workflow, one deployment job.
    moves = audit(admin, action="promotion.evaluate", resourceId=promotion["id"])
    assert [m["changes"]["after"]["state"] for m in moves] == ["deploying"], moves
    assert len(jobs_of(admin, promotion["id"])) == 1
    runs = admin.get("/api/v1/workflow-runs", params={"pageSize": 100}).json()["data"]
    assert [r["context"].get("promotionId") for r in runs].count(promotion["id"]) == 1


def test_one_rejection_ends_it_and_cancel_follows_the_table(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    release = sealed_release(admin, tmp_path)
    rule = policy(admin, requiredApprovals=3)
    prod = environment(admin, "prod", 1, approvalPolicyId=rule["id"])
    first = promote(admin, release["id"], prod["id"]).json()["data"]
    approver = make_caller(["approver"])
    rejected = approver.post(f"{PROMOTIONS}/{first['id']}/reject", json={"comment": "not this week"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["data"]["state"] == "rejected"
    assert rejected.json()["data"]["message"] == f"rejected by {approver.user_id}: not this week"
    assert_error(admin.post(f"{PROMOTIONS}/{first['id']}/cancel", json={}), 409, "INVALID_STATE")

    second = promote(admin, release["id"], prod["id"]).json()["data"]
    cancelled = admin.post(f"{PROMOTIONS}/{second['id']}/cancel", json={"comment": "wrong release"})
    assert cancelled.status_code == 200 and cancelled.json()["data"]["state"] == "cancelled"
    assert_error(approver.post(f"{PROMOTIONS}/{second['id']}/approve", json={}), 409, "INVALID_STATE")


@pytest.mark.parametrize("state", STATES)
def test_every_action_the_table_refuses_is_409(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path, database_url: str, state: str
) -> None:
    release = sealed_release(admin, tmp_path)
    rule = policy(admin, requiredApprovals=1)
    prod = environment(admin, "prod", 1, approvalPolicyId=rule["id"])
    promotion = promote(admin, release["id"], prod["id"]).json()["data"]
    run_sql(database_url, "UPDATE promotions SET state = :s WHERE id = :id", {"s": state, "id": promotion["id"]})
    approver = make_caller(["approver"])
    for action in ("approve", "reject", "cancel"):
        caller = admin if action == "cancel" else approver
        response = caller.post(f"{PROMOTIONS}/{promotion['id']}/{action}", json={})
        if state in PERSON_ACTIONS[action]:
            assert response.status_code == 200, (state, action, response.text)
            break  # the promotion moved on: the remaining actions see a new state
        error = assert_error(response, 409, "INVALID_STATE")
        assert error["details"] == {"state": state, "action": action}


def test_another_tenant_and_the_permissions(admin: Caller, other_admin: Caller, viewer: Caller, tmp_path: Path) -> None:
    release = sealed_release(admin, tmp_path)
    dev = environment(admin, "dev", 1)
    promotion = promote(admin, release["id"], dev["id"]).json()["data"]
    for path in ("", "/decision", "/approvals"):
        assert_error(other_admin.get(f"{PROMOTIONS}/{promotion['id']}{path}"), 404, "NOT_FOUND")
    for action in ("approve", "reject", "cancel"):
        assert_error(other_admin.post(f"{PROMOTIONS}/{promotion['id']}/{action}", json={}), 404, "NOT_FOUND")
    assert other_admin.get(PROMOTIONS).json()["data"] == []
    # Another tenant's release or environment is unknown here.
    assert_error(promote(other_admin, release["id"], dev["id"]), 400, "VALIDATION_ERROR")
    assert_error(promote(viewer, release["id"], dev["id"]), 403, "FORBIDDEN")
    assert viewer.get(f"{PROMOTIONS}/{promotion['id']}").status_code == 200
    assert_error(viewer.post("/api/v1/approval-policies", json={"name": "x"}), 403, "FORBIDDEN")
    error = assert_error(
        admin.put(f"{ENVIRONMENTS}/{dev['id']}", json={"name": "dev", "order": 1, "approvalPolicyId": "nope"}),
        400,
        "VALIDATION_ERROR",
    )
    assert error["validationErrors"][0]["field"] == "approvalPolicyId"


@pytest.fixture(scope="module")
def sweeping(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A server that looks for promotions to evaluate again every 0.2 s."""
    settings = make_settings(database_url, tmp_path_factory.mktemp("sweep"), promotion_sweep_seconds=0.2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("not reached in time")


def test_a_blocked_promotion_moves_on_by_itself_when_the_freeze_ends(
    admin: Caller, sweeping: TestClient, tmp_path: Path
) -> None:
    caller = Caller(sweeping, admin.token, admin.tenant_id, admin.user_id)
    release = sealed_release(caller, tmp_path)
    prod = environment(caller, "prod", 1, gates=[{"type": "freeze-window"}])
    window = freeze(caller, prod["id"], 2 / 60)  # ends in two seconds
    error = assert_error(promote(caller, release["id"], prod["id"]), 422, "PROMOTION_BLOCKED")
    assert error["details"]["recheckAt"] == window["nextEnd"]
    url = f"{PROMOTIONS}/{error['details']['promotionId']}"
    moved = _until(lambda: (p := caller.get(url).json()["data"])["state"] == "succeeded" and p)
    assert moved["recheckAt"] is None and moved["workflowRunId"]
    assert [e["actor"]["id"] for e in audit(caller, action="promotion.evaluate")] == ["shiplane:promotions"]


def test_approvals_expire(admin: Caller, sweeping: TestClient, tmp_path: Path, database_url: str) -> None:
    caller = Caller(sweeping, admin.token, admin.tenant_id, admin.user_id)
    release = sealed_release(caller, tmp_path)
    rule = policy(caller, requiredApprovals=1, expiresAfterSeconds=3600)
    prod = environment(caller, "prod", 1, approvalPolicyId=rule["id"])
    promotion = promote(caller, release["id"], prod["id"]).json()["data"]
    assert promotion["expiresAt"] is not None
    run_sql(
        database_url,
        "UPDATE promotions SET expires_at = :t WHERE id = :id",
        {"t": datetime.now(UTC) - timedelta(seconds=1), "id": promotion["id"]},
    )
    url = f"{PROMOTIONS}/{promotion['id']}"
    gone = _until(lambda: (p := caller.get(url).json()["data"])["state"] == "cancelled" and p)
    assert gone["message"] == "expired: not approved in time"


def test_a_protected_environment_names_who_promotes_and_rolls_back(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    release = sealed_release(admin, tmp_path)
    keeper = make_caller(["developer"], permissions=["promotions:create", "rollbacks:create"])
    protection = {"promoteRoles": ["release-manager"], "rollbackUsers": [keeper.user_id]}
    prod = environment(admin, "prod", 1, protection=protection)
    shown = admin.get(f"{ENVIRONMENTS}/{prod['id']}").json()["data"]
    assert shown["protection"] == {**protection, "promoteUsers": [], "rollbackRoles": []}
    # The permission is not enough: the role is.
    error = assert_error(promote(keeper, release["id"], prod["id"]), 403, "FORBIDDEN")
    assert "protected" in error["message"] and error["details"]["roles"] == ["release-manager"]
    assert_error(promote(admin, release["id"], prod["id"]), 403, "FORBIDDEN")
    manager = make_caller(["release-manager"])
    promotion = promote(manager, release["id"], prod["id"])
    assert promotion.status_code == 201, promotion.text
    assert finished(admin, promotion.json()["data"]["id"])["state"] == "succeeded"
    # Rolling back is the named user's alone (nothing earlier to go back to: 409 once allowed).
    body = {"environmentId": prod["id"], "reason": "bad"}
    error = assert_error(manager.post("/api/v1/rollbacks", json=body), 403, "FORBIDDEN")
    assert error["details"]["users"] == [keeper.user_id]
    assert_error(keeper.post("/api/v1/rollbacks", json=body), 409, "INVALID_STATE")
    # Another environment is not protected.
    dev = environment(admin, "dev", 2)
    assert promote(keeper, release["id"], dev["id"]).status_code == 201


def test_only_who_chooses_deployment_workflows_changes_them(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    """Every promotion runs its environment's deployment workflow (or the default,
    ``shiplane-deploy``) past its gates: a developer (workflows:write) may not change one."""
    developer = make_caller(["developer"])
    deploy_node = [{"id": "deploy", "type": "deploy", "config": {"strategy": "all-at-once"}}]
    templates = "/api/v1/workflow-templates"
    # Not even first: the default's name is reserved.
    error = assert_error(
        developer.post(templates, json={"name": "shiplane-deploy", "nodes": deploy_node}), 403, "FORBIDDEN"
    )
    assert "default deployment workflow" in error["message"]
    dev = environment(admin, "dev", 1)
    promotion = promote(admin, sealed_release(admin, tmp_path)["id"], dev["id"]).json()["data"]
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    [default] = admin.get(templates, params={"filter": json.dumps({"name": "shiplane-deploy"})}).json()["data"]
    url = f"{templates}/{default['id']}"
    evil = [{"id": "deploy", "type": "deploy", "config": {"strategy": "rolling"}}]
    assert_error(developer.put(url, json={"name": "shiplane-deploy", "nodes": evil}), 403, "FORBIDDEN")
    assert_error(developer.put(url, json={"name": "renamed", "nodes": deploy_node}), 403, "FORBIDDEN")
    assert_error(developer.delete(url), 403, "FORBIDDEN")

    # An environment's own template is guarded the same way once an environment uses it.
    own = developer.post(templates, json={"name": "prod-deploy", "nodes": deploy_node})
    assert own.status_code == 201, own.text
    own_url = f"{templates}/{own.json()['data']['id']}"
    assert developer.put(own_url, json={"name": "prod-deploy", "nodes": evil}).status_code == 200
    environment(admin, "prod", 2, deploymentWorkflowTemplateId=own.json()["data"]["id"])
    error = assert_error(developer.put(own_url, json={"name": "prod-deploy", "nodes": deploy_node}), 403, "FORBIDDEN")
    assert "environment 'prod' deploys with it" in error["message"]
    changed = admin.put(own_url, json={"name": "prod-deploy", "nodes": deploy_node})
    assert changed.status_code == 200, changed.text


def test_approval_policies_are_listed_by_name_in_the_tenant_only(
    admin: Caller, other_admin: Caller, viewer: Caller
) -> None:
    second = policy(admin, name="two-approvers", requiredApprovals=2, approverRoles=["approver"])
    first = policy(admin, name="one-approver", requiredApprovals=1, allowSelfApproval=True)
    listed = admin.get("/api/v1/approval-policies")
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["data"]] == [first["id"], second["id"]]  # by name
    assert listed.json()["data"][1]["requiredApprovals"] == 2
    assert listed.json()["meta"]["pagination"]["totalItems"] == 2
    newest = admin.get("/api/v1/approval-policies", params={"sort": "-createdAt", "pageSize": 1}).json()
    assert [p["id"] for p in newest["data"]] == [first["id"]] and newest["meta"]["pagination"]["hasNext"]
    assert other_admin.get("/api/v1/approval-policies").json()["data"] == []
    # A viewer reads them (and may not write them, above); an unknown sort field is a 400.
    assert [p["id"] for p in viewer.get("/api/v1/approval-policies").json()["data"]] == [first["id"], second["id"]]
    assert_error(admin.get("/api/v1/approval-policies", params={"sort": "nope"}), 400, "INVALID_SORT")
