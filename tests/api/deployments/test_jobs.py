"""Deployment jobs through the API: what a promotion's deployment left, readable in its
tenant only. (The deployments themselves, with real agents: tests/e2e/test_deployments.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from shiplane.deployments.states import PERSON_ACTIONS as JOB_PERSON_ACTIONS
from shiplane.deployments.states import STATES as JOB_STATES
from shiplane.deployments.states import TRANSITIONS as JOB_TRANSITIONS
from shiplane.deployments.states import transition as job_transition
from shiplane.platform.errors import ApiError

from tests.api.promotions import environment, promote, sealed_release
from tests.api.promotions.test_promotions import finished, jobs_of
from tests.conftest import Caller, CallerFactory, assert_error, run_sql

JOBS = "/api/v1/deployment-jobs"
ROLLBACKS = "/api/v1/rollbacks"


def test_a_job_with_no_targets_succeeds_and_its_records_stay_in_the_tenant(
    admin: Caller, other_admin: Caller, viewer: Caller, tmp_path: Path
) -> None:
    release = sealed_release(admin, tmp_path)
    dev = environment(admin, "dev", 1)
    promotion = promote(admin, release["id"], dev["id"]).json()["data"]
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    [job] = jobs_of(admin, promotion["id"])
    shown = viewer.get(f"{JOBS}/{job['id']}").json()["data"]
    assert shown["state"] == "succeeded" and shown["tasks"] == {} and shown["message"] == "deployed to 0 target(s)"
    assert shown["workflowRunId"] == finished(admin, promotion["id"])["workflowRunId"]
    artifacts = viewer.get(f"{JOBS}/{job['id']}/artifacts").json()["data"]
    assert [a["name"] for a in artifacts] == ["manifest.json", "stickers.json", "variables.json"]
    manifest = viewer.get(f"{JOBS}/{job['id']}/artifacts/{artifacts[0]['id']}")
    body = json.loads(manifest.content)
    assert body["release"] == {
        "id": release["id"],
        "name": release["name"],
        "manifestDigest": release["manifestDigest"],
    }
    assert viewer.get(f"{JOBS}/{job['id']}/tasks").json()["data"] == []

    for path in ("", "/tasks", "/artifacts", f"/artifacts/{artifacts[0]['id']}", "/tasks/nope", "/tasks/nope/logs"):
        assert_error(other_admin.get(f"{JOBS}/{job['id']}{path}"), 404, "NOT_FOUND")
    assert other_admin.get(JOBS).json()["data"] == []
    assert_error(admin.get(f"{JOBS}/{job['id']}/tasks/nope"), 404, "NOT_FOUND")
    assert_error(admin.get(f"{JOBS}/{job['id']}/artifacts/nope"), 404, "NOT_FOUND")
    assert_error(admin.get(f"{JOBS}/nope"), 404, "NOT_FOUND")
    listed = admin.get(JOBS, params={"filter": json.dumps({"environmentId": dev["id"]})}).json()["data"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_rollbacks_choose_the_previous_release_and_refuse_what_they_cannot(
    admin: Caller, other_admin: Caller, viewer: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    dev = environment(admin, "dev", 1)
    first, second = sealed_release(admin, tmp_path, "r1"), sealed_release(admin, tmp_path, "r2")
    for release in (first, second):
        promotion = promote(admin, release["id"], dev["id"]).json()["data"]
        assert finished(admin, promotion["id"])["state"] == "succeeded"
    body = {"environmentId": dev["id"], "reason": "errors up"}
    assert_error(viewer.post(ROLLBACKS, json=body), 403, "FORBIDDEN")
    assert_error(other_admin.post(ROLLBACKS, json=body), 400, "VALIDATION_ERROR")  # not its environment
    assert_error(admin.post(ROLLBACKS, json={"reason": "x"}), 400, "VALIDATION_ERROR")
    assert_error(admin.post(ROLLBACKS, json={**body, "jobId": "x"}), 400, "VALIDATION_ERROR")
    assert_error(admin.post(ROLLBACKS, json={"environmentId": dev["id"]}), 400, "VALIDATION_ERROR")  # a reason

    manager = make_caller(["release-manager"])
    created = manager.post(ROLLBACKS, json=body)
    assert created.status_code == 201, created.text
    rollback = created.json()["data"]
    assert rollback["releaseId"] == first["id"] and rollback["previousReleaseId"] == second["id"]
    assert rollback["createdBy"] == manager.user_id and rollback["state"] in ("pending", "running", "succeeded")
    deadline = time.monotonic() + 60
    while (job := admin.get(f"{JOBS}/{rollback['id']}").json()["data"])["state"] in ("pending", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job["state"] == "succeeded"
    assert admin.get(f"/api/v1/environments/{dev['id']}").json()["data"]["currentReleaseId"] == first["id"]
    assert [r["id"] for r in viewer.get(ROLLBACKS).json()["data"]] == [rollback["id"]]
    assert other_admin.get(ROLLBACKS).json()["data"] == []
    events = admin.get("/api/v1/audit-events", params={"filter": json.dumps({"action": "rollback.create"})}).json()
    assert [e["resourceId"] for e in events["data"] if e["outcome"] != "denied"] == [rollback["id"]]
    assert [e["actor"]["id"] for e in events["data"] if e["outcome"] == "denied"] == [viewer.user_id]

    # Back to a deprecated release: refused like a promotion of it.
    assert admin.post(f"/api/v1/releases/{second['id']}/deprecate", json={"reason": "bad"}).status_code == 200
    error = assert_error(admin.post(ROLLBACKS, json={**body, "releaseId": second["id"]}), 422, "RELEASE_DEPRECATED")
    assert error["details"]["releaseId"] == second["id"]


@pytest.mark.parametrize("state", JOB_STATES)
def test_rolling_back_a_job_follows_the_table(admin: Caller, tmp_path: Path, database_url: str, state: str) -> None:
    dev = environment(admin, "dev", 1)
    for name in ("r1", "r2"):
        promotion = promote(admin, sealed_release(admin, tmp_path, name)["id"], dev["id"]).json()["data"]
        assert finished(admin, promotion["id"])["state"] == "succeeded"
    [job] = jobs_of(admin, promotion["id"])
    run_sql(database_url, "UPDATE deployment_jobs SET state = :s WHERE id = :id", {"s": state, "id": job["id"]})
    response = admin.post(ROLLBACKS, json={"jobId": job["id"], "reason": "undo"})
    if state in JOB_PERSON_ACTIONS["rollback"]:
        assert response.status_code == 201, (state, response.text)
    else:
        error = assert_error(response, 409, "INVALID_STATE")
        assert error["details"] == {"state": state, "action": "rollback"}


def test_the_engine_moves_jobs_only_by_the_table() -> None:
    actions = {action for _state, action in JOB_TRANSITIONS}
    for state in JOB_STATES:
        for action in actions:
            if (state, action) in JOB_TRANSITIONS:
                assert job_transition(state, action) == JOB_TRANSITIONS[(state, action)]
            else:
                with pytest.raises(ApiError) as refused:
                    job_transition(state, action)
                assert refused.value.code == "INVALID_STATE"


def _metric(caller: Caller, name: str) -> float:
    for line in caller.client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_promotions_and_jobs_by_outcome(admin: Caller, tmp_path: Path) -> None:
    succeeded_jobs = 'shiplane_deployment_jobs_total{kind="deploy",state="succeeded"}'
    succeeded_promotions = 'shiplane_promotions_total{state="succeeded"}'
    durations = 'shiplane_deployment_job_duration_seconds_count{kind="deploy"}'
    before = [_metric(admin, n) for n in (succeeded_jobs, succeeded_promotions, durations)]
    dev = environment(admin, "dev", 1)
    promotion = promote(admin, sealed_release(admin, tmp_path)["id"], dev["id"]).json()["data"]
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    after = [_metric(admin, n) for n in (succeeded_jobs, succeeded_promotions, durations)]
    assert all(a >= b + 1 for a, b in zip(after, before, strict=True)), (before, after)
    assert "shiplane_promotion_reevaluations_total" in admin.client.get("/metrics").text


def test_only_a_promotion_or_a_rollback_can_make_a_run_deploy(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    dev = environment(admin, "dev", 1)
    release = sealed_release(admin, tmp_path)
    promotion = promote(admin, release["id"], dev["id"]).json()["data"]
    done = finished(admin, promotion["id"])
    template_id = admin.get(f"/api/v1/workflow-runs/{done['workflowRunId']}").json()["data"]["templateId"]
    # A developer may run workflows, not deploy: a run naming a release and an environment
    # in its context does not make its deploy step deploy.
    developer = make_caller(["developer"])
    context = {"releaseId": release["id"], "environmentId": dev["id"], "promotionId": promotion["id"]}
    started = developer.post("/api/v1/workflow-runs", json={"templateId": template_id, "context": context})
    assert started.status_code == 201, started.text
    run_id = started.json()["data"]["id"]
    deadline = time.monotonic() + 60
    while (run := admin.get(f"/api/v1/workflow-runs/{run_id}").json()["data"])["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run["state"] == "failed"
    [step] = run["steps"]
    assert "not started by a promotion, a rollback or an A/B release" in step["message"]
    assert len(jobs_of(admin, promotion["id"])) == 1  # still only the promotion's own


def test_an_environment_with_more_targets_than_a_job_deploys_is_refused_not_cut(
    admin: Caller, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shiplane.deployments import service

    monkeypatch.setattr(service, "MAX_TARGETS", 2)  # 1,000 in production: the same check
    release = sealed_release(admin, tmp_path)
    env = environment(admin, "big", 1)
    for name in ("web-1", "web-2", "web-3"):
        body = {
            "name": name,
            "environmentId": env["id"],
            "type": "local",
            "config": {"directory": str(tmp_path / name)},
        }
        assert admin.post("/api/v1/targets", json=body).status_code == 201
    promotion = promote(admin, release["id"], env["id"]).json()["data"]
    done = finished(admin, promotion["id"])
    assert done["state"] == "failed"
    assert jobs_of(admin, promotion["id"]) == []  # nothing was deployed, not even in part
    run = admin.get(f"/api/v1/workflow-runs/{done['workflowRunId']}/steps").json()["data"]
    assert "more than 2 targets" in run[0]["message"], run
    assert admin.get(f"/api/v1/environments/{env['id']}").json()["data"]["currentReleaseId"] is None


def _ended(caller: Caller, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (job := caller.get(f"{JOBS}/{job_id}").json()["data"])["state"] in ("pending", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return job


def test_the_default_rollback_target_skips_a_rolled_back_release_and_old_jobs_are_not_undone(
    admin: Caller, tmp_path: Path
) -> None:
    dev = environment(admin, "dev", 1)
    releases = {name: sealed_release(admin, tmp_path, name) for name in ("r0", "r1", "r2")}
    jobs = {}
    for name, release in releases.items():
        promotion = promote(admin, release["id"], dev["id"]).json()["data"]
        assert finished(admin, promotion["id"])["state"] == "succeeded"
        [jobs[name]] = jobs_of(admin, promotion["id"])
    # r1's job is no longer the environment's latest: undoing it would undo r2 too.
    error = assert_error(admin.post(ROLLBACKS, json={"jobId": jobs["r1"]["id"], "reason": "x"}), 409, "INVALID_STATE")
    assert error["details"]["newerJobId"] == jobs["r2"]["id"]

    # Straight back to r0: r2 is rolled back (and r1 was skipped over).
    back = admin.post(ROLLBACKS, json={"environmentId": dev["id"], "releaseId": releases["r0"]["id"], "reason": "bad"})
    assert back.status_code == 201, back.text
    assert _ended(admin, back.json()["data"]["id"])["state"] == "succeeded"
    assert admin.get(f"{JOBS}/{jobs['r2']['id']}").json()["data"]["state"] == "rolled_back"
    # The default target now is r1 (the newest release whose deployment there held), never r2.
    again = admin.post(ROLLBACKS, json={"environmentId": dev["id"], "reason": "r0 is too old"})
    assert again.status_code == 201, again.text
    assert again.json()["data"]["releaseId"] == releases["r1"]["id"]
    assert _ended(admin, again.json()["data"]["id"])["state"] == "succeeded"
