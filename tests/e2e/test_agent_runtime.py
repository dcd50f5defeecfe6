"""A real ``shiplane agent run`` process against a real ``shiplane serve``: registration,
heartbeats, health checks, deploys onto a ``local`` target, stickers and drift; an agent
killed mid-task; the task stream's credentials and fencing."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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

from tests import openapi_conformance
from tests.conftest import make_database, run_sql
from tests.servers import Server, clean_env, production_env, shiplane_command, start_server

pytestmark = pytest.mark.slow

SECRET = "agent-e2e-secret-" + "a" * 40
ENCRYPTION_KEY = "agent-e2e-encryption-key-" + "k" * 20
LEASE_SECONDS = 3
MANIFEST = {
    "release": {"id": "rel-1", "name": "shop-1.0.0"},
    "components": [
        {"name": "api", "version": "1.0.0", "digest": "sha256:" + "a" * 64},
        {"name": "web", "version": "2.1.0", "digest": "sha256:" + "b" * 64},
    ],
}
STICKER = {"releaseId": "rel-1", "components": MANIFEST["components"]}


def until(condition: Any, what: str, timeout: float = 60.0) -> Any:
    """Poll ``condition`` until it returns something truthy (bounded; nothing asserts how fast)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Stack:
    server: Server
    url: str
    database_url: str
    tenant: str
    workdir: Path

    def token(self, roles: list[str]) -> str:
        settings = Settings(auth_hs_secret=SECRET)
        return mint_token(settings, user_id="e2e", tenant_id=self.tenant, roles=roles, lifetime_seconds=3600)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(['admin'])}"}
        response = httpx.request(method, f"{self.server.url}{path}", headers=headers, timeout=90, **kwargs)
        openapi_conformance.check(None, method, response)  # held to the OpenAPI document
        return response

    def agent(self, name: str, state_dir: Path, *, token: str | None = None) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"agent-{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(
            [
                *shiplane_command(),
                "agent",
                "run",
                "--server",
                self.server.url,
                "--state-dir",
                str(state_dir),
                "--name",
                name,
                "--label",
                "zone=eu",
                *(["--token", token] if token else []),
            ],
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def agent_id(self, name: str) -> str:
        def find() -> str | None:
            agents = self.call("GET", "/api/v1/agents").json()["data"]
            online = [a["id"] for a in agents if a["name"] == name and a["status"] == "online"]
            return online[0] if online else None

        return str(until(find, f"agent {name} online"))

    def target(self, name: str, agent_id: str, directory: Path, **config: Any) -> str:
        env = self.call("POST", "/api/v1/environments", json={"name": f"env-{name}"}).json()["data"]["id"]
        body = {
            "name": name,
            "environmentId": env,
            "type": "local",
            "agentId": agent_id,
            "config": {"directory": str(directory), **config},
        }
        response = self.call("POST", "/api/v1/targets", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["id"])

    def enqueue(self, agent_id: str, payload: dict[str, Any]) -> str:
        """A task for the agent, as the deployments module will queue one (AgentTasks.enqueue)."""

        async def run() -> str:
            db = Database(self.database_url)
            queue = WorkQueue(db, owner="e2e")
            async with db.session(self.tenant, write=True) as session:
                task_id = await queue.enqueue(session, task_kind(agent_id), payload, max_attempts=5)
            await db.dispose()
            return task_id

        return asyncio.run(run())

    def task(self, task_id: str) -> tuple[str, int, str | None]:
        [(state, epoch, result)] = run_sql(
            self.database_url, "SELECT state, epoch, result FROM work_items WHERE id = :id", {"id": task_id}
        )
        return str(state), int(epoch), None if result is None else str(result)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("agent-e2e")
    for url in make_database(tmp):
        env = production_env(
            url,
            tmp / "data",
            SECRET,
            ENCRYPTION_KEY,
            SHIPLANE_AGENT_TASK_LEASE_SECONDS=str(LEASE_SECONDS),
            # Heartbeats every 2 s, offline after 6 s without one: a stopped agent shows so soon.
            SHIPLANE_AGENT_HEARTBEAT_SECONDS="2",
            SHIPLANE_AGENT_LIVENESS_SECONDS="6",
        )
        server = start_server(env, tmp / "server")
        try:
            yield Stack(server, server.url, url, f"tenant-{uuid.uuid4().hex[:8]}", tmp)
        finally:
            server.stop()


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_register_check_deploy_sticker_and_drift(stack: Stack, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    agent = stack.agent("web-1", state_dir, token=stack.token(["agent-registrar"]))
    try:
        agent_id = stack.agent_id("web-1")
        credential = json.loads((state_dir / "credential.json").read_text())
        assert credential["agentId"] == agent_id and credential["credential"].startswith("shpa.")
        assert (state_dir / "credential.json").stat().st_mode & 0o777 == 0o600
        shown = stack.call("GET", f"/api/v1/agents/{agent_id}").json()["data"]
        assert shown["capabilities"] == ["local", "script", "ssh"] and shown["labels"] == {"zone": "eu"}

        directory = tmp_path / "site"
        directory.mkdir()
        target_id = stack.target("web-1", agent_id, directory)
        checked = stack.call("POST", f"/api/v1/targets/{target_id}/health-check")
        assert checked.status_code == 200, checked.text
        data = checked.json()["data"]
        assert data["state"] == "done" and data["agentId"] == agent_id
        assert data["health"]["status"] == "healthy" and "writable" in data["health"]["message"]
        assert data["report"]["status"] == "unknown"  # nothing deployed, nothing expected yet

        deploy = {"action": "deploy", "targetId": target_id, "manifest": MANIFEST, "sticker": STICKER}
        task_id = stack.enqueue(agent_id, deploy)
        until(lambda: stack.task(task_id)[0] == "done", "the deploy")
        assert (directory / "api.version").read_text() == f"1.0.0 sha256:{'a' * 64}\n"
        sticker = stack.call("GET", f"/api/v1/targets/{target_id}/sticker").json()["data"]
        assert sticker["sticker"] == STICKER and sticker["readAt"]
        assert stack.call("GET", f"/api/v1/targets/{target_id}/drift").json()["data"]["status"] == "in_sync"

        # Someone changes the deployed version by hand: the next check sees it.
        (directory / "api.version").write_text("0.9.0 sha256:" + "c" * 64 + "\n")
        assert stack.call("POST", f"/api/v1/targets/{target_id}/health-check").status_code == 200
        drift = stack.call("GET", f"/api/v1/targets/{target_id}/drift").json()["data"]
        assert drift["status"] == "drifted"
        assert drift["differences"] == [
            {
                "component": "api",
                "expected": {"version": "1.0.0", "digest": "sha256:" + "a" * 64},
                "actual": {"version": "0.9.0", "digest": "sha256:" + "c" * 64},
            }
        ]
        # Drift found is audited once, and the dashboard stream shows it with the agent's status.
        params = {"filter": json.dumps({"action": "target.drift_change"})}
        [found] = stack.call("GET", "/api/v1/audit-events", params=params).json()["data"]
        assert found["resourceId"] == target_id and found["changes"]["after"]["drift"] == "drifted"
        assert found["changes"]["before"] == {"drift": "in_sync"} and found["actor"]["id"] == "shiplane:drift"
        assert stack.call("POST", f"/api/v1/targets/{target_id}/health-check").status_code == 200
        assert len(stack.call("GET", "/api/v1/audit-events", params=params).json()["data"]) == 1  # no change

        async def dashboard() -> list[dict[str, Any]]:
            url = stack.url.replace("http", "ws", 1) + "/api/v1/dashboard/stream"
            headers = {"Authorization": f"Bearer {stack.token(['viewer'])}"}
            seen: list[dict[str, Any]] = []
            async with websockets.connect(url, additional_headers=headers) as ws:
                while not (
                    {"event", "status"} <= {m["type"] for m in seen}
                    and any(m.get("event") == "target.drift_changed" for m in seen)
                ):
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            return seen

        messages = asyncio.run(dashboard())
        [drifted] = [m for m in messages if m.get("event") == "target.drift_changed"]
        assert drifted["resourceId"] == target_id and drifted["data"]["differences"] == drift["differences"]
        statuses = {m["agentId"]: m for m in messages if m["type"] == "status"}
        assert statuses[agent_id]["status"] == "online" and statuses[agent_id]["name"] == "web-1"

        # The agent stops: its status turns offline on the stream once its heartbeats stop.
        stop(agent)

        async def offline() -> dict[str, Any]:
            url = stack.url.replace("http", "ws", 1) + "/api/v1/dashboard/stream"
            headers = {"Authorization": f"Bearer {stack.token(['viewer'])}"}
            async with websockets.connect(url, additional_headers=headers) as ws:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 120))
                    if message.get("agentId") == agent_id and message["status"] == "offline":
                        return message

        assert asyncio.run(offline())["lastHeartbeatAt"]
    finally:
        stop(agent)


