"""The host agent: ``shiplane agent run --server URL --token T``.

It registers once with a registration token and keeps its credential in its state
directory (file mode 0600), heartbeats, and holds its task stream, reconnecting with
jittered exponential backoff. Tasks run the installed target-type plugins on this
machine (a third-party plugin in its worker processes, as on the server). Every
finished task's result is written to the state directory before it is reported, so a
task offered again after a crash or a lost connection is answered with the recorded
result instead of running twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from shiplane import __version__
from shiplane.platform.secrets import secret_values
from shiplane.platform.settings import Settings
from shiplane.plugins.manager import PluginRegistry

log = logging.getLogger("shiplane.agent")

PROTOCOL = "shiplane.v1"
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class AgentContext:
    """The TargetContext a target type gets on the agent."""

    tenant_id: str
    target: dict[str, Any]
    send_log: Any
    cancelled: bool = False
    lines: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.send_log(str(line))

    def is_cancelled(self) -> bool:
        return self.cancelled


class AgentRuntime:
    def __init__(
        self,
        server: str,
        state_dir: Path,
        *,
        token: str | None = None,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        credential: tuple[str, str] | None = None,
        registry: PluginRegistry | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.state_dir = state_dir
        self.registration_token = token
        self.name = name or socket.gethostname().lower().split(".")[0]
        self.labels = labels or {}
        # (agent id, credential) given by the server for its in-process agent.
        self.agent_id: str | None = credential[0] if credential else None
        self.credential: str | None = credential[1] if credential else None
        self.heartbeat_seconds = 10.0
        self.registry: PluginRegistry | None = registry
        self.running: dict[str, asyncio.Task[None]] = {}
        self.websocket: Any = None
        # Tasks assigned and not yet reported: their epochs (sent in hello on reconnect).
        self._in_flight_epochs: dict[str, int] = {}

    # -- state ------------------------------------------------------------------------------------

    @property
    def credential_file(self) -> Path:
        return self.state_dir / "credential.json"

    def _tasks_dir(self) -> Path:
        path = self.state_dir / "tasks"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def recorded(self, task_id: str) -> dict[str, Any] | None:
        path = self._tasks_dir() / f"{task_id}.json"
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return None

    def record(self, task_id: str, report: dict[str, Any]) -> None:
        path = self._tasks_dir() / f"{task_id}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(report))
        os.replace(temporary, path)

    def _private_write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        os.chmod(path, 0o600)

    # -- registration and heartbeats --------------------------------------------------------------

    async def ensure_registered(self, client: httpx.AsyncClient) -> None:
        if self.credential is not None:
            return
        if self.credential_file.exists():
            saved = json.loads(self.credential_file.read_text())
            self.credential, self.agent_id = saved["credential"], saved["agentId"]
            return
        if not self.registration_token:
            raise SystemExit("no credential in the state directory: pass --token with a registration token")
        body = {
            "name": self.name,
            "hostname": socket.gethostname()[:255],
            "agentVersion": __version__,
            "capabilities": self.capabilities(),
            "labels": self.labels,
        }
        response = await client.post(
            f"{self.server}/api/v1/agents/register",
            json=body,
            headers={"Authorization": f"Bearer {self.registration_token}"},
        )
        if response.status_code != 201:
            raise SystemExit(f"registration failed: {response.status_code} {response.text}")
        data = response.json()["data"]
        self.credential, self.agent_id = data["credential"], data["agent"]["id"]
        self.heartbeat_seconds = float(data.get("heartbeatSeconds", self.heartbeat_seconds))
        self._private_write(self.credential_file, json.dumps({"agentId": self.agent_id, "credential": self.credential}))
        log.info("registered", extra={"agent": self.agent_id})

    def capabilities(self) -> list[str]:
        registry = self.plugins()
        return sorted(registry.capabilities.get("target_type", {}))

    def plugins(self) -> PluginRegistry:
        if self.registry is None:
            settings = Settings(
                mode="development",
                data_dir=self.state_dir,
                database_url=f"sqlite+aiosqlite:///{self.state_dir}/unused.db",
                plugin_health_probe_seconds=0,
            )
            self.registry = PluginRegistry(settings).load()
        return self.registry

    async def heartbeat_forever(self, client: httpx.AsyncClient) -> None:
        """HTTP heartbeats while the task stream is down; a connected stream is the server's
        sign of life (it records it for every connected agent at once)."""
        while True:
            if self.websocket is not None:
                await asyncio.sleep(self.heartbeat_seconds)
                continue
            try:
                response = await client.post(
                    f"{self.server}/api/v1/agents/{self.agent_id}/heartbeat",
                    json={"agentVersion": __version__, "capabilities": self.capabilities()},
                    headers={"Authorization": f"Bearer {self.credential}"},
                )
                if response.status_code == 401:
                    raise SystemExit("the server refused this agent's credential (was the agent deleted?)")
                if response.status_code == 200:
                    self.heartbeat_seconds = float(response.json()["data"].get("heartbeatSeconds", 10))
            except httpx.HTTPError as exc:
                log.warning("heartbeat failed", extra={"error": str(exc)})
            await asyncio.sleep(self.heartbeat_seconds)

    # -- the task stream --------------------------------------------------------------------------

    async def stream_forever(self) -> None:
        attempt = 0
        url = self.server.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        url = f"{url}/api/v1/agents/{self.agent_id}/task-stream"
        while True:
            try:
                async with websockets.connect(
                    url,
                    subprotocols=[PROTOCOL, f"bearer.{self.credential}"],  # type: ignore[list-item]
                    max_size=4 * 1024 * 1024,
                    open_timeout=10,
                ) as websocket:
                    attempt = 0
                    self.websocket = websocket
                    in_flight = [
                        {"taskId": task_id, "epoch": epoch} for task_id, epoch in self._in_flight_epochs.items()
                    ]
                    await self.send(
                        "hello", {"version": __version__, "capabilities": self.capabilities(), "inFlight": in_flight}
                    )
                    async for raw in websocket:
                        await self.handle(json.loads(raw))
            except websockets.InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    raise SystemExit(f"the server refused the task stream: {exc.response.status_code}") from None
                log.warning("task stream refused", extra={"status": exc.response.status_code})
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                log.warning("task stream lost", extra={"error": repr(exc)})
            self.websocket = None
            attempt += 1
            delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(attempt, 8)) * random.uniform(0.5, 1.0)  # noqa: S311
            await asyncio.sleep(delay)

    async def send(self, type_: str, data: dict[str, Any]) -> None:
        if self.websocket is None:
            return
        with contextlib.suppress(websockets.WebSocketException):
            await self.websocket.send(json.dumps({"type": type_, "data": data}))

    async def handle(self, message: dict[str, Any]) -> None:
        kind, data = message.get("type"), message.get("data") or {}
        task_id = str(data.get("taskId", ""))
        if kind == "task.offer":
            await self.send("task.accept", {"taskId": task_id})
        elif kind == "task.assign":
            epoch = int(data["epoch"])
            running = self.running.get(task_id)
            if running is not None and not running.done():
                # Still running here from an earlier lease: not a second run in parallel.
                self._in_flight_epochs[task_id] = epoch
                return
            self._in_flight_epochs[task_id] = epoch
            recorded = self.recorded(task_id)
            if recorded is not None:
                # Finished before (the report was lost with the connection or the process):
                # the recorded result, not a second run.
                await self.report(task_id, epoch, recorded)
                return
            self.running[task_id] = asyncio.create_task(self.run_task(task_id, epoch, data))
        elif kind in ("task.cancel", "task.rejected"):
            self._in_flight_epochs.pop(task_id, None)
            running = self.running.pop(task_id, None)
            if running is not None:
                running.cancel()
        elif kind == "ping":
            await self.send("pong", {})

    async def report(self, task_id: str, epoch: int, recorded: dict[str, Any]) -> None:
        await self.send(
            "task.result",
            {"taskId": task_id, "epoch": epoch, "outcome": recorded["outcome"], "result": recorded["result"]},
        )
        self._in_flight_epochs.pop(task_id, None)

    async def run_task(self, task_id: str, epoch: int, assignment: dict[str, Any]) -> None:
        payload = assignment.get("payload") or {}
        lease = float(assignment.get("leaseSeconds", 60))
        renewer = asyncio.create_task(self._renew(task_id, lease))
        try:
            outcome, result = await self.execute(task_id, epoch, payload)
        except asyncio.CancelledError:
            renewer.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - a failed task is reported, never fatal
            outcome, result = "failed", {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            renewer.cancel()
        report = {"outcome": outcome, "result": result}
        self.record(task_id, report)  # durable before it is reported
        await self.report(task_id, self._in_flight_epochs.get(task_id, epoch), report)
        self.running.pop(task_id, None)

    async def _renew(self, task_id: str, lease: float) -> None:
        while True:
            await asyncio.sleep(max(lease / 3, 0.2))
            epoch = self._in_flight_epochs.get(task_id)
            if epoch is None:
                return
            await self.send("task.renew", {"taskId": task_id, "epoch": epoch})

    async def execute(self, task_id: str, epoch: int, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        registry = self.plugins()
        target = payload["target"]
        registered = registry.capabilities.get("target_type", {}).get(target["type"])
        if registered is None:
            return "failed", {"error": f"this agent has no target type {target['type']!r}"}
        capability = registered.capability

        loop = asyncio.get_running_loop()

        def send_log(line: str) -> None:  # called from the plugin's thread
            message = {"taskId": task_id, "epoch": epoch, "line": line}
            loop.call_soon_threadsafe(lambda: loop.create_task(self.send("task.log", message)))

        ctx = AgentContext(payload.get("tenantId", ""), target, send_log)

        config = target.get("config") or {}
        secrets = secret_values(config, capability.secret_fields())

        async def call(operation: str, *args: Any) -> Any:
            function = getattr(capability, operation)
            # The target's own time limits, with a margin, not the guard's 10 s default; a
            # tenant's target fails against that tenant's breaker; its secrets are scrubbed.
            limit = float(config.get("deployTimeoutSeconds", 600)) if operation == "deploy" else 60.0
            return await registry.guard.call(
                registered.plugin_id,
                operation,
                function,
                ctx,
                *args,
                timeout=limit + 30,
                tenant_id=payload.get("tenantId"),
                secrets=secrets,
            )

        action = payload.get("action")
        if action == "health-check":
            health = await call("health_check")
            sticker = await call("read_sticker")
            observed = await call("inspect")
            return "succeeded", {"health": health.model_dump(mode="json"), "sticker": sticker, "observed": observed}
        if action == "deploy":
            deployed = await call("deploy", payload.get("manifest") or {})
            result: dict[str, Any] = {"deploy": deployed.model_dump(mode="json")}
            if not deployed.ok:
                return "failed", {**result, "error": deployed.message}
            sticker = payload.get("sticker") or {}
            await call("write_sticker", sticker)
            result["sticker"] = await call("read_sticker")
            result["observed"] = await call("inspect")
            return "succeeded", result
        return "failed", {"error": f"unknown action {action!r}"}

    # -- main -------------------------------------------------------------------------------------

    async def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        async with httpx.AsyncClient(timeout=30) as client:
            await self.ensure_registered(client)
            heartbeats = asyncio.create_task(self.heartbeat_forever(client))
            stream = asyncio.create_task(self.stream_forever())
            done, _pending = await asyncio.wait({heartbeats, stream}, return_when=asyncio.FIRST_COMPLETED)
            for task in (heartbeats, stream):
                task.cancel()
            for task in done:
                task.result()
