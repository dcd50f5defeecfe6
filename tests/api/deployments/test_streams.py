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
from tests.conftest import Caller, CallerFactory


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
            messages.append(json.loads(ws.receive_text()))
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
