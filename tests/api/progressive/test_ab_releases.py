"""A/B releases through the API, with the test plugins' file-backed traffic router and
monitoring integration (the real routers and Prometheus: tests/e2e/test_canary.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from shiplane.evidence.dsse import public_keys, verify_envelope
from shiplane.platform.errors import ApiError
from shiplane.progressive.states import PERSON_ACTIONS, STATES, TRANSITIONS, transition

from tests.api.plugins import enable
from tests.api.promotions import environment, sealed_release
from tests.conftest import Caller, CallerFactory, assert_error, run_sql

AB = "/api/v1/ab-releases"


@pytest.fixture
def service() -> Iterator[dict[str, Any]]:
    """A tiny HTTP service whose health the test sets (``state["status"]``)."""
    state: dict[str, Any] = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(state["status"])
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    yield state
    server.shutdown()


def setup(caller: Caller, tmp_path: Path) -> dict[str, Any]:
    enable(caller, "test-events")
    env = environment(caller, "prod", 1)
    control, candidate = sealed_release(caller, tmp_path, "a"), sealed_release(caller, tmp_path, "b")
    router = caller.post(
        "/api/v1/plugin-instances",
        json={
            "name": "edge",
            "pluginId": "test-events",
            "capabilityKind": "traffic_router",
            "capabilityId": "test-file-router",
            "config": {"stateFile": str(tmp_path / "weights.json")},
        },
    )
    assert router.status_code == 201, router.text
    metrics = caller.post(
        "/api/v1/integrations",
        json={"name": "metrics", "typeId": "test-file-metrics", "config": {"valueFile": str(tmp_path / "value")}},
    )
    assert metrics.status_code == 201, metrics.text
    return {
        "env": env,
        "control": control,
        "candidate": candidate,
        "router": router.json()["data"],
        "metrics": metrics.json()["data"],
        "weights": tmp_path / "weights.json",
        "history": tmp_path / "history.jsonl",
        "value": tmp_path / "value",
    }


def body(world: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "name": "checkout-canary",
        "environmentId": world["env"]["id"],
        "controlReleaseId": world["control"]["id"],
        "candidateReleaseId": world["candidate"]["id"],
        "strategy": "canary",
        "strategyConfig": {"steps": [{"weight": 10}, {"weight": 50}, {"weight": 100}]},
        "routerInstanceId": world["router"]["id"],
        **fields,
    }


def until(caller: Caller, ab_id: str, check: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = caller.get(f"{AB}/{ab_id}").json()["data"]
        if check(shown):
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.1)


def history(world: dict[str, Any]) -> list[int]:
    """The candidate weights the router was given, in order (a weight applied again, as
    the driver does when it cannot tell whether the router has it, counts once)."""
    lines = world["history"].read_text().splitlines() if world["history"].exists() else []
    seen: list[int] = []
    for line in lines:
        weight = json.loads(line)["candidate"]
        if not seen or seen[-1] != weight:
            seen.append(weight)
    return seen


def test_a_healthy_canary_steps_through_and_promotes_itself(
    admin: Caller, viewer: Caller, other_admin: Caller, service: dict[str, Any], tmp_path: Path
) -> None:
    world = setup(admin, tmp_path)
    analysis = {"intervalSeconds": 1, "probes": [{"name": "healthz", "url": service["url"]}]}
    created = admin.post(AB, json=body(world, analysis=analysis))
    assert created.status_code == 201, created.text
    ab = created.json()["data"]
    assert ab["state"] == "draft" and [s["weight"] for s in ab["steps"]] == [10, 50, 100]
    assert_error(viewer.post(f"{AB}/{ab['id']}/start"), 403, "FORBIDDEN")
    started = admin.post(f"{AB}/{ab['id']}/start")
    assert started.status_code == 200, started.text
    assert started.json()["data"]["state"] == "running" and started.json()["data"]["currentStep"] == 0
    assert started.json()["data"]["appliedWeights"] == {"control": 90, "candidate": 10}
    done = until(admin, ab["id"], lambda a: a["state"] == "promoted")
    assert done["weights"] == {"control": 0, "candidate": 100} and "every step passed" in done["message"]
    until(admin, ab["id"], lambda a: a["appliedWeights"] == {"control": 0, "candidate": 100})
    assert history(world) == [10, 50, 100]
    env = admin.get(f"/api/v1/environments/{world['env']['id']}").json()["data"]
    assert env["currentReleaseId"] == world["candidate"]["id"]
    traffic = viewer.get(f"{AB}/{ab['id']}/traffic").json()["data"]
    assert traffic["weights"] == {"control": 0, "candidate": 100} and traffic["inSync"] is True
    health = viewer.get(f"{AB}/{ab['id']}/health").json()["data"]
    steps_checked = {m["step"] for m in health["measurements"]}
    assert steps_checked == {0, 1, 2} and all(m["verdict"] == "pass" for m in health["measurements"])
    probe = health["measurements"][0]
    assert probe["kind"] == "probe" and probe["values"] == [200] and probe["threshold"] == {"expectStatus": [200]}
    assert health["sides"]["candidate"]["status"] == "healthy"
    # Its end left a signed packet naming both releases, the steps and the measurements.
    packets = viewer.get(
        "/api/v1/evidence-packets",
        params={"filter": json.dumps({"kind": "ab-release-decision", "releaseId": world["candidate"]["id"]})},
    ).json()["data"]
    [packet] = packets
    assert packet["outcome"] == "promoted" and packet["environmentId"] == world["env"]["id"]
    statement = viewer.get(f"/api/v1/evidence-packets/{packet['id']}").json()["data"]["statement"]
    predicate = statement["predicate"]
    assert predicate["abRelease"]["id"] == ab["id"] and predicate["abRelease"]["reachedStep"] == 2
    assert predicate["control"]["id"] == world["control"]["id"]
    assert predicate["measurements"]["count"] == len(health["measurements"])
    assert set(predicate["measurements"]["verdicts"]) == {"pass"}
    envelope = json.loads(viewer.get(f"/api/v1/evidence-packets/{packet['id']}/download").content)
    published = viewer.get("/api/v1/signing-keys", params={"pageSize": 100}).json()["data"]
    assert verify_envelope(envelope, public_keys(published)).statement == statement
    # Another tenant sees none of it.
    for path in ("", "/traffic", "/health"):
        assert_error(other_admin.get(f"{AB}/{ab['id']}{path}"), 404, "NOT_FOUND")
    for action in ("start", "advance", "promote", "rollback"):
        assert_error(other_admin.post(f"{AB}/{ab['id']}/{action}"), 404, "NOT_FOUND")
    assert other_admin.get(AB).json()["data"] == []
    assert [a["id"] for a in viewer.get(AB).json()["data"]] == [ab["id"]]
    # Every move was audited, the driver's by shiplane:progressive.
    events = admin.get("/api/v1/audit-events", params={"filter": json.dumps({"resourceId": ab["id"]})}).json()
    actions = [(e["action"], e["actor"]["id"]) for e in events["data"] if e["outcome"] == "success"]
    assert ("ab_release.start", admin.user_id) in actions
    assert ("ab_release.promote", "shiplane:progressive") in actions


def test_a_failing_metric_rolls_back_by_itself_and_says_why(admin: Caller, tmp_path: Path) -> None:
    world = setup(admin, tmp_path)
    world["value"].write_text("0.01")
    check = {"name": "error-rate", "integrationId": world["metrics"]["id"], "query": "errors / requests", "max": 0.05}
    steps = {"steps": [{"weight": 20, "pauseSeconds": 3600}, {"weight": 100}]}
    ab = admin.post(AB, json=body(world, strategyConfig=steps, analysis={"intervalSeconds": 1, "metrics": [check]}))
    assert ab.status_code == 201, ab.text
    ab_id = ab.json()["data"]["id"]
    admin.post(f"{AB}/{ab_id}/start")
    until(admin, ab_id, lambda a: a["state"] == "running" and a["failures"] == 0 and a["appliedWeights"])
    deadline = time.monotonic() + 30
    while not any(m["verdict"] == "pass" for m in admin.get(f"{AB}/{ab_id}/health").json()["data"]["measurements"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    world["value"].write_text("0.5")  # the candidate starts failing
    done = until(admin, ab_id, lambda a: a["state"] == "rolled_back")
    assert "error-rate: 0.5 is above the maximum 0.05" in done["message"]
    assert "rolled back by the analysis at step 1" in done["message"]
    until(admin, ab_id, lambda a: a["appliedWeights"] == {"control": 100, "candidate": 0})
    assert history(world) == [20, 0]
    health = admin.get(f"{AB}/{ab_id}/health").json()["data"]
    failing = [m for m in health["measurements"] if m["verdict"] == "fail"]
    assert failing[0]["values"] == [0.5] and failing[0]["threshold"] == {"max": 0.05}
    assert failing[0]["query"] == "errors / requests" and health["sides"]["candidate"]["status"] == "unhealthy"
    [packet] = admin.get(
        "/api/v1/evidence-packets", params={"filter": json.dumps({"kind": "ab-release-decision"})}
    ).json()["data"]
    predicate = admin.get(f"/api/v1/evidence-packets/{packet['id']}").json()["data"]["statement"]["predicate"]
    assert packet["outcome"] == "rolled_back" and "error-rate" in predicate["abRelease"]["message"]
    assert predicate["measurements"]["verdicts"]["fail"] >= 1
    env = admin.get(f"/api/v1/environments/{world['env']['id']}").json()["data"]
    assert env["currentReleaseId"] != world["candidate"]["id"]


def test_no_data_pauses_for_a_person_and_manual_steps_wait(admin: Caller, tmp_path: Path) -> None:
    world = setup(admin, tmp_path)  # no value file: the query has no data
    check = {"name": "latency", "integrationId": world["metrics"]["id"], "query": "p99", "max": 0.3}
    steps = {"steps": [{"weight": 10, "manual": True}, {"weight": 50, "manual": True}, {"weight": 100}]}
    ab_id = admin.post(AB, json=body(world, strategyConfig=steps, analysis={"intervalSeconds": 1, "metrics": [check]}))
    ab_id = ab_id.json()["data"]["id"]
    admin.post(f"{AB}/{ab_id}/start")
    paused = until(admin, ab_id, lambda a: a["state"] == "paused")
    assert "inconclusive" in paused["message"] and "latency: no data" in paused["message"]
    world["value"].write_text("0.1")
    resumed = admin.post(f"{AB}/{ab_id}/advance")  # a person decides to go on
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["data"]["state"] == "running" and resumed.json()["data"]["currentStep"] == 1
    # A manual step does not move by itself, even with passing checks.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert admin.get(f"{AB}/{ab_id}").json()["data"]["currentStep"] == 1
        time.sleep(0.2)
    promoted = admin.post(f"{AB}/{ab_id}/promote")
    assert promoted.json()["data"]["state"] == "promoted"
    assert_error(admin.post(f"{AB}/{ab_id}/rollback"), 409, "INVALID_STATE")


def test_people_roll_back_and_the_table_refuses_the_rest(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    world = setup(admin, tmp_path)
    steps = {"steps": [{"weight": 30, "manual": True}]}
    ab_id = admin.post(AB, json=body(world, strategy="ab", strategyConfig=steps)).json()["data"]["id"]
    assert_error(admin.post(f"{AB}/{ab_id}/advance"), 409, "INVALID_STATE")  # a draft
    assert_error(admin.post(f"{AB}/{ab_id}/promote"), 409, "INVALID_STATE")
    manager = make_caller(["release-manager"])
    assert manager.post(f"{AB}/{ab_id}/start").json()["data"]["weights"] == {"control": 70, "candidate": 30}
    error = assert_error(admin.post(f"{AB}/{ab_id}/advance"), 409, "INVALID_STATE")
    assert "last step" in error["message"]
    assert_error(admin.post(f"{AB}/{ab_id}/start"), 409, "INVALID_STATE")
    # What a running A/B release stands on cannot be deleted from under it.
    error = assert_error(admin.delete(f"/api/v1/plugin-instances/{world['router']['id']}"), 409, "RESOURCE_IN_USE")
    assert error["details"]["abReleases"] == ["checkout-canary"]
    error = assert_error(admin.delete(f"/api/v1/releases/{world['candidate']['id']}"), 409, "RESOURCE_IN_USE")
    assert error["details"]["abReleases"] == ["checkout-canary"]
    back = manager.post(f"{AB}/{ab_id}/rollback", json={"reason": "conversion is down"})
    assert back.status_code == 200, back.text
    shown = back.json()["data"]
    assert shown["state"] == "rolled_back" and shown["message"].endswith("conversion is down")
    assert shown["appliedWeights"] == {"control": 100, "candidate": 0}
    for action in PERSON_ACTIONS:
        assert_error(admin.post(f"{AB}/{ab_id}/{action}"), 409, "INVALID_STATE")
    assert admin.delete(f"/api/v1/plugin-instances/{world['router']['id']}").status_code == 204  # it has ended


def test_bad_definitions_are_refused_with_the_field(admin: Caller, viewer: Caller, tmp_path: Path) -> None:
    world = setup(admin, tmp_path)
    cases = [
        ({"environmentId": "nope"}, "environmentId"),
        ({"candidateReleaseId": "nope"}, "candidateReleaseId"),
        ({"candidateReleaseId": world["control"]["id"]}, "candidateReleaseId"),
        ({"strategy": "rolling"}, "strategy"),
        ({"routerInstanceId": "nope"}, "routerInstanceId"),
        ({"strategyConfig": {"steps": [{"weight": 101}]}}, None),
        ({"analysis": {"metrics": [{"name": "x", "integrationId": "nope", "query": "q", "max": 1}]}}, None),
        ({"analysis": {"probes": [{"name": "x", "url": "ftp://example.com/"}]}}, None),
        # The cloud metadata service is refused by the egress policy, by its address.
        (
            {"analysis": {"probes": [{"name": "x", "url": "http://169.254.169.254/latest/meta-data/"}]}},
            "analysis.probes[0].url",
        ),
        ({"analysis": {"metrics": [{"name": "x", "integrationId": "i", "query": "q"}]}}, None),  # no threshold
    ]
    for change, field in cases:
        response = admin.post(AB, json=body(world, **change))
        assert response.status_code == 400, (change, response.text)
        if field:
            assert response.json()["error"]["validationErrors"][0]["field"] == field, response.text
    assert_error(viewer.post(AB, json=body(world)), 403, "FORBIDDEN")
    assert admin.post(AB, json=body(world)).status_code == 201
    assert_error(admin.post(AB, json=body(world)), 409, "ALREADY_EXISTS")


def test_releases_in_the_wrong_state_and_a_router_gone(admin: Caller, tmp_path: Path) -> None:
    world = setup(admin, tmp_path)
    # A stored release that cannot be rolled out is refused as a promotion refuses it.
    entries = [{"componentId": c["componentId"], "version": c["version"]} for c in world["candidate"]["components"]]
    draft = admin.post("/api/v1/releases", json={"name": "draft", "components": entries}).json()["data"]
    assert draft["state"] == "draft"
    error = assert_error(admin.post(AB, json=body(world, candidateReleaseId=draft["id"])), 409, "INVALID_STATE")
    assert error["details"]["field"] == "candidateReleaseId" and "seal it" in error["message"]
    deprecated = admin.post(f"/api/v1/releases/{world['control']['id']}/deprecate", json={"reason": "CVE-1"})
    assert deprecated.status_code == 200, deprecated.text
    error = assert_error(admin.post(AB, json=body(world)), 422, "RELEASE_DEPRECATED")
    assert error["details"] == {"field": "controlReleaseId", "releaseId": world["control"]["id"], "reason": "CVE-1"}

    # An ended A/B release whose router instance was then deleted still answers traffic:
    # nothing read, and why.
    other = sealed_release(admin, tmp_path, "c")
    made = admin.post(AB, json=body(world, controlReleaseId=other["id"]))
    assert made.status_code == 201, made.text
    ab_id = made.json()["data"]["id"]
    assert admin.post(f"{AB}/{ab_id}/start").status_code == 200
    assert admin.post(f"{AB}/{ab_id}/rollback", json={"reason": "done"}).status_code == 200
    assert admin.delete(f"/api/v1/plugin-instances/{world['router']['id']}").status_code == 204
    traffic = admin.get(f"{AB}/{ab_id}/traffic")
    assert traffic.status_code == 200, traffic.text
    shown = traffic.json()["data"]
    assert shown["weights"] is None and shown["router"] == {"instanceId": world["router"]["id"], "type": None}
    assert "cannot be read" in shown["error"] and world["router"]["id"] in shown["error"]


def test_a_router_that_refuses_is_reported_and_tried_again(admin: Caller, tmp_path: Path) -> None:
    world = setup(admin, tmp_path)
    (tmp_path / "refuse").write_text("upstream down")
    steps = {"steps": [{"weight": 25, "manual": True}, {"weight": 100}]}
    # Looked at every second (the router is retried and reconciled at the next look).
    made = admin.post(AB, json=body(world, strategyConfig=steps, analysis={"intervalSeconds": 1}))
    ab_id = made.json()["data"]["id"]
    started = admin.post(f"{AB}/{ab_id}/start").json()["data"]
    assert started["state"] == "running" and started["appliedWeights"] is None
    assert "upstream down" in started["routerError"]
    (tmp_path / "refuse").unlink()
    fixed = until(admin, ab_id, lambda a: a["appliedWeights"] == {"control": 75, "candidate": 25}, timeout=60)
    assert fixed["routerError"] is None
    # Weights changed behind its back (a router restart) are put back.
    world["weights"].write_text(json.dumps({"control": 100, "candidate": 0}))
    deadline = time.monotonic() + 60
    while json.loads(world["weights"].read_text())["candidate"] != 25:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_the_state_machine_is_the_table() -> None:
    actions = {action for _state, action in TRANSITIONS}
    for state in STATES:
        for action in actions:
            if (state, action) in TRANSITIONS:
                assert transition(state, action) == TRANSITIONS[(state, action)]
            else:
                with pytest.raises(ApiError) as refused:
                    transition(state, action)
                assert refused.value.code == "INVALID_STATE"


def test_a_restarted_server_resumes_the_canary_at_its_step(tmp_path: Path, service: dict[str, Any]) -> None:
    """The first server starts a canary and stops in step 1's pause; the second (same
    database, a new process's worth of state) goes on from step 1 and promotes it."""
    from fastapi.testclient import TestClient
    from shiplane.app import create_app
    from shiplane.platform.jwt import mint_token

    from tests.conftest import make_database, make_settings

    (tmp_path / "db").mkdir()
    databases = make_database(tmp_path / "db")
    database = next(databases)
    try:
        ab_id = ""
        for generation in ("first", "second"):
            settings = make_settings(database, tmp_path / f"data-{generation}", ab_sweep_seconds=0.2)
            with TestClient(create_app(settings), raise_server_exceptions=False) as client:
                token = mint_token(settings, user_id="canary", tenant_id="tenant-restart", roles=["admin"])
                caller = Caller(client, token, "tenant-restart", "canary")
                if generation == "first":
                    world = setup(caller, tmp_path)
                    steps = {
                        "steps": [{"weight": 10, "pauseSeconds": 0}, {"weight": 40, "pauseSeconds": 4}, {"weight": 100}]
                    }
                    analysis = {"intervalSeconds": 1, "probes": [{"name": "up", "url": service["url"]}]}
                    created = caller.post(AB, json=body(world, strategyConfig=steps, analysis=analysis))
                    ab_id = created.json()["data"]["id"]
                    caller.post(f"{AB}/{ab_id}/start")
                    until(caller, ab_id, lambda a: a["currentStep"] == 1)
                else:
                    assert caller.get(f"{AB}/{ab_id}").json()["data"]["currentStep"] == 1  # where it was
                    done = until(caller, ab_id, lambda a: a["state"] == "promoted")
                    assert done["currentStep"] == 2
        assert history(world) == [10, 40, 100]
        steps_seen = run_sql(database, "SELECT DISTINCT step FROM ab_measurements ORDER BY step")
        assert [r[0] for r in steps_seen] == [0, 1, 2]
    finally:
        databases.close()


