"""The server is killed with SIGKILL mid-run; after a restart the run finishes.

Two steps are running when the process dies: an idempotent one runs again and
completes once, a non-idempotent one fails with the reason and never runs again, and
the log line acknowledged before the crash is still there. Side effects are counted
in a file the steps append to when they complete.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests.conftest import make_database
from tests.servers import production_env, start_server

pytestmark = pytest.mark.slow

SECRET = "crash-secret-" + "c" * 40
ENCRYPTION_KEY = "crash-encryption-key-" + "k" * 20
TENANT = "crash-tenant"


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_survives_a_sigkill_without_running_a_step_twice(tmp_path: Path) -> None:
    token = mint_token(Settings(auth_hs_secret=SECRET), user_id="ops", tenant_id=TENANT, roles=["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    effects = tmp_path / "effects.txt"
    (tmp_path / "db").mkdir()
    for url in make_database(tmp_path / "db"):
        _scenario(url, tmp_path, headers, effects)


def _scenario(url: str, tmp_path: Path, headers: dict[str, str], effects: Path) -> None:
    env = production_env(
        url,
        tmp_path / "data",
        SECRET,
        ENCRYPTION_KEY,
        PYTHONPATH=os.environ["SHIPLANE_TEST_PLUGIN_SITE"],
        SHIPLANE_WORKFLOW_LEASE_SECONDS="3",
    )
    first = start_server(env, tmp_path / "servers", name="first")
    try:
        api = httpx.Client(base_url=first.url, headers=headers, timeout=30)
        assert api.post("/api/v1/plugins/test-events/enable").status_code == 200
        record = {"file": str(effects)}
        nodes = [
            {"id": "prep", "type": "test-record", "config": {"key": "prep", **record}},
            {
                "id": "again",
                "type": "test-record",
                "config": {"key": "again", "sleep": 4, **record},
                "dependsOn": ["prep"],
            },
            {
                "id": "once",
                "type": "test-once",
                "config": {"key": "once", "sleep": 4, **record},
                "dependsOn": ["prep"],
                "onFailure": "continue",
            },
            {
                "id": "after",
                "type": "test-record",
                "config": {"key": "after", **record},
                "dependsOn": ["again", "once"],
            },
        ]
        created = api.post("/api/v1/workflow-templates", json={"name": "crash", "nodes": nodes})
        assert created.status_code == 201, created.text
        run = api.post("/api/v1/workflow-runs", json={"templateId": created.json()["data"]["id"]}).json()["data"]

        def both_running() -> bool:
            shown = api.get(f"/api/v1/workflow-runs/{run['id']}").json()["data"]
            states = {s["nodeId"]: s["state"] for s in shown["steps"]}
            return states["again"] == "running" and states["once"] == "running"

        _wait(both_running, 60, "both slow steps to run")
        # The step's first log line is acknowledged (written) before the crash.
        logs = lambda: api.get(f"/api/v1/workflow-runs/{run['id']}/steps/again/logs").json()["data"]["lines"]  # noqa: E731
        acknowledged = _wait(logs, 10, "the first log line")
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()

    second = start_server(env, tmp_path / "servers", name="second")
    try:
        api = httpx.Client(base_url=second.url, headers=headers, timeout=30)

        def finished() -> dict[str, Any] | None:
            shown = api.get(f"/api/v1/workflow-runs/{run['id']}").json()["data"]
            return shown if shown["state"] in ("succeeded", "failed", "cancelled") else None

        done = _wait(finished, 90, "the run to finish after the restart")
        states = {s["nodeId"]: s for s in done["steps"]}
        assert done["state"] == "succeeded", done
        assert states["again"]["state"] == "succeeded" and states["again"]["attempt"] == 2
        assert states["once"]["state"] == "failed"
        assert "not idempotent" in states["once"]["message"] and "not run again" in states["once"]["message"]
        assert states["after"]["state"] == "succeeded"
        completed = [line.split()[0] for line in effects.read_text().splitlines()]
        assert sorted(completed) == ["after", "again", "prep"]  # each completed once; `once` never
        lines = api.get(f"/api/v1/workflow-runs/{run['id']}/steps/again/logs").json()["data"]["lines"]
        assert lines[0]["line"] == acknowledged[0]["line"] == "run 1 of again"
    finally:
        second.stop()
