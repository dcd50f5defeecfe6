"""The host agent: ``shiplane agent run --server URL --token T``.

It registers once with a registration token and keeps its credential in its state
directory (file mode 0600), heartbeats, and holds its task stream, reconnecting with
jittered exponential backoff. Tasks run the installed target-type plugins on this
machine (a third-party plugin in its worker processes, as on the server). Every
finished task's result is written to the state directory before it is reported, so a
task offered again after a crash or a lost connection is answered with the recorded
result instead of running twice.

A ``script`` task runs a command on this host (unless the agent runs with
``--no-scripts``): in a process group of its own, with a minimal environment plus the
task's, its output streamed line by line as ``task.log`` and kept (bounded) for the
result. A time limit, or the task being cancelled or its lease refused, ends the whole
group (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from shiplane import __version__
from shiplane.platform.secrets import secret_values
from shiplane.platform.settings import Settings
from shiplane.plugins.guard import scrub
from shiplane.plugins.manager import PluginRegistry

log = logging.getLogger("shiplane.agent")

PROTOCOL = "shiplane.v1"
MAX_BACKOFF_SECONDS = 30.0

# Script tasks: what a spec may be, and what a run keeps.
SCRIPT_CAPABILITY = "script"
NO_SCRIPTS_ERROR = "this agent does not run scripts (--no-scripts)"
SCRIPT_MAX_COMMAND_BYTES = 64 * 1024
SCRIPT_MAX_ENV_ENTRIES = 100
SCRIPT_DEFAULT_TIMEOUT_SECONDS = 600.0
SCRIPT_MAX_TIMEOUT_SECONDS = 24 * 3600.0
SCRIPT_KILL_GRACE_SECONDS = 5.0  # SIGTERM, then SIGKILL after this
SCRIPT_OUTPUT_BYTES = 256 * 1024  # the last this many bytes of output are kept
# The output as JSON text must fit the task stream's 1 MiB message with room to spare
# (an escaped byte can take six characters).
SCRIPT_OUTPUT_JSON_CHARS = 512 * 1024
SCRIPT_LOG_LINES = 500  # lines streamed as task.log (the server keeps no more)
SCRIPT_LOG_LINE_CHARS = 4000
SCRIPT_BASE_ENV = ("PATH", "HOME", "LANG")


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
        scripts: bool = True,
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
        # False (``--no-scripts``): script tasks are refused, and not advertised.
        self.scripts = scripts
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
        """The target types it runs, and ``script`` unless it refuses scripts."""
        registry = self.plugins()
        types = list(registry.capabilities.get("target_type", {}))
        return sorted({*types, SCRIPT_CAPABILITY} if self.scripts else types)

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
        if payload.get("action") == "script":
            return await self.run_script(task_id, epoch, payload)
        registry = self.plugins()
        target = payload["target"]
        registered = registry.capabilities.get("target_type", {}).get(target["type"])
        if registered is None:
            return "failed", {"error": f"this agent has no target type {target['type']!r}"}
        capability = registered.capability

        loop = asyncio.get_running_loop()
        # A deployment's variables (opened for this task only); the secret ones are kept out
        # of every log line, error and result.
        given = payload.get("variables")
        variables: dict[str, Any] = given if isinstance(given, dict) else {}
        secret_names = [str(n) for n in payload.get("secretVariables") or [] if n in variables]
        hidden = [str(variables[n]) for n in secret_names if variables[n]]

        def send_log(line: str) -> None:  # called from the plugin's thread
            message = {"taskId": task_id, "epoch": epoch, "line": scrub(str(line), hidden)}
            loop.call_soon_threadsafe(lambda: loop.create_task(self.send("task.log", message)))

        ctx = AgentContext(payload.get("tenantId", ""), target, send_log)

        config = target.get("config") or {}
        secrets = secret_values(config, capability.secret_fields()) + hidden

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
            manifest = {**(payload.get("manifest") or {}), "variables": variables, "secretVariables": secret_names}
            deployed = await call("deploy", manifest)
            result: dict[str, Any] = {"deploy": json.loads(scrub(json.dumps(deployed.model_dump(mode="json")), hidden))}
            if not deployed.ok:
                return "failed", {**result, "error": scrub(deployed.message, hidden)}
            sticker = payload.get("sticker") or {}
            await call("write_sticker", sticker)
            result["sticker"] = await call("read_sticker")
            result["observed"] = await call("inspect")
            return "succeeded", result
        return "failed", {"error": f"unknown action {action!r}"}

    # -- scripts ----------------------------------------------------------------------------------

    async def run_script(self, task_id: str, epoch: int, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Run a script task's command; (outcome, result). Cancelling this (the task was
        cancelled, or its lease refused) ends the command's whole process group."""
        if not self.scripts:
            return "failed", {"error": NO_SCRIPTS_ERROR}
        spec = script_spec(payload)
        if isinstance(spec, str):
            return "failed", {"error": spec}
        given, listed = payload.get("env"), payload.get("secretNames")
        extra: dict[str, Any] = given if isinstance(given, dict) else {}
        names: list[Any] = listed if isinstance(listed, list) else []
        mask = masker([str(extra[n]) for n in names if isinstance(n, str) and extra.get(n)])
        started = time.monotonic()
        output = BoundedOutput(SCRIPT_OUTPUT_BYTES)
        temporary = None if spec.cwd is not None else tempfile.mkdtemp(prefix="shiplane-script-")
        cwd = spec.cwd or temporary
        try:
            try:
                process = await asyncio.create_subprocess_exec(
                    *spec.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=cwd,
                    env=spec.env,
                    start_new_session=True,  # its own process group: ended as a whole
                )
            except OSError as exc:
                error = mask(f"cannot start the command: {exc}")
                return "failed", script_result(None, output, False, started, error, mask)
            log.info("script started", extra={"task": task_id, "pid": process.pid})
            assert process.stdout is not None
            reader = asyncio.create_task(self._stream_output(task_id, epoch, process.stdout, output, mask))
            timed_out = False
            try:
                try:
                    await asyncio.wait_for(process.wait(), spec.timeout)
                except TimeoutError:
                    timed_out = True
                    await stop_group(process)
                # The rest of its output; if something it left running still holds the
                # pipe open after a grace period, that group is ended too.
                done, _ = await asyncio.wait({reader}, timeout=SCRIPT_KILL_GRACE_SECONDS)
                if not done:
                    signal_group(process.pid, signal.SIGKILL)
                    await asyncio.wait({reader}, timeout=SCRIPT_KILL_GRACE_SECONDS)
            except asyncio.CancelledError:
                log.info("script cancelled", extra={"task": task_id, "pid": process.pid})
                await stop_group(process)
                raise
            finally:
                if process.returncode is None:  # cancelled again while stopping it
                    signal_group(process.pid, signal.SIGKILL)
                reader.cancel()
        finally:
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)
        code = process.returncode
        log.info("script finished", extra={"task": task_id, "exitCode": code, "timedOut": timed_out})
        if timed_out:
            error = f"timed out after {spec.timeout:g} s"
        elif code != 0:
            error = f"exited with code {code}" if code is not None and code >= 0 else f"killed by signal {-(code or 0)}"
        else:
            error = ""
        return ("failed" if error else "succeeded"), script_result(
            code, output, timed_out, started, error or None, mask
        )

    async def _stream_output(
        self,
        task_id: str,
        epoch: int,
        stream: asyncio.StreamReader,
        output: BoundedOutput,
        mask: Callable[[str], str] = lambda text: text,
    ) -> None:
        """Keep the output (bounded) and send each line as ``task.log`` as it comes."""
        pending = b""
        sent = 0

        async def send_line(raw: bytes) -> None:
            nonlocal sent
            if sent >= SCRIPT_LOG_LINES:
                return
            line = mask(raw.decode("utf-8", errors="replace").rstrip("\r"))[:SCRIPT_LOG_LINE_CHARS]
            if sent == SCRIPT_LOG_LINES - 1:
                line = "... (the log stops here; the task's output keeps the rest)"
            sent += 1
            epoch_now = self._in_flight_epochs.get(task_id, epoch)
            await self.send("task.log", {"taskId": task_id, "epoch": epoch_now, "line": line})

        while chunk := await stream.read(64 * 1024):
            output.add(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            while len(pending) > SCRIPT_LOG_LINE_CHARS:  # a very long line goes in pieces
                lines.append(pending[:SCRIPT_LOG_LINE_CHARS])
                pending = pending[SCRIPT_LOG_LINE_CHARS:]
            for line in lines:
                await send_line(line)
        if pending:
            await send_line(pending)

    # -- main -------------------------------------------------------------------------------------

    async def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        async with httpx.AsyncClient(timeout=30) as client:
            await self.ensure_registered(client)
            heartbeats = asyncio.create_task(self.heartbeat_forever(client))
            stream = asyncio.create_task(self.stream_forever())
            try:
                done, _pending = await asyncio.wait({heartbeats, stream}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                # Ending (or cancelled): the tasks still running end too (a script's
                # process group with them).
                running = [heartbeats, stream, *self.running.values()]
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
            for task in done:
                task.result()


# -- script helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptSpec:
    argv: list[str]
    env: dict[str, str]
    timeout: float
    cwd: str | None


def script_spec(payload: dict[str, Any]) -> ScriptSpec | str:
    """A script task's spec, checked and bounded; or why it is refused."""
    command = payload.get("command")
    if isinstance(command, str):
        if not command.strip():
            return "command is empty"
        argv = ["/bin/sh", "-c", command]
        size = len(command.encode())
    elif isinstance(command, list) and command and all(isinstance(arg, str) for arg in command):
        argv = list(command)
        size = sum(len(arg.encode()) + 1 for arg in command)
    else:
        return "command must be a non-empty string (run with /bin/sh -c) or a list of strings"
    if size > SCRIPT_MAX_COMMAND_BYTES:
        return f"command is {size} bytes, over the limit of {SCRIPT_MAX_COMMAND_BYTES}"
    if any("\0" in arg for arg in argv):
        return "command contains a NUL character"
    extra = payload.get("env")
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        return "env must be an object of strings"
    if len(extra) > SCRIPT_MAX_ENV_ENTRIES:
        return f"env has {len(extra)} entries, over the limit of {SCRIPT_MAX_ENV_ENTRIES}"
    for key, value in extra.items():
        # Names only in messages: values may be secrets.
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            return f"env name {str(key)[:100]!r} is not a valid variable name"
        if not isinstance(value, str) or "\0" in value:
            return f"env {key!r} must be a string without NUL characters"
    env = {name: os.environ[name] for name in SCRIPT_BASE_ENV if name in os.environ}
    env.update(extra)
    timeout = payload.get("timeoutSeconds", SCRIPT_DEFAULT_TIMEOUT_SECONDS)
    if timeout is None:
        timeout = SCRIPT_DEFAULT_TIMEOUT_SECONDS
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= SCRIPT_MAX_TIMEOUT_SECONDS
    ):
        return f"timeoutSeconds must be a number above 0 and at most {SCRIPT_MAX_TIMEOUT_SECONDS:g}"
    cwd = payload.get("workingDirectory")
    if cwd is not None:
        if not isinstance(cwd, str) or not cwd or "\0" in cwd:
            return "workingDirectory must be a path"
        if not os.path.isdir(cwd):
            return f"workingDirectory {cwd!r} is not a directory on this agent"
    return ScriptSpec(argv, env, float(timeout), cwd)


class BoundedOutput:
    """The last ``limit`` bytes of a command's output."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]
            self.truncated = True

    def text(self) -> tuple[str, bool]:
        """The kept output as text that, as JSON, fits SCRIPT_OUTPUT_JSON_CHARS; truncated?"""
        text, truncated = self.data.decode("utf-8", errors="replace"), self.truncated
        while len(text) > 0 and len(json.dumps(text)) > SCRIPT_OUTPUT_JSON_CHARS:
            text, truncated = text[len(text) // 4 :], True  # keep the end: usually the telling part
        return text, truncated


#: The shortest piece of a secret masked where text was cut (a long line split, the
#: output's kept tail): shorter ones would mask too much ordinary text.
MASK_EDGE = 4


def masker(secrets: list[str]) -> Callable[[str], str]:
    """Replaces each of ``secrets`` (the longest first) with ``***``; a multi-line secret's
    lines are masked one by one too (output arrives line by line), and a piece of a secret
    at the very start or end of the text (where a line or the output was cut) as well."""
    values = {s for s in secrets if s}
    values |= {line for s in list(values) for line in s.splitlines() if len(line.strip()) >= MASK_EDGE}
    ordered = sorted(values, key=len, reverse=True)

    def mask(text: str) -> str:
        for value in ordered:
            text = text.replace(value, "***")
        for value in ordered:
            for size in range(len(value) - 1, MASK_EDGE - 1, -1):
                if text.endswith(value[:size]):
                    text = text[:-size] + "***"
                    break
            for size in range(len(value) - 1, MASK_EDGE - 1, -1):
                if text.startswith(value[-size:]):
                    text = "***" + text[size:]
                    break
        return text

    return mask


def script_result(
    code: int | None,
    output: BoundedOutput,
    timed_out: bool,
    started: float,
    error: str | None,
    mask: Callable[[str], str] = lambda text: text,
) -> dict[str, Any]:
    text, truncated = output.text()
    result: dict[str, Any] = {
        "exitCode": code,
        "output": mask(text),
        "truncated": truncated,
        "timedOut": timed_out,
        "durationSeconds": round(time.monotonic() - started, 3),
    }
    if error is not None:
        result["error"] = error
    return result


def signal_group(pgid: int, signum: int) -> None:
    """Signal a process group; nothing if it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def stop_group(process: asyncio.subprocess.Process) -> None:
    """End a command's process group: SIGTERM, then SIGKILL after a grace period (for
    whatever it left running as well)."""
    signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), SCRIPT_KILL_GRACE_SECONDS)
    signal_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), SCRIPT_KILL_GRACE_SECONDS)
