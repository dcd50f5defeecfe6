"""Audit streaming to SIEM sinks: every audit event, in order, at least once, with the
chain hash a receiver verifies; a sink that is down is retried and holds nothing up.
(The real sinks, Splunk HEC and syslog: plugins/siem/tests.)"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from tests.api.plugins import enable
from tests.conftest import Caller, assert_error

ENVIRONMENTS = "/api/v1/environments"


def received(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def test_every_audit_event_reaches_the_sink_in_order_and_the_chain_verifies(
    admin: Caller, other_admin: Caller, tmp_path: Path
) -> None:
    enable(admin, "test-events")
    sink = tmp_path / "siem.jsonl"
    for n in range(3):
        assert admin.post(ENVIRONMENTS, json={"name": f"env-{n}", "order": n + 1}).status_code == 201
    made = admin.post(
        "/api/v1/integrations", json={"name": "siem", "typeId": "test-file-siem", "config": {"file": str(sink)}}
    )
    assert made.status_code == 201, made.text
    head = admin.get("/api/v1/audit-events", params={"pageSize": 1}).json()["data"][0]["sequence"]
    records = wait_for("the history delivered", lambda: (r := received(sink)) and r[-1]["sequence"] >= head and r)
    assert [r["sequence"] for r in records] == list(range(1, len(records) + 1))  # from the start, in order
    previous = "0" * 64
    for record in records:  # the receiver's check of the chain
        assert record["prevHash"] == previous
        assert hashlib.sha256((record["prevHash"] + record["canonical"]).encode()).hexdigest() == record["hash"]
        assert json.loads(record["canonical"])["sequence"] == record["sequence"]
        previous = record["hash"]
    assert {r["tenantId"] for r in records} == {admin.tenant_id}  # another tenant's events never

    # The sink goes down: requests go on, nothing is lost, delivery resumes in order.
    (tmp_path / "down").write_text("")
    for n in range(3, 6):
        assert admin.post(ENVIRONMENTS, json={"name": f"env-{n}", "order": n + 1}).status_code == 201
    time.sleep(1)
    assert len(received(sink)) == len(records)
    status = admin.get(f"/api/v1/integrations/{made.json()['data']['id']}/audit-stream").json()["data"]
    assert status["behind"] >= 3 and "down" in status["lastError"]
    (tmp_path / "down").unlink()
    head = admin.get("/api/v1/audit-events", params={"pageSize": 1}).json()["data"][0]["sequence"]
    later = wait_for("delivery resumed", lambda: (r := received(sink)) and r[-1]["sequence"] >= head and r, 90)
    sequences = [r["sequence"] for r in later]
    assert sorted(set(sequences)) == list(range(1, head + 1))  # every event, at least once
    assert sequences == sorted(sequences)  # in order
    assert_error(other_admin.get(f"/api/v1/integrations/{made.json()['data']['id']}/audit-stream"), 404, "NOT_FOUND")
