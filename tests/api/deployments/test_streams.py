"""The deployment-job stream (job and task changes, replay from ?since=) and the tenant's
dashboard stream (its promotions and deployments, nobody else's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import WebSocketDenialResponse

from tests.api.promotions import environment, promote, sealed_release
from tests.api.promotions.test_promotions import finished, jobs_of
from tests.conftest import Caller, CallerFactory, assert_error


def job_stream(caller: Caller, job_id: str, since: int = 0) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {caller.token}"}
    messages = []
    with caller.client.websocket_connect(
        f"/api/v1/deployment-jobs/{job_id}/stream?since={since}", headers=headers
    ) as ws:
        while True:
            message = json.loads(ws.receive_text())
            messages.append(message)
            if message["type"] == "end":
                return messages


def dashboard_until(caller: Caller, stop: Any, since: int = 0, most: int = 200) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {caller.token}"}
    messages: list[dict[str, Any]] = []
    with caller.client.websocket_connect(f"/api/v1/dashboard/stream?since={since}", headers=headers) as ws:
        while len(messages) < most:
            message = json.loads(ws.receive_text())
            if message["type"] != "event":
                continue  # agents' status (tests/e2e/test_agent_runtime.py)
            messages.append(message)
            if stop(messages[-1]):
                return messages
    raise AssertionError(messages)


def _deploy_to_unreachable_targets(caller: Caller, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    release = sealed_release(caller, tmp_path)
    env = environment(caller, "prod", 1)
    for name in ("web-1", "web-2"):
        body = {
            "name": name,
            "environmentId": env["id"],
            "type": "local",
            "config": {"directory": str(tmp_path / name)},
            "agentLabels": {"no": "agent"},
        }
        assert caller.post("/api/v1/targets", json=body).status_code == 201
    promotion = promote(caller, release["id"], env["id"]).json()["data"]
    assert finished(caller, promotion["id"])["state"] == "failed"
    [job] = jobs_of(caller, promotion["id"])
    return promotion, job


def test_the_job_stream_replays_job_and_task_changes_in_order(admin: Caller, tmp_path: Path) -> None:
    _promotion, job = _deploy_to_unreachable_targets(admin, tmp_path)
    messages = job_stream(admin, job["id"])
    assert messages[-1] == {"type": "end", "state": "failed"}
    events = messages[:-1]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["state"] for e in events if e["kind"] == "job"] == ["pending", "running", "failed"]
    for target in {e["targetId"] for e in events if e["kind"] == "task"}:
        states = [e["state"] for e in events if e["kind"] == "task" and e["targetId"] == target]
        assert states == ["queued", "failed"]
        failure = [e for e in events if e["kind"] == "task" and e["targetId"] == target][-1]
        assert "no online agent" in failure["message"]
    again = job_stream(admin, job["id"], since=3)
    assert [e["seq"] for e in again[:-1]] == [e["seq"] for e in events if e["seq"] > 3]


def test_the_job_stream_is_refused_without_a_token_permission_or_tenant(
    admin: Caller, other_admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    _promotion, job = _deploy_to_unreachable_targets(admin, tmp_path)
    path = f"/api/v1/deployment-jobs/{job['id']}/stream"
    for headers, status in (
        ({}, 401),
        ({"Authorization": f"Bearer {make_caller(['agent-registrar']).token}"}, 403),
        ({"Authorization": f"Bearer {other_admin.token}"}, 404),
    ):
        with pytest.raises(WebSocketDenialResponse) as denied:
            with admin.client.websocket_connect(path, headers=headers):
                pass
        assert denied.value.status_code == status
    with pytest.raises(WebSocketDenialResponse) as dashboard:
        with admin.client.websocket_connect("/api/v1/dashboard/stream"):
            pass
    assert dashboard.value.status_code == 401


def test_the_dashboard_shows_the_tenants_pipeline_and_nobody_elses(
    admin: Caller, other_admin: Caller, tmp_path: Path
) -> None:
    promotion, job = _deploy_to_unreachable_targets(admin, tmp_path)
    mine = dashboard_until(admin, lambda m: m["event"] == "promotion.finished")
    kinds = [m["event"] for m in mine]
    assert (
        kinds.index("promotion.requested")
        < kinds.index("deployment_job.started")
        < kinds.index("deployment_job.finished")
        < kinds.index("promotion.finished")
    )
    assert [m["seq"] for m in mine] == sorted(m["seq"] for m in mine)
    finished_job = next(m for m in mine if m["event"] == "deployment_job.finished")
    assert finished_job["resourceId"] == job["id"] and finished_job["data"]["state"] == "failed"
    # Resumes after the last seq seen.
    later = dashboard_until(admin, lambda m: m["event"] == "promotion.finished", since=mine[1]["seq"])
    assert [m["seq"] for m in later] == [m["seq"] for m in mine[2:]]

    theirs_promotion, _ = _deploy_to_unreachable_targets(other_admin, tmp_path / "other")
    theirs = dashboard_until(other_admin, lambda m: m["event"] == "promotion.finished")
    assert all(m["resourceId"] != promotion["id"] and m["resourceId"] != job["id"] for m in theirs)
    assert theirs_promotion["id"] in {m["resourceId"] for m in theirs}


def test_the_dashboard_shows_only_what_the_caller_may_read(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    promotion, job = _deploy_to_unreachable_targets(admin, tmp_path)
    everything = dashboard_until(admin, lambda m: m["event"] == "promotion.finished")
    assert {"deployment_job.started", "deployment_job.finished"} <= {m["event"] for m in everything}
    # promotions:read alone: the promotions' events, none of the deployments'.
    reader = make_caller([], permissions=["promotions:read"])
    seen = dashboard_until(reader, lambda m: m["event"] == "promotion.finished")
    assert seen and {m["event"].split(".")[0] for m in seen} == {"promotion"}
    assert [m["seq"] for m in seen] == [m["seq"] for m in everything if m["event"].startswith("promotion.")]


def test_two_tenants_on_the_same_path_at_the_same_time_see_only_their_own(
    admin: Caller, other_admin: Caller, tmp_path: Path
) -> None:
    """Both tenants promote and deploy at once, each watching its dashboard: neither sees
    the other's objects, events, stream messages or evidence."""
    from concurrent.futures import ThreadPoolExecutor

    def path(caller: Caller, where: Path) -> dict[str, Any]:
        promotion, job = _deploy_to_unreachable_targets(caller, where)
        messages = dashboard_until(caller, lambda m: m["event"] == "promotion.finished")
        return {"promotion": promotion, "job": job, "messages": messages, "stream": job_stream(caller, job["id"])}

    with ThreadPoolExecutor(2) as pool:
        mine_f = pool.submit(path, admin, tmp_path / "a")
        theirs_f = pool.submit(path, other_admin, tmp_path / "b")
        mine, theirs = mine_f.result(timeout=120), theirs_f.result(timeout=120)
    for own, other, caller in ((mine, theirs, admin), (theirs, mine, other_admin)):
        foreign = {other["promotion"]["id"], other["job"]["id"]}
        assert not foreign & {m["resourceId"] for m in own["messages"]}
        assert not foreign & {m.get("resourceId") for m in own["stream"]}
        assert_error(caller.get(f"/api/v1/promotions/{other['promotion']['id']}"), 404, "NOT_FOUND")
        assert_error(caller.get(f"/api/v1/deployment-jobs/{other['job']['id']}"), 404, "NOT_FOUND")
        assert_error(caller.get(f"/api/v1/promotions/{other['promotion']['id']}/evidence"), 404, "NOT_FOUND")
        listed = {
            "promotions": {p["id"] for p in caller.get("/api/v1/promotions").json()["data"]},
            "jobs": {j["id"] for j in caller.get("/api/v1/deployment-jobs").json()["data"]},
            "packets": {p["deploymentJobId"] for p in caller.get("/api/v1/evidence-packets").json()["data"]},
        }
        assert listed["promotions"] == {own["promotion"]["id"]} and listed["jobs"] == {own["job"]["id"]}
        assert listed["packets"] == {None, own["job"]["id"]}
        headers = {"Authorization": f"Bearer {caller.token}"}
        with pytest.raises(WebSocketDenialResponse) as denied:  # another tenant's job: 404, not empty
            with caller.client.websocket_connect(
                f"/api/v1/deployment-jobs/{other['job']['id']}/stream", headers=headers
            ):
                pass
        assert denied.value.status_code == 404
