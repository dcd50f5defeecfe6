"""Retention policies: evidence packets, logs and artifacts older than the tenant's policy
are pruned (and the pruning is audited); recent ones, other tenants' and the audit chain
are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.promotions import environment, promote, sealed_release
from tests.api.promotions.test_promotions import finished, jobs_of
from tests.conftest import Caller, assert_error, run_sql

POLICY = "/api/v1/retention-policy"


def test_what_is_older_than_the_policy_is_pruned_and_audited(
    admin: Caller,
    other_admin: Caller,
    viewer: Caller,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shiplane.retention import service

    monkeypatch.setattr(service, "BATCH", 2)  # several transactions per kind (5,000 in production)
    shown = viewer.get(POLICY).json()["data"]
    assert shown["evidenceDays"] is None and shown["auditChain"] == "kept whole (never pruned)"
    assert_error(viewer.put(POLICY, json={"evidenceDays": 30}), 403, "FORBIDDEN")
    for bad in ({"evidenceDays": 0}, {"logsDays": 40_000}, {"artifactsDays": "7"}, {"auditDays": 7}):
        assert_error(admin.put(POLICY, json=bad), 400, "VALIDATION_ERROR")

    dev = environment(admin, "dev", 1)
    old = promote(admin, sealed_release(admin, tmp_path, "old")["id"], dev["id"]).json()["data"]
    assert finished(admin, old["id"])["state"] == "succeeded"
    [old_job] = jobs_of(admin, old["id"])
    new = promote(admin, sealed_release(admin, tmp_path, "new")["id"], dev["id"]).json()["data"]
    assert finished(admin, new["id"])["state"] == "succeeded"
    # Someone else's old evidence: theirs to keep.
    other_dev = environment(other_admin, "dev", 1)
    theirs = promote(other_admin, sealed_release(other_admin, tmp_path, "theirs")["id"], other_dev["id"]).json()["data"]
    assert finished(other_admin, theirs["id"])["state"] == "succeeded"

    # Age the first promotion's records by 40 days.
    aged = datetime.now(UTC) - timedelta(days=40)
    for promotion_id in (old["id"], theirs["id"]):
        run_sql(
            database_url,
            "UPDATE evidence_packets SET created_at = :t WHERE promotion_id = :p",
            {"t": aged, "p": promotion_id},
        )
    run_sql(
        database_url,
        "UPDATE deployment_artifacts SET created_at = :t WHERE job_id = :j",
        {"t": aged, "j": old_job["id"]},
    )
    run_sql(
        database_url, "UPDATE workflow_events SET at = :t WHERE run_id = :r", {"t": aged, "r": old_job["workflowRunId"]}
    )
    events_before = admin.get("/api/v1/audit-events", params={"pageSize": 1}).json()["meta"]["pagination"]["totalItems"]

    assert admin.put(POLICY, json={"evidenceDays": 30, "logsDays": 30, "artifactsDays": 30}).status_code == 200
    pruned = admin.post(f"{POLICY}/prune")
    assert pruned.status_code == 200, pruned.text
    removed = pruned.json()["data"]["removed"]
    assert removed["evidencePackets"] == 2 and removed["deploymentArtifacts"] == 3 and removed["workflowLogLines"] > 0
    # Kept: the recent promotion's packets, the other tenant's old one, the whole audit chain.
    assert len(admin.get(f"/api/v1/promotions/{new['id']}/evidence").json()["data"]) == 2
    assert admin.get(f"/api/v1/promotions/{old['id']}/evidence").json()["data"] == []
    assert len(other_admin.get(f"/api/v1/promotions/{theirs['id']}/evidence").json()["data"]) == 2
    assert admin.get(f"/api/v1/deployment-jobs/{old_job['id']}/artifacts").json()["data"] == []
    events = admin.get("/api/v1/audit-events", params={"filter": json.dumps({"action": "retention.prune"})}).json()
    [event] = [e for e in events["data"] if e["outcome"] == "success"]
    assert event["changes"]["after"]["removed"] == removed and event["actor"]["id"] == admin.user_id
    events_after = admin.get("/api/v1/audit-events", params={"pageSize": 1}).json()["meta"]["pagination"]["totalItems"]
    assert events_after > events_before  # nothing of the chain was removed
    assert viewer.get(POLICY).json()["data"]["lastPruned"]["removed"] == removed
    # Nothing older is left: a second pruning removes nothing and is not audited again.
    again = admin.post(f"{POLICY}/prune").json()["data"]["removed"]
    assert not any(again.values())
