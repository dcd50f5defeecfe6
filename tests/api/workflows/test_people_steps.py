"""Steps that wait for people (approval, manual) and steps that act through the core
(notify through a real webhook receiver, gate). The decision endpoint checks the
permission, the step's roles and users, separation of duties and one vote per person."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from shiplane_test_plugins.events import RUNS as STEP_RUNS

from tests.api.notifications.test_delivery import SECRET, Receiver, _free_port, eventually
from tests.api.workflows import RUNS, node, start, steps, template, wait_for
from tests.conftest import Caller, CallerFactory, assert_error


def step_of(caller: Caller, run_id: str, node_id: str) -> dict[str, Any]:
    response = caller.get(f"{RUNS}/{run_id}/steps/{node_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def wait_step(caller: Caller, run_id: str, node_id: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        step = step_of(caller, run_id, node_id)
        if step["state"] == state or time.monotonic() > deadline:
            assert step["state"] == state, step
            return step
        time.sleep(0.05)


def decide(caller: Caller, run_id: str, node_id: str, action: str, comment: str = "") -> Any:
    return caller.post(f"{RUNS}/{run_id}/steps/{node_id}/decision", json={"action": action, "comment": comment})


def test_an_approval_waits_for_n_distinct_approvers_with_the_role(admin: Caller, make_caller: CallerFactory) -> None:
    after = f"{admin.tenant_id}:after-approval"
    flow = template(
        admin,
        [
            node(
                "sign-off",
                type="approval",
                config={"approvals": 2, "roles": ["approver"], "message": "check the changelog"},
            ),
            node("ship", config={"key": after}, depends=["sign-off"]),
        ],
    )
    run = start(admin, flow["id"])
    step = wait_step(admin, run["id"], "sign-off", "waiting")
    assert step["wait"]["actions"] == ["approve", "reject"] and step["wait"]["kind"] == "approval"
    assert step["wait"]["instructions"] == "check the changelog" and step["message"] == "waiting for approval: 0 of 2"

    # The requester may not approve their own run (even an admin with the role).
    assert_error(decide(admin, run["id"], "sign-off", "approve"), 403, "FORBIDDEN")
    requester_approver = make_caller(["approver"], user_id=admin.user_id)
    assert_error(decide(requester_approver, run["id"], "sign-off", "approve"), 422, "SELF_APPROVAL_FORBIDDEN")
    # Without the permission: 403; with it but not in the step's roles: 403 with the reason.
    developer = make_caller(["developer"])
    error = assert_error(decide(developer, run["id"], "sign-off", "approve"), 403, "FORBIDDEN")
    assert error["details"]["missingPermission"] == "workflows:approve"
    manager = make_caller(["release-manager"])
    error = assert_error(decide(manager, run["id"], "sign-off", "approve"), 403, "FORBIDDEN")
    assert "approver" in error["message"]
    # An action the step does not offer.
    first = make_caller(["approver"])
    assert_error(decide(first, run["id"], "sign-off", "continue"), 409, "INVALID_STATE")

    assert decide(first, run["id"], "sign-off", "approve", "looks good").status_code == 200
    # One person counts once.
    assert_error(decide(first, run["id"], "sign-off", "approve"), 409, "INVALID_STATE")
    step = wait_step(admin, run["id"], "sign-off", "waiting")
    assert step["message"] == "waiting for approval: 1 of 2" and len(step["decisions"]) == 1
    assert STEP_RUNS.get(after) is None

    second = make_caller(["approver"])
    assert decide(second, run["id"], "sign-off", "approve").status_code == 200
    done = wait_for(admin, run["id"])
    assert done["state"] == "succeeded", done
    approved = steps(done)["sign-off"]
    assert approved["outputs"]["approvedBy"] == [first.user_id, second.user_id]
    assert [d["comment"] for d in approved["decisions"]] == ["looks good", ""]
    assert approved["wait"] is None and STEP_RUNS[after] == 1
    # Every decision is audited with who made it.
    audit = admin.get("/api/v1/audit-events", params={"action": "workflow_run.decide"}).json()["data"]
    actors = {e["actor"]["id"] for e in audit if e["resourceId"] == run["id"]}
    assert {first.user_id, second.user_id} <= actors
    # A finished run takes no more decisions.
    assert_error(decide(make_caller(["approver"]), run["id"], "sign-off", "approve"), 409, "INVALID_STATE")


def test_one_rejection_fails_the_approval_and_skips_what_depends_on_it(
    admin: Caller, make_caller: CallerFactory
) -> None:
    flow = template(
        admin,
        [
            node("sign-off", type="approval", config={"approvals": 3}),
            node("ship", config={"key": f"{admin.tenant_id}:never"}, depends=["sign-off"]),
        ],
    )
    run = start(admin, flow["id"])
    wait_step(admin, run["id"], "sign-off", "waiting")
    approver = make_caller(["approver"])
    assert decide(approver, run["id"], "sign-off", "reject", "not during the sale").status_code == 200
    done = wait_for(admin, run["id"])
    assert done["state"] == "failed"
    by_node = steps(done)
    assert by_node["sign-off"]["message"] == f"rejected by {approver.user_id}: not during the sale"
    assert by_node["ship"]["state"] == "skipped"


def test_concurrent_approvals_all_count_and_the_step_finishes_once(admin: Caller, make_caller: CallerFactory) -> None:
    after = f"{admin.tenant_id}:after-concurrent"
    flow = template(
        admin,
        [
            node("sign-off", type="approval", config={"approvals": 4}),
            node("ship", config={"key": after}, depends=["sign-off"]),
        ],
    )
    run = start(admin, flow["id"])
    wait_step(admin, run["id"], "sign-off", "waiting")
    approvers = [make_caller(["approver"]) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda c: decide(c, run["id"], "sign-off", "approve"), approvers))
    # A decision racing another may be asked to retry; every approver retries until recorded.
    for caller, answer in zip(approvers, answers, strict=True):
        while answer.status_code == 409 and answer.json()["error"]["code"] == "VERSION_CONFLICT":
            answer = decide(caller, run["id"], "sign-off", "approve")
        assert answer.status_code == 200, answer.text
    done = wait_for(admin, run["id"])
    assert done["state"] == "succeeded", done
    assert sorted(steps(done)["sign-off"]["outputs"]["approvedBy"]) == sorted(c.user_id for c in approvers)
    assert STEP_RUNS[after] == 1


def test_a_manual_step_shows_instructions_and_continues_or_aborts(admin: Caller, make_caller: CallerFactory) -> None:
    flow = template(
        admin,
        [node("db", type="manual", config={"instructions": "Run the data fix in the console, then continue."})],
    )
    run = start(admin, flow["id"])
    step = wait_step(admin, run["id"], "db", "waiting")
    assert step["wait"]["instructions"].startswith("Run the data fix") and step["wait"]["actions"] == [
        "continue",
        "abort",
    ]
    viewer = make_caller(["viewer"])
    assert_error(decide(viewer, run["id"], "db", "continue"), 403, "FORBIDDEN")
    assert_error(decide(admin, run["id"], "db", "retry"), 409, "INVALID_STATE")
    # The requester may continue a manual step (allowSelf defaults to true for it).
    assert decide(admin, run["id"], "db", "continue", "fixed 12 rows").status_code == 200
    done = wait_for(admin, run["id"])
    assert done["state"] == "succeeded"
    assert steps(done)["db"]["outputs"] == {"continuedBy": admin.user_id, "comment": "fixed 12 rows"}

    aborted = start(admin, flow["id"])
    wait_step(admin, aborted["id"], "db", "waiting")
    manager = make_caller(["release-manager"])
    assert decide(manager, aborted["id"], "db", "abort", "wrong table").status_code == 200
    done = wait_for(admin, aborted["id"])
    assert done["state"] == "failed" and steps(done)["db"]["message"] == f"aborted by {manager.user_id}: wrong table"


def test_cancelling_a_run_cancels_the_step_waiting_for_people(admin: Caller) -> None:
    flow = template(admin, [node("sign-off", type="approval", config={})])
    run = start(admin, flow["id"])
    wait_step(admin, run["id"], "sign-off", "waiting")
    assert admin.post(f"{RUNS}/{run['id']}/cancel").status_code == 200
    done = wait_for(admin, run["id"])
    assert done["state"] == "cancelled" and steps(done)["sign-off"]["state"] == "cancelled"


def test_another_tenant_cannot_decide(admin: Caller, other_admin: Caller) -> None:
    flow = template(admin, [node("sign-off", type="approval", config={})])
    run = start(admin, flow["id"])
    wait_step(admin, run["id"], "sign-off", "waiting")
    assert_error(decide(other_admin, run["id"], "sign-off", "approve"), 404, "NOT_FOUND")


def test_notify_sends_through_the_tenants_webhook(admin: Caller) -> None:
    receiver = Receiver(_free_port())
    receiver.start()
    try:
        config = {"url": f"http://127.0.0.1:{receiver.port}/hook", "secret": SECRET, "events": ["nothing.*"]}
        created = admin.post("/api/v1/integrations", json={"name": "ops-hook", "typeId": "webhook", "config": config})
        assert created.status_code == 201, created.text
        flow = template(
            admin,
            [
                node(
                    "tell",
                    type="notify",
                    config={
                        "integration": "ops-hook",
                        "subject": "deploying ${{ inputs.version }}",
                        "body": "to prod",
                        "severity": "warning",
                        "data": {"version": "${{ inputs.version }}"},
                    },
                ),
                node("missing", type="notify", config={"integration": "no-such-hook", "subject": "x"}),
            ],
        )
        run = wait_for(admin, start(admin, flow["id"], {"version": "2.0.1"})["id"])
        by_node = steps(run)
        assert by_node["tell"]["state"] == "succeeded", by_node["tell"]
        eventually(lambda: len(receiver.deliveries) == 1)
        body = receiver.deliveries[0]["body"]
        assert body["subject"] == "deploying 2.0.1" and body["severity"] == "warning" and body["body"] == "to prod"
        assert body["type"] == "workflow_run.notification" and body["resourceId"] == run["id"]
        assert body["data"] == {"version": "2.0.1", "step": "tell"}
        assert receiver.refused == 0
        assert by_node["missing"]["state"] == "failed" and "no-such-hook" in by_node["missing"]["message"]
        assert SECRET not in admin.get(f"{RUNS}/{run['id']}/steps/tell/logs").text
    finally:
        receiver.stop()


def test_a_gate_step_evaluates_the_gate_for_the_environment(admin: Caller) -> None:
    env = admin.post("/api/v1/environments", json={"name": "prod", "displayName": "Prod", "order": 1})
    assert env.status_code == 201, env.text
    flow = template(
        admin,
        [node("freeze", type="gate", config={"gate": "freeze-window", "environment": "prod"})],
    )
    open_run = wait_for(admin, start(admin, flow["id"])["id"])
    assert open_run["state"] == "succeeded", open_run
    assert steps(open_run)["freeze"]["outputs"]["status"] == "pass"

    now = datetime.now(UTC)
    window = {
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "reason": "sale",
    }
    created = admin.post(f"/api/v1/environments/{env.json()['data']['id']}/freeze-windows", json=window)
    assert created.status_code == 201, created.text
    frozen = wait_for(admin, start(admin, flow["id"])["id"])
    assert frozen["state"] == "failed"
    step = steps(frozen)["freeze"]
    assert step["outputs"]["status"] == "fail" and "freeze" in step["message"]

    unknown = template(
        admin, [node("g", type="gate", config={"gate": "no-such-gate", "environment": "prod"})], name="unknown"
    )
    failed = wait_for(admin, start(admin, unknown["id"])["id"])
    assert failed["state"] == "failed" and "no-such-gate" in steps(failed)["g"]["message"]


def _metric(caller: Caller, line_start: str) -> float:
    for line in caller.client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_step_outcomes_and_time(admin: Caller, make_caller: CallerFactory) -> None:
    succeeded = 'shiplane_workflow_steps_total{outcome="succeeded"}'
    waiting = 'shiplane_workflow_steps_total{outcome="waiting"}'
    before = (
        _metric(admin, succeeded),
        _metric(admin, waiting),
        _metric(admin, "shiplane_workflow_step_duration_seconds_count"),
    )
    flow = template(
        admin,
        [node("a", config={"key": f"{admin.tenant_id}:m-a"}), node("ok", type="approval", config={}, depends=["a"])],
        name="metered",
    )
    run = start(admin, flow["id"])
    wait_step(admin, run["id"], "ok", "waiting")
    assert decide(make_caller(["approver"]), run["id"], "ok", "approve").status_code == 200
    assert wait_for(admin, run["id"])["state"] == "succeeded"
    assert _metric(admin, succeeded) >= before[0] + 2
    assert _metric(admin, waiting) >= before[1] + 1
    assert _metric(admin, "shiplane_workflow_step_duration_seconds_count") >= before[2] + 3
    assert "shiplane_workflow_steps_running " in admin.client.get("/metrics").text
