"""Runs: a DAG executes through the work queue, with expressions, skips, retries, failures,
pause/resume/cancel, logs and artifacts; the state tables decide every action."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from shiplane.workflows.states import RUN_STATES, RUN_TRANSITIONS
from shiplane_test_plugins.events import RUNS as STEP_RUNS

from tests.api.workflows import RUNS, TEMPLATES, node, start, steps, template, wait_for
from tests.conftest import Caller, assert_error


def key(caller: Caller, name: str) -> str:
    return f"{caller.tenant_id}:{name}"


def test_a_dag_runs_each_step_once_in_order_with_outputs_flowing(admin: Caller) -> None:
    k = lambda name: key(admin, name)  # noqa: E731
    nodes = [
        node("build", config={"key": k("build"), "echo": "${{ inputs.version }}"}),
        node("test", config={"key": k("test"), "echo": "${{ steps.build.outputs.echo }}-tested"}, depends=["build"]),
        node("scan", config={"key": k("scan"), "echo": 7}, depends=["build"]),
        node(
            "ship",
            config={"key": k("ship"), "echo": "${{ steps.test.outputs.echo }} after ${{ steps.scan.outputs.echo }}"},
            depends=["test", "scan"],
        ),
        node("only-prod", config={"key": k("only-prod")}, depends=["ship"], when="inputs.env == 'prod'"),
    ]
    schema = {
        "type": "object",
        "required": ["version"],
        "properties": {"version": {"type": "string"}, "env": {"type": "string"}},
    }
    flow = template(admin, nodes, inputsSchema=schema)
    run = wait_for(admin, start(admin, flow["id"], {"version": "1.4.0", "env": "dev"})["id"])
    assert run["state"] == "succeeded", run
    by_node = steps(run)
    assert by_node["ship"]["outputs"]["echo"] == "1.4.0-tested after 7"
    assert by_node["only-prod"]["state"] == "skipped" and "when" in by_node["only-prod"]["message"]
    for name in ("build", "test", "scan", "ship"):
        assert by_node[name]["state"] == "succeeded" and STEP_RUNS[k(name)] == 1
    assert k("only-prod") not in STEP_RUNS
    # Ordered: ship started after both of its dependencies finished.
    assert by_node["ship"]["startedAt"] >= max(by_node["test"]["finishedAt"], by_node["scan"]["finishedAt"])

    logs = admin.get(f"{RUNS}/{run['id']}/steps/build/logs").json()["data"]
    assert [line["line"] for line in logs["lines"]] == [f"run 1 of {k('build')}"]
    # Inputs are checked against the template's schema.
    error = assert_error(
        admin.post(RUNS, json={"templateId": flow["id"], "inputs": {"version": 3}}), 400, "VALIDATION_ERROR"
    )
    assert error["validationErrors"][0]["field"] == "inputs.version"


def test_retries_failures_and_continue(admin: Caller) -> None:
    k = lambda name: key(admin, name)  # noqa: E731
    nodes = [
        node("flaky", config={"key": k("flaky"), "fail": 2}, retry={"max": 2, "backoff": 0.05}),
        node("broken", config={"key": k("broken"), "fail": 5}, onFailure="continue"),
        node("after-broken", config={"key": k("after-broken")}, depends=["broken"]),
        node("doomed", config={"key": k("doomed"), "fail": 1}, depends=["flaky"]),
        node("never", config={"key": k("never")}, depends=["doomed"]),
    ]
    run = wait_for(admin, start(admin, template(admin, nodes)["id"])["id"])
    by_node = steps(run)
    assert by_node["flaky"]["state"] == "succeeded" and by_node["flaky"]["attempt"] == 3 and STEP_RUNS[k("flaky")] == 3
    assert by_node["broken"]["state"] == "failed" and by_node["after-broken"]["state"] == "succeeded"
    assert by_node["doomed"]["state"] == "failed" and "failing on purpose" in by_node["doomed"]["message"]
    assert by_node["never"]["state"] == "skipped" and "doomed" in by_node["never"]["message"]
    assert run["state"] == "failed" and "doomed" in run["message"] and "broken" not in run["message"]


def test_pause_holds_new_steps_and_resume_goes_on(admin: Caller) -> None:
    k = lambda name: key(admin, name)  # noqa: E731
    nodes = [
        node("slow", config={"key": k("slow"), "sleep": 1.0}),
        node("next", config={"key": k("next")}, depends=["slow"]),
    ]
    run = start(admin, template(admin, nodes)["id"])
    deadline = time.monotonic() + 30
    while steps(admin.get(f"{RUNS}/{run['id']}").json()["data"])["slow"]["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    paused = admin.post(f"{RUNS}/{run['id']}/pause")
    assert paused.status_code == 200 and paused.json()["data"]["state"] == "paused"
    # The running step finishes; its dependant does not start while paused.
    deadline = time.monotonic() + 30
    while steps(admin.get(f"{RUNS}/{run['id']}").json()["data"])["slow"]["state"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    shown = admin.get(f"{RUNS}/{run['id']}").json()["data"]
    assert shown["state"] == "paused" and steps(shown)["next"]["state"] == "pending"
    assert admin.post(f"{RUNS}/{run['id']}/resume").json()["data"]["state"] == "running"
    assert wait_for(admin, run["id"])["state"] == "succeeded"


def test_cancel_stops_a_running_step_and_skips_the_rest(admin: Caller) -> None:
    k = lambda name: key(admin, name)  # noqa: E731
    nodes = [
        node("long", config={"key": k("long"), "sleep": 30}),
        node("later", config={"key": k("later")}, depends=["long"]),
    ]
    run = start(admin, template(admin, nodes)["id"])
    wait_for(admin, run["id"], states=("running",))
    deadline = time.monotonic() + 30
    while steps(admin.get(f"{RUNS}/{run['id']}").json()["data"])["long"]["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert admin.post(f"{RUNS}/{run['id']}/cancel").json()["data"]["state"] == "cancelling"
    done = wait_for(admin, run["id"])
    assert done["state"] == "cancelled"
    assert steps(done)["long"]["state"] == "cancelled" and steps(done)["later"]["state"] == "cancelled"


def test_artifacts_are_listed_and_downloadable(admin: Caller) -> None:
    nodes = [node("report", config={"key": key(admin, "report"), "artifact": "all good"})]
    run = wait_for(admin, start(admin, template(admin, nodes)["id"])["id"])
    listed = admin.get(f"{RUNS}/{run['id']}/steps/report/artifacts").json()["data"]
    assert [(a["name"], a["contentType"], a["size"]) for a in listed] == [("note.txt", "text/plain", 8)]
    assert listed[0]["digest"].startswith("sha256:")
    download = admin.get(f"{RUNS}/{run['id']}/steps/report/artifacts", params={"name": "note.txt"})
    assert download.status_code == 200 and download.content == b"all good"
    assert download.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_every_action_the_table_refuses_is_409(admin: Caller, action: str) -> None:
    # A finished run: every action is refused; a running one refuses resume; a paused one, pause.
    nodes = [node("one", config={"key": key(admin, f"one-{action}")})]
    flow = template(admin, nodes)
    finished = wait_for(admin, start(admin, flow["id"])["id"])
    for state in RUN_STATES:
        if (state, action) in RUN_TRANSITIONS:
            continue
        if state == finished["state"]:
            error = assert_error(admin.post(f"{RUNS}/{finished['id']}/{action}"), 409, "INVALID_STATE")
            assert error["details"] == {"state": state, "action": action}


def test_other_tenants_see_no_run_and_viewers_cannot_act(admin: Caller, other_admin: Caller, viewer: Caller) -> None:
    nodes = [node("one", config={"key": key(admin, "iso")})]
    flow = template(admin, nodes)
    run = wait_for(admin, start(admin, flow["id"])["id"])
    for path in (
        f"{RUNS}/{run['id']}",
        f"{RUNS}/{run['id']}/steps",
        f"{RUNS}/{run['id']}/steps/one",
        f"{RUNS}/{run['id']}/steps/one/logs",
        f"{RUNS}/{run['id']}/steps/one/artifacts",
        f"{TEMPLATES}/{flow['id']}",
    ):
        assert_error(other_admin.get(path), 404, "NOT_FOUND")
    assert_error(other_admin.post(f"{RUNS}/{run['id']}/cancel"), 404, "NOT_FOUND")
    assert_error(other_admin.post(RUNS, json={"templateId": flow["id"]}), 400, "VALIDATION_ERROR")
    assert viewer.get(f"{RUNS}/{run['id']}").status_code == 200
    assert_error(viewer.post(RUNS, json={"templateId": flow["id"]}), 403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("action", "step_state", "run_state"),
    [("retry", "succeeded", "succeeded"), ("skip", "skipped", "succeeded"), ("abort", "failed", "failed")],
)
def test_guided_failure_waits_for_a_person(admin: Caller, action: str, step_state: str, run_state: str) -> None:
    k = lambda name: key(admin, f"{name}-{action}")  # noqa: E731
    nodes = [
        node("fragile", config={"key": k("fragile"), "fail": 1}, onFailure="ask"),
        node("after", config={"key": k("after")}, depends=["fragile"]),
    ]
    run = start(admin, template(admin, nodes)["id"])
    deadline = time.monotonic() + 30
    while steps(admin.get(f"{RUNS}/{run['id']}").json()["data"])["fragile"]["state"] != "waiting":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    shown = admin.get(f"{RUNS}/{run['id']}").json()["data"]
    assert shown["state"] == "running" and steps(shown)["after"]["state"] == "pending"
    assert "failing on purpose" in steps(shown)["fragile"]["message"]
    # A step that is not waiting cannot be decided on; a viewer cannot decide.
    error = assert_error(
        admin.post(f"{RUNS}/{run['id']}/steps/after/decision", json={"action": "retry"}), 409, "INVALID_STATE"
    )
    assert error["details"] == {"state": "pending", "action": "retry"}
    decided = admin.post(
        f"{RUNS}/{run['id']}/steps/fragile/decision", json={"action": action, "comment": "checked the logs"}
    )
    assert decided.status_code == 200, decided.text
    done = wait_for(admin, run["id"])
    assert done["state"] == run_state and steps(done)["fragile"]["state"] == step_state
    if action != "abort":
        assert steps(done)["after"]["state"] == "succeeded"
    trail = admin.get("/api/v1/audit-events", params={"filter": '{"action": "workflow_run.decide"}'}).json()["data"]
    assert len(trail) == 1 and trail[0]["actor"]["id"] == admin.user_id


def test_a_viewer_cannot_decide(admin: Caller, viewer: Caller) -> None:
    nodes = [node("fragile", config={"key": key(admin, "fragile-viewer"), "fail": 1}, onFailure="ask")]
    run = start(admin, template(admin, nodes)["id"])
    assert_error(viewer.post(f"{RUNS}/{run['id']}/steps/fragile/decision", json={"action": "skip"}), 403, "FORBIDDEN")
    admin.post(f"{RUNS}/{run['id']}/cancel")
    assert wait_for(admin, run["id"])["state"] == "cancelled"


def test_a_computed_step_reference_reads_the_step_it_names(admin: Caller) -> None:
    nodes = [
        node("a", config={"key": key(admin, "computed-a"), "echo": "from-a"}),
        node(
            "b",
            config={"key": key(admin, "computed-b"), "echo": "${{ steps[inputs.which].outputs.echo }}"},
            depends=["a"],
            when="steps[inputs.which].state == 'succeeded'",
        ),
    ]
    schema = {"type": "object", "properties": {"which": {"type": "string"}}}
    run = wait_for(admin, start(admin, template(admin, nodes, inputsSchema=schema)["id"], {"which": "a"})["id"])
    assert run["state"] == "succeeded", run
    assert steps(run)["b"]["state"] == "succeeded" and steps(run)["b"]["outputs"]["echo"] == "from-a"


def test_cancelling_ends_a_run_whose_steps_are_still_queued(tmp_path: Path) -> None:
    """No engine claims the step (this server runs none, and its database is its own): the
    cancel ends the queued step and the run at once, not when an engine comes."""
    from fastapi.testclient import TestClient
    from shiplane.app import create_app
    from shiplane.platform.jwt import mint_token

    from tests.conftest import make_database, make_settings

    (tmp_path / "db").mkdir()
    databases = make_database(tmp_path / "db")
    try:
        settings = make_settings(next(databases), tmp_path / "data", workflow_engine_enabled=False)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            token = mint_token(settings, user_id="canceller", tenant_id="tenant-queued", roles=["admin"])
            caller = Caller(client, token, "tenant-queued", "canceller")
            created = caller.post(
                TEMPLATES,
                json={"name": "queued", "nodes": [{"id": "later", "type": "manual", "config": {"instructions": "x"}}]},
            )
            assert created.status_code == 201, created.text
            run = start(caller, created.json()["data"]["id"])
            assert steps(caller.get(f"{RUNS}/{run['id']}").json()["data"])["later"]["state"] == "queued"
            cancelled = caller.post(f"{RUNS}/{run['id']}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["data"]["state"] == "cancelled"
            shown = caller.get(f"{RUNS}/{run['id']}").json()["data"]
            assert shown["state"] == "cancelled" and steps(shown)["later"]["state"] == "cancelled"
    finally:
        databases.close()


def test_a_deployment_job_whose_run_ends_first_fails_with_its_evidence(tmp_path: Path) -> None:
    """A rollback's job waits for its run's deploy step; the run is cancelled while that
    step is still queued: the job fails (it never stays pending) and leaves its packet."""
    from fastapi.testclient import TestClient
    from shiplane.app import create_app
    from shiplane.platform.jwt import mint_token

    from tests.api.promotions import environment, sealed_release
    from tests.conftest import make_database, make_settings

    (tmp_path / "db").mkdir()
    databases = make_database(tmp_path / "db")
    try:
        settings = make_settings(next(databases), tmp_path / "data", workflow_engine_enabled=False)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            token = mint_token(settings, user_id="roller", tenant_id="tenant-rollback", roles=["admin"])
            caller = Caller(client, token, "tenant-rollback", "roller")
            release = sealed_release(caller, tmp_path)
            env = environment(caller, "prod", 1)
            body = {"environmentId": env["id"], "releaseId": release["id"], "reason": "back"}
            created = caller.post("/api/v1/rollbacks", json=body)
            assert created.status_code == 201, created.text
            job = created.json()["data"]
            assert job["state"] == "pending"
            assert caller.post(f"{RUNS}/{job['workflowRunId']}/cancel").json()["data"]["state"] == "cancelled"
            failed = caller.get(f"/api/v1/deployment-jobs/{job['id']}").json()["data"]
            assert failed["state"] == "failed" and "ended (cancelled)" in failed["message"]
            packets = caller.get(
                "/api/v1/evidence-packets", params={"filter": json.dumps({"deploymentJobId": job["id"]})}
            ).json()["data"]
            assert [(p["kind"], p["outcome"]) for p in packets] == [("deployment-outcome", "failed")]
            # The environment is free again: another rollback is accepted.
            assert caller.post("/api/v1/rollbacks", json=body).status_code == 201
    finally:
        databases.close()
