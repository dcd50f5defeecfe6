"""Workflow templates and runs through the API, with the test-record step type (test-events plugin)."""

from __future__ import annotations

import time
from typing import Any

from tests.api.plugins import enable
from tests.conftest import Caller

TEMPLATES = "/api/v1/workflow-templates"
RUNS = "/api/v1/workflow-runs"
TERMINAL = ("succeeded", "failed", "cancelled")


def node(node_id: str, key: str | None = None, *, depends: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    config = fields.pop("config") if "config" in fields else {"key": key or node_id}
    return {
        "id": node_id,
        "type": fields.pop("type", "test-record"),
        "config": config,
        "dependsOn": depends or [],
        **fields,
    }


def template(caller: Caller, nodes: list[dict[str, Any]], name: str = "flow", **fields: Any) -> dict[str, Any]:
    enable(caller, "test-events")
    response = caller.post(TEMPLATES, json={"name": name, "nodes": nodes, **fields})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def start(caller: Caller, template_id: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    response = caller.post(RUNS, json={"templateId": template_id, "inputs": inputs or {}})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def wait_for(caller: Caller, run_id: str, states: tuple[str, ...] = TERMINAL, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = caller.get(f"{RUNS}/{run_id}").json()["data"]
        if run["state"] in states or time.monotonic() > deadline:
            assert run["state"] in states, run
            return run
        time.sleep(0.05)


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["nodeId"]: s for s in run["steps"]}
