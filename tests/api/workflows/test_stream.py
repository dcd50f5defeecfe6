"""WS /workflow-runs/{id}/stream: state changes and log lines in order, replay from ?since=."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import WebSocketDenialResponse

from tests.api.workflows import node, start, template, wait_for
from tests.conftest import Caller


def stream(caller: Caller, run_id: str, since: int = 0, token: str | None = None) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token or caller.token}"}
    messages = []
    with caller.client.websocket_connect(f"/api/v1/workflow-runs/{run_id}/stream?since={since}", headers=headers) as ws:
        while True:
            message = json.loads(ws.receive_text())
            messages.append(message)
            if message["type"] == "end":
                return messages


def test_the_stream_replays_every_event_in_order_and_resumes_from_since(admin: Caller) -> None:
    nodes = [node("one", key=f"{admin.tenant_id}:s1"), node("two", key=f"{admin.tenant_id}:s2", depends=["one"])]
    run = start(admin, template(admin, nodes)["id"])
    live = stream(admin, run["id"])  # connected while the run is going: follows it to the end
    assert live[-1] == {"type": "end", "state": "succeeded"}
    events = live[:-1]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] == 1
    assert {"kind": "log", "nodeId": "one", "line": f"run 1 of {admin.tenant_id}:s1"}.items() <= next(
        e for e in events if e["kind"] == "log" and e["nodeId"] == "one"
    ).items()
    assert [e["state"] for e in events if e["kind"] == "run"] == ["running", "succeeded"]
    step_two = [e["state"] for e in events if e["kind"] == "step" and e["nodeId"] == "two"]
    assert step_two == ["queued", "running", "succeeded"]
    # Reconnecting with the last seq seen gives exactly what came after.
    middle = seqs[len(seqs) // 2]
    again = stream(admin, run["id"], since=middle)
    assert [e["seq"] for e in again[:-1]] == [s for s in seqs if s > middle]
    assert wait_for(admin, run["id"])["state"] == "succeeded"


def test_the_stream_is_refused_without_a_token_for_another_tenant_and_without_permission(
    admin: Caller, other_admin: Caller, make_caller: Any
) -> None:
    run = start(admin, template(admin, [node("one", key=f"{admin.tenant_id}:d1")])["id"])
    path = f"/api/v1/workflow-runs/{run['id']}/stream"
    with pytest.raises(WebSocketDenialResponse) as missing:
        with admin.client.websocket_connect(path):
            pass
    assert missing.value.status_code == 401
    with pytest.raises(WebSocketDenialResponse) as theirs:
        with other_admin.client.websocket_connect(path, headers={"Authorization": f"Bearer {other_admin.token}"}):
            pass
    assert theirs.value.status_code == 404
    registrar = make_caller(["agent-registrar"])
    with pytest.raises(WebSocketDenialResponse) as refused:
        with admin.client.websocket_connect(path, headers={"Authorization": f"Bearer {registrar.token}"}):
            pass
    assert refused.value.status_code == 403