def test_a_release_whose_router_plugin_is_disabled_is_aborted_not_promoted(
    admin: Caller, service: dict[str, Any], tmp_path: Path
) -> None:
    from tests.api.plugins import disable

    world = setup(admin, tmp_path)
    steps = {"steps": [{"weight": 10}, {"weight": 100}]}
    analysis = {"intervalSeconds": 1, "probes": [{"name": "up", "url": service["url"]}]}
    ab_id = admin.post(AB, json=body(world, strategyConfig=steps, analysis=analysis)).json()["data"]["id"]
    disable(admin, "test-events")
    try:
        admin.post(f"{AB}/{ab_id}/start")
        done = until(admin, ab_id, lambda a: a["state"] in ("aborted", "promoted"))
        assert done["state"] == "aborted" and "traffic router cannot be used" in done["message"]
        env = admin.get(f"/api/v1/environments/{world['env']['id']}").json()["data"]
        assert env["currentReleaseId"] != world["candidate"]["id"]  # nothing was promoted without traffic
    finally:
        enable(admin, "test-events")


def test_a_candidate_that_cannot_be_deployed_aborts_before_any_traffic_moves(admin: Caller, tmp_path: Path) -> None:
    """``candidateTargetLabels``: start deploys the candidate first (a ``candidate`` job);
    no target has the labels here, so the job fails and the release is aborted, every
    request still on the control side. (A deployment that succeeds, with a real agent:
    tests/e2e/test_deployments.py.)"""
    world = setup(admin, tmp_path)
    labelled = body(world, candidateTargetLabels={"side": "candidate"})
    ab = admin.post(AB, json=labelled)
    assert ab.status_code == 201, ab.text
    ab_id = ab.json()["data"]["id"]
    started = admin.post(f"{AB}/{ab_id}/start").json()["data"]
    assert started["state"] == "deploying" and started["weights"] == {"control": 100, "candidate": 0}
    job = admin.get(f"/api/v1/deployment-jobs/{started['deploymentJobId']}").json()["data"]
    assert job["kind"] == "candidate" and job["releaseId"] == world["candidate"]["id"]
    done = until(admin, ab_id, lambda a: a["state"] == "aborted")
    assert "the candidate's deployment failed" in done["message"]
    assert "has the labels {'side': 'candidate'}" in done["message"]  # the job's own reason
    assert history(world) == [0]  # the router only ever had all traffic on the control side
    for bad in ({"side": "x" * 129}, {"bad key!": "x"}, {"bad key!": ["x"]}, {f"k{n}": "v" for n in range(11)}):
        assert_error(
            admin.post(AB, json={**labelled, "name": "other", "candidateTargetLabels": bad}), 400, "VALIDATION_ERROR"
        )