def test_a_killed_agent_loses_nothing_and_runs_a_finished_task_once(stack: Stack, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    agent = stack.agent("web-2", state_dir, token=stack.token(["agent-registrar"]))
    runs = tmp_path / "runs.txt"
    try:
        agent_id = stack.agent_id("web-2")
        slow = [sys.executable, "-c", f"import time; open({str(runs)!r}, 'a').write('run\\n'); time.sleep(30)"]
        target_id = stack.target("web-2", agent_id, tmp_path / "site", deployCommand=slow)
        task_id = stack.enqueue(
            agent_id, {"action": "deploy", "targetId": target_id, "manifest": MANIFEST, "sticker": STICKER}
        )
        until(lambda: runs.exists(), "the deploy to start")
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        state, epoch, _ = stack.task(task_id)
        # Its lease still holds: the task is not handed to anyone else meanwhile.
        assert (state, epoch) == ("leased", 1)
        [(expires,)] = run_sql(
            stack.database_url, "SELECT lease_expires_at FROM work_items WHERE id = :id", {"id": task_id}
        )
        assert expires is not None

        # The first run finished before the process died (its record was written, the
        # report was not): the agent answers the re-offer with the recorded result.
        recorded = {
            "outcome": "succeeded",
            "result": {"sticker": STICKER, "observed": {"components": MANIFEST["components"]}},
        }
        (state_dir / "tasks").mkdir(exist_ok=True)
        (state_dir / "tasks" / f"{task_id}.json").write_text(json.dumps(recorded))
        agent = stack.agent("web-2", state_dir)  # the same state directory: no token needed
        until(lambda: stack.task(task_id)[0] == "done", "the task to be re-offered after its lease and finished")
        state, epoch, result = stack.task(task_id)
        assert epoch == 2  # a new lease after the first expired
        assert runs.read_text() == "run\n"  # ran once in total
        assert stack.call("GET", f"/api/v1/targets/{target_id}/sticker").json()["data"]["sticker"] == STICKER
    finally:
        stop(agent)


def test_the_task_stream_takes_only_the_agents_own_credential_and_fences_stale_epochs(
    stack: Stack, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    agent = stack.agent("web-3", state_dir, token=stack.token(["agent-registrar"]))
    try:
        agent_id = stack.agent_id("web-3")
        credential = json.loads((state_dir / "credential.json").read_text())["credential"]
    finally:
        stop(agent)
    other_state = tmp_path / "other"
    other = stack.agent("web-4", other_state, token=stack.token(["agent-registrar"]))
    try:
        other_id = stack.agent_id("web-4")
        other_credential = json.loads((other_state / "credential.json").read_text())["credential"]
    finally:
        stop(other)
    url = stack.server.url.replace("http://", "ws://") + f"/api/v1/agents/{agent_id}/task-stream"

    async def status_of(headers: dict[str, str] | None = None, protocols: list[str] | None = None) -> int:
        try:
            async with websockets.connect(url, additional_headers=headers, subprotocols=protocols, open_timeout=10):  # type: ignore[arg-type]
                return 101
        except websockets.InvalidStatus as exc:
            return int(exc.response.status_code)

    assert asyncio.run(status_of()) == 401
    assert asyncio.run(status_of({"Authorization": "Bearer shpa.x.y"})) == 401
    assert asyncio.run(status_of({"Authorization": f"Bearer {stack.token(['admin'])}"})) == 403
    assert asyncio.run(status_of({"Authorization": f"Bearer {other_credential}"})) == 403
    assert asyncio.run(status_of(protocols=["shiplane.v1", f"bearer.{credential}"])) == 101

    # Fencing: take a task, let its lease run out, answer with the old epoch.
    target_id = stack.target("web-3", agent_id, tmp_path / "site")
    task_id = stack.enqueue(agent_id, {"action": "health-check", "targetId": target_id})

    async def stale_answer() -> dict[str, Any]:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {credential}"}) as ws:
            await ws.send(json.dumps({"type": "hello", "data": {"inFlight": []}}))

            async def next_of(kind: str) -> dict[str, Any]:
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == kind:
                        return dict(message["data"])

            offer = await next_of("task.offer")
            await ws.send(json.dumps({"type": "task.accept", "data": {"taskId": offer["taskId"]}}))
            first = await next_of("task.assign")
            assert first["payload"]["target"]["config"]["directory"] == str(tmp_path / "site")
            # Expired: offered again, and taken again with a new epoch.
            again = await next_of("task.offer")
            assert again["taskId"] == task_id
            await ws.send(json.dumps({"type": "task.accept", "data": {"taskId": task_id}}))
            second = await next_of("task.assign")
            assert second["epoch"] == first["epoch"] + 1
            await ws.send(json.dumps({"type": "task.renew", "data": {"taskId": task_id, "epoch": first["epoch"]}}))
            refused = await next_of("task.rejected")
            result = {"taskId": task_id, "epoch": first["epoch"], "outcome": "succeeded", "result": {}}
            await ws.send(json.dumps({"type": "task.result", "data": result}))
            refused_result = await next_of("task.rejected")
            good = {**result, "epoch": second["epoch"], "result": {"health": {"status": "ok", "message": "fine"}}}
            await ws.send(json.dumps({"type": "task.result", "data": good}))
            return {"renew": refused, "result": refused_result}

    refusals = asyncio.run(stale_answer())
    assert refusals["renew"]["reason"] == "stale epoch" and refusals["result"]["reason"] == "stale epoch"
    until(lambda: stack.task(task_id)[0] == "done", "the task done with the current epoch")
    assert stack.call("GET", f"/api/v1/targets/{target_id}").json()["data"]["health"]["status"] == "healthy"

    # A deleted agent's credential is refused.
    assert stack.call("DELETE", f"/api/v1/agents/{agent_id}").status_code == 204
    assert asyncio.run(status_of({"Authorization": f"Bearer {credential}"})) == 401
    assert other_id != agent_id


def test_a_connected_stream_keeps_its_agent_online_and_hello_updates_it(stack: Stack) -> None:
    registered = stack.call(
        "POST",
        "/api/v1/agents/register",
        json={"name": "streamer", "hostname": "h", "agentVersion": "0.0.1"},
    )
    assert registered.status_code == 201, registered.text
    data = registered.json()["data"]
    agent_id, credential = data["agent"]["id"], data["credential"]
    assert stack.call("GET", f"/api/v1/agents/{agent_id}").json()["data"]["status"] == "offline"
    url = stack.server.url.replace("http://", "ws://") + f"/api/v1/agents/{agent_id}/task-stream"

    async def connected() -> dict[str, Any]:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {credential}"}) as ws:
            hello = {"version": "0.2.0", "capabilities": ["local"], "inFlight": []}
            await ws.send(json.dumps({"type": "hello", "data": hello}))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                shown = await asyncio.to_thread(lambda: stack.call("GET", f"/api/v1/agents/{agent_id}").json()["data"])
                if shown["status"] == "online" and shown["agentVersion"] == "0.2.0":
                    return dict(shown)
                await asyncio.sleep(0.1)
            raise AssertionError("the agent never showed online")

    shown = asyncio.run(connected())  # no HTTP heartbeat was sent
    assert shown["capabilities"] == ["local"]
