"""Three ``shiplane worker`` processes share 200 concurrent runs of a 20-node DAG on
PostgreSQL: every node of every run completes exactly once, counted by side effects
(each completion appends a line to one file)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests.conftest import make_database
from tests.servers import production_env, shiplane_command, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET = "workers-secret-" + "w" * 40
ENCRYPTION_KEY = "workers-encryption-key-" + "k" * 20
RUN_COUNT = 200
NODE_COUNT = 20


def dag(effects: Path) -> list[dict[str, Any]]:
    """n0 first; each later node depends on one or two earlier ones; n19 joins several."""
    nodes = []
    for i in range(NODE_COUNT):
        if i == 0:
            depends: list[str] = []
        elif i == NODE_COUNT - 1:
            depends = [f"n{j}" for j in range(NODE_COUNT - 6, NODE_COUNT - 1)]
        else:
            depends = sorted({f"n{(i - 1) // 2}", f"n{max(0, i - 3)}"})
        config = {"key": f"${{{{ run.id }}}}:n{i}", "file": str(effects)}
        nodes.append({"id": f"n{i}", "type": "test-record", "config": config, "dependsOn": depends})
    return nodes


@pytest.mark.skipif(not os.environ.get("SHIPLANE_TEST_DATABASE_URL"), reason="needs SHIPLANE_TEST_DATABASE_URL")
def test_three_workers_complete_every_node_of_200_runs_exactly_once(tmp_path: Path) -> None:
    token = mint_token(Settings(auth_hs_secret=SECRET), user_id="ops", tenant_id="workers", roles=["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    effects = tmp_path / "effects.txt"
    for url in make_database(tmp_path):
        env = production_env(
            url,
            tmp_path / "data",
            SECRET,
            ENCRYPTION_KEY,
            PYTHONPATH=os.environ["SHIPLANE_TEST_PLUGIN_SITE"],
            SHIPLANE_PLUGINS_IN_PROCESS='["test-events"]',
        )
        api_env = {**env, "SHIPLANE_WORKFLOW_ENGINE_ENABLED": "false"}
        server = start_server(api_env, tmp_path / "servers", name="api")
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for index in range(3):
                log = open(tmp_path / f"worker{index}.log", "w")  # noqa: SIM115 - closed with the process
                workers.append(
                    subprocess.Popen([*shiplane_command(), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
                )
            api = httpx.Client(base_url=server.url, headers=headers, timeout=60)
            assert api.post("/api/v1/plugins/test-events/enable").status_code == 200
            created = api.post("/api/v1/workflow-templates", json={"name": "dag", "nodes": dag(effects)})
            assert created.status_code == 201, created.text
            template_id = created.json()["data"]["id"]

            def start(_: int, base: str = server.url, template_id: str = template_id) -> str:
                with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                    response = client.post("/api/v1/workflow-runs", json={"templateId": template_id})
                    assert response.status_code == 201, response.text
                    return str(response.json()["data"]["id"])

            with ThreadPoolExecutor(max_workers=8) as pool:
                run_ids = list(pool.map(start, range(RUN_COUNT)))

            deadline = time.monotonic() + 900
            while True:
                active = api.get(
                    "/api/v1/workflow-runs",
                    params={"filter": '{"state": {"$in": ["running", "cancelling"]}}', "pageSize": 1},
                ).json()["meta"]["pagination"]["totalItems"]
                if active == 0:
                    break
                assert time.monotonic() < deadline, f"{active} runs still active"
                assert all(w.poll() is None for w in workers), "a worker died"
                time.sleep(1)
            states = Counter()
            page: dict[str, Any] = {"pageSize": 100}
            while True:
                body = api.get("/api/v1/workflow-runs", params=page).json()
                states.update(run["state"] for run in body["data"])
                cursor = body["meta"]["pagination"].get("nextCursor")
                if not cursor:
                    break
                page = {"pageSize": 100, "cursor": cursor}
            assert states == {"succeeded": RUN_COUNT}, states
            completions = Counter(line.split()[0] for line in effects.read_text().splitlines())
            expected = {f"{run_id}:n{i}" for run_id in run_ids for i in range(NODE_COUNT)}
            assert set(completions) == expected
            assert set(completions.values()) == {1}, [k for k, v in completions.items() if v > 1][:5]
            # The work was shared: every worker completed steps.
            pids = Counter(line.split()[1] for line in effects.read_text().splitlines())
            assert len(pids) == 3, pids
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
            server.stop()
