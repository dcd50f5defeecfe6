"""Deployment jobs through the API: what a promotion's deployment left, readable in its
tenant only. (The deployments themselves, with real agents: tests/e2e/test_deployments.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.promotions import environment, promote, sealed_release
from tests.api.promotions.test_promotions import finished, jobs_of
from tests.conftest import Caller, assert_error

JOBS = "/api/v1/deployment-jobs"


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
    assert [a["name"] for a in artifacts] == ["manifest.json", "stickers.json"]
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
