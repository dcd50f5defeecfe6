"""Two ``shiplane serve`` processes on one database, one agent holding a stream to each
(a reconnect race, a duplicated agent): every one of 400 tasks is handed out once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from shiplane.agents.tasks import task_kind
from shiplane.engine.queue import WorkQueue
from shiplane.platform.database import Database
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests.conftest import make_database, run_sql
from tests.servers import Server, production_env, running_servers

pytestmark = pytest.mark.slow

SECRET = "dispatch-cluster-secret-" + "d" * 40
ENCRYPTION_KEY = "dispatch-cluster-key-" + "k" * 20
TASKS = 400  # enough offers for the two streams to race on each other many times


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Server], str]]:
    tmp = tmp_path_factory.mktemp("dispatch-cluster")
    for url in make_database(tmp):
        env = production_env(url, tmp / "data", SECRET, ENCRYPTION_KEY)
        with running_servers(2, env, tmp / "servers") as servers:
            yield servers, url


def test_two_servers_hand_each_task_to_one_stream_once(cluster: tuple[list[Server], str], tmp_path: Path) -> None:
    servers, url = cluster
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    token = mint_token(Settings(auth_hs_secret=SECRET), user_id="e2e", tenant_id=tenant, roles=["admin"])
    registered = httpx.post(
        f"{servers[0].url}/api/v1/agents/register",
        json={"name": "twin", "hostname": "h", "agentVersion": "0"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["data"]
    agent_id, credential = registered["agent"]["id"], registered["credential"]
    target = httpx.post(
        f"{servers[0].url}/api/v1/environments", json={"name": "prod"}, headers={"Authorization": f"Bearer {token}"}
    ).json()["data"]
    target_id = httpx.post(
        f"{servers[0].url}/api/v1/targets",
        json={"name": "t", "environmentId": target["id"], "type": "local", "config": {"directory": str(tmp_path)}},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["data"]["id"]
    assigned: list[str] = []

    async def hold(server: Server, stop: asyncio.Event) -> None:
        """Accept every offer, report every assignment at once (a side effect per assignment)."""
        stream = server.url.replace("http://", "ws://") + f"/api/v1/agents/{agent_id}/task-stream"
        async with websockets.connect(stream, additional_headers={"Authorization": f"Bearer {credential}"}) as ws:
            await ws.send(json.dumps({"type": "hello", "data": {"inFlight": []}}))
            while not stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                data: dict[str, Any] = message["data"]
                if message["type"] == "task.offer":
                    await ws.send(json.dumps({"type": "task.accept", "data": {"taskId": data["taskId"]}}))
                elif message["type"] == "task.assign":
                    assigned.append(data["taskId"])
                    result = {"taskId": data["taskId"], "epoch": data["epoch"], "outcome": "succeeded", "result": {}}
                    await ws.send(json.dumps({"type": "task.result", "data": result}))

    async def run() -> None:
        stop = asyncio.Event()
        holders = [asyncio.create_task(hold(server, stop)) for server in servers]
        await asyncio.sleep(0.5)
        db = Database(url)
        queue = WorkQueue(db, owner="e2e")
        for _chunk in range(TASKS // 100):
            async with db.session(tenant, write=True) as session:
                for _ in range(100):
                    await queue.enqueue(session, task_kind(agent_id), {"action": "health-check", "targetId": target_id})
        await db.dispose()
        for _ in range(600):
            query = f"SELECT count(*) FROM work_items WHERE kind = '{task_kind(agent_id)}' AND state = 'done'"
            done = await asyncio.to_thread(run_sql, url, query)
            if done[0][0] == TASKS:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*holders)

    asyncio.run(run())
    counts = Counter(assigned)
    assert len(counts) == TASKS
    assert set(counts.values()) == {1}, [t for t, n in counts.items() if n > 1][:5]
    epochs = run_sql(url, f"SELECT DISTINCT epoch FROM work_items WHERE kind = '{task_kind(agent_id)}'")
    assert epochs == [(1,)]
    metrics = "\n".join(httpx.get(f"{s.url}/metrics").text for s in servers)
    assigned_total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('shiplane_agent_tasks_total{event="assigned"}')
    )
    assert assigned_total == TASKS  # every assignment counted once, across both processes
