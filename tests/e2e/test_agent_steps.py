"""The workflow steps that work through agents, end to end: a real ``shiplane serve`` (the
engine on) and real ``shiplane agent run`` processes. ``script`` runs commands on the
agent named (its output, exit code, env with secrets masked, cancellation), and
``health-check`` runs a target's check on its agent."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.agents import test_script_tasks as scripts
from tests.api.agents.test_script_tasks import Stack, alive, stop, until

stack = scripts.stack  # the fixture: a server and real agents

pytestmark = pytest.mark.slow

TOKEN = "tok-0123456789-very-secret"


def flow(stack: Stack, name: str, nodes: list[dict[str, Any]]) -> str:
    created = stack.call("POST", "/api/v1/workflow-templates", json={"name": name, "nodes": nodes})
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["id"])


def start(stack: Stack, template_id: str) -> str:
    started = stack.call("POST", "/api/v1/workflow-runs", json={"templateId": template_id})
    assert started.status_code == 201, started.text
    return str(started.json()["data"]["id"])


def finished(stack: Stack, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = stack.call("GET", f"/api/v1/workflow-runs/{run_id}").json()["data"]
        return run if run["state"] in ("succeeded", "failed", "cancelled") else None

    return dict(until(done, f"run {run_id} finished", timeout=120))


def by_node(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["nodeId"]: s for s in run["steps"]}


def test_script_steps_run_on_the_named_agent(stack: Stack) -> None:
    nodes = [
        {
            "id": "hello",
            "type": "script",
            "config": {
                "command": 'echo "hi $GREETING"; echo "token=$TOKEN"; echo "$UNRELATED_AGENT_VAR-"',
                "agent": "runner",
                "env": {"GREETING": "there"},
                "secretEnv": {"TOKEN": TOKEN},
            },
        },
        {
            "id": "fails",
            "type": "script",
            "config": {"command": ["sh", "-c", "echo failing; exit 4"], "agent": stack.agent_id},
            "onFailure": "continue",
        },
        {"id": "refused", "type": "script", "config": {"command": "true", "agent": "refuser"}, "onFailure": "continue"},
        {"id": "nowhere", "type": "script", "config": {"command": "true"}, "onFailure": "continue"},
    ]
    template_id = flow(stack, "scripts", nodes)
    shown = stack.call("GET", f"/api/v1/workflow-templates/{template_id}").text
    assert TOKEN not in shown  # secretEnv is writeOnly: sealed, shown masked
    run_id = start(stack, template_id)
    run = finished(stack, run_id)
    steps = by_node(run)
    hello = steps["hello"]
    assert hello["state"] == "succeeded", hello
    assert hello["outputs"]["exitCode"] == 0 and hello["outputs"]["agentId"] == stack.agent_id
    assert hello["outputs"]["output"] == "hi there\ntoken=***\n-\n"
    logs = stack.call("GET", f"/api/v1/workflow-runs/{run_id}/steps/hello/logs").json()["data"]
    assert [line["line"] for line in logs["lines"]] == ["hi there", "token=***", "-"]
    for text in (
        stack.call("GET", f"/api/v1/workflow-runs/{run_id}").text,
        stack.call("GET", f"/api/v1/workflow-runs/{run_id}/steps/hello/logs").text,
        stack.call("GET", "/api/v1/audit-events").text,
    ):
        assert TOKEN not in text
    # What the agent reported is stored masked too (the work item's result, its log lines).
    stored = scripts.run_sql(stack.database_url, "SELECT result FROM work_items WHERE kind LIKE 'agent:%'", {})
    assert any("token=***" in str(row[0]) for row in stored), stored
    assert all(TOKEN not in str(row[0]) for row in stored)

    assert steps["fails"]["state"] == "failed" and steps["fails"]["message"] == "exit code 4"
    assert steps["fails"]["outputs"]["exitCode"] == 4 and steps["fails"]["outputs"]["output"] == "failing\n"
    assert steps["refused"]["state"] == "failed" and "does not run scripts" in steps["refused"]["message"]
    # The production server has no local agent: a script naming no agent says so.
    assert steps["nowhere"]["state"] == "failed" and "no local agent" in steps["nowhere"]["message"]
    assert run["state"] == "succeeded"  # every failure was onFailure: continue


def test_cancelling_the_run_stops_the_script_on_the_agent(stack: Stack, tmp_path: Path) -> None:
    marker = tmp_path / "should-never-exist"
    nodes = [
        {
            "id": "long",
            "type": "script",
            "config": {"command": f"echo started; sleep 20; touch {marker}", "agent": "runner"},
        }
    ]
    run_id = start(stack, flow(stack, "long-script", nodes))

    def running() -> bool:
        step = stack.call("GET", f"/api/v1/workflow-runs/{run_id}/steps/long").json()["data"]
        return bool(step["state"] == "running")

    until(running, "the script step running")
    time.sleep(1.0)  # the agent has the task
    assert stack.call("POST", f"/api/v1/workflow-runs/{run_id}/cancel").status_code == 200
    run = finished(stack, run_id)
    assert run["state"] == "cancelled" and by_node(run)["long"]["state"] == "cancelled"
    time.sleep(2.0)
    assert not marker.exists()


def test_a_health_check_step_runs_the_targets_check_on_its_agent(stack: Stack, tmp_path: Path) -> None:
    env = stack.call("POST", "/api/v1/environments", json={"name": "hc", "displayName": "HC", "order": 7})
    assert env.status_code == 201, env.text
    env_id = env.json()["data"]["id"]
    present = tmp_path / "present"
    present.mkdir()
    for name, directory in (("web-ok", present), ("web-gone", tmp_path / "gone")):
        target = stack.call(
            "POST",
            "/api/v1/targets",
            json={
                "name": name,
                "environmentId": env_id,
                "type": "local",
                "config": {"directory": str(directory)},
                "agentId": stack.agent_id,
            },
        )
        assert target.status_code == 201, target.text
    nodes = [
        {"id": "ok", "type": "health-check", "config": {"target": "web-ok"}},
        {"id": "gone", "type": "health-check", "config": {"target": "web-gone"}, "onFailure": "continue"},
        {"id": "unknown", "type": "health-check", "config": {"target": "no-such"}, "onFailure": "continue"},
    ]
    run = finished(stack, start(stack, flow(stack, "checks", nodes)))
    steps = by_node(run)
    assert steps["ok"]["state"] == "succeeded", steps["ok"]
    assert steps["ok"]["outputs"]["status"] == "healthy"
    assert steps["gone"]["state"] == "failed" and "unhealthy" in steps["gone"]["message"]
    assert "missing" in steps["gone"]["message"]
    assert steps["unknown"]["state"] == "failed" and "no-such" in steps["unknown"]["message"]
    # The check's result is the target's health, as the targets API shows it.
    targets = {t["name"]: t for t in stack.call("GET", "/api/v1/targets").json()["data"]}
    assert targets["web-ok"]["health"]["status"] == "healthy"
    assert targets["web-gone"]["health"]["status"] == "unhealthy"


def test_an_agent_stopped_with_sigterm_stops_its_script(stack: Stack, tmp_path: Path) -> None:
    agent = stack.start_agent("short-lived")
    try:
        agent_id = stack.online("short-lived")
        pidfile, marker = tmp_path / "pid", tmp_path / "marker"
        command = f"echo $$ > {pidfile}; sleep 30; touch {marker}"
        waiter = threading.Thread(
            target=lambda: stack.run({"command": command}, agent_id=agent_id, timeout=40), daemon=True
        )
        waiter.start()
        pid = int(until(lambda: pidfile.exists() and pidfile.read_text().strip(), "the script started"))
        assert alive(pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        until(lambda: not alive(pid), "the script stopped with its agent", timeout=15)
        assert not marker.exists()
    finally:
        stop(agent)
