"""The plugin host: third-party plugins run in worker processes the server supervises.

Each out-of-process plugin has a ``PluginProcesses``: up to
``plugin_workers_per_plugin`` worker processes (``shiplane.plugins.worker``), each
answering one call at a time over a socket pair in the wire format of
``shiplane.plugins.wire``. The server holds a *proxy* of each capability the plugin
registered (a subclass of the SDK's base class built from the worker's description):
its metadata is local, its contract methods are coroutines that send the call to a
worker. They go through ``PluginGuard.call`` like any plugin call; when the guard's
timeout cancels one, the worker running it is killed (a process, unlike a thread,
can be stopped), and the next call starts a fresh one.

A worker that dies (exit, signal, memory limit) fails the call it was running and
leaves the plugin ``failing`` with the reason until a fresh worker is up. Repeated
crashes without a successful call in between back off (1 s, 2 s, 4 s, ... 30 s)
before the next start. See ``docs/plugins/isolation.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shiplane_sdk import (
    CapabilityNotSupported,
    ConfigError,
    ConfigValidationError,
    Gate,
    IntegrationType,
    PluginError,
    RolloutStrategy,
    StepCancelled,
    StepType,
    TargetType,
    TrafficRouter,
)

from shiplane.platform.database import utcnow
from shiplane.platform.subprocesses import clean_environment
from shiplane.plugins import wire
from shiplane.plugins.worker import ATTRIBUTES, EXIT_OUT_OF_MEMORY, contract_methods

BASES = {
    "integration_type": IntegrationType,
    "step_type": StepType,
    "gate": Gate,
    "rollout_strategy": RolloutStrategy,
    "target_type": TargetType,
    "traffic_router": TrafficRouter,
}
MAX_BACKOFF_SECONDS = 30.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class PluginWorkerDied(Exception):
    """The worker running the call is gone (or the plugin's workers are restarting);
    ``reason`` says how it ended."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class InvalidDescription(ValueError):
    """A worker described a capability in a way the server cannot use."""


class RemotePluginError(Exception):
    """An exception the plugin raised in its worker; ``remote_type`` is its class name."""

    def __init__(self, remote_type: str, message: str) -> None:
        super().__init__(message)
        self.remote_type = remote_type


@dataclass(frozen=True)
class HostLimits:
    memory_mb: int
    cpu_seconds: int
    workers_per_plugin: int
    start_timeout: float


def rebuild_error(error: dict[str, Any]) -> Exception:
    """The exception a worker reported, as the SDK type the core acts on where it is one."""
    message = str(error.get("message", ""))
    sdk = error.get("sdk")
    if sdk == "ConfigValidationError":
        return ConfigValidationError([ConfigError(**e) for e in error.get("errors", [])], message)
    if sdk == "PluginError":
        return PluginError(message, details=error.get("details"))
    if sdk == "CapabilityNotSupported":
        return CapabilityNotSupported(message)
    if sdk == "StepCancelled":
        return StepCancelled(message)
    return RemotePluginError(str(error.get("type", "Exception")), message)


def _exit_reason(returncode: int | None, limits: HostLimits) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode == EXIT_OUT_OF_MEMORY:
        return f"ran out of memory (limit {limits.memory_mb} MiB)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGXCPU":
            return f"spent its CPU limit ({limits.cpu_seconds} s, SIGXCPU)"
        return f"killed by {name}"
    return f"exited with status {returncode}"


def process_usage(pid: int) -> dict[str, Any]:
    """Resident memory and CPU time of ``pid`` from ``/proc`` (Linux); empty elsewhere."""
    usage: dict[str, Any] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    usage["rssBytes"] = int(line.split()[1]) * 1024
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        usage["cpuSeconds"] = round((int(fields[11]) + int(fields[12])) / _CLOCK_TICKS, 2)
    except (OSError, IndexError, ValueError):
        pass
    return usage


class WorkerProcess:
    """One worker process and the server's end of its channel."""

    def __init__(self, plugin_id: str, limits: HostLimits, env: dict[str, str], workdir: str) -> None:
        parent, child = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "shiplane.plugins.worker",
            "--fd",
            str(child.fileno()),
            "--plugin",
            plugin_id,
            "--memory-mb",
            str(limits.memory_mb),
            "--cpu-seconds",
            str(limits.cpu_seconds),
        ]
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                pass_fds=[child.fileno()],
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            child.close()
        self.sock = parent
        self.limits = limits
        self.pid = self.process.pid
        self.started_at: datetime = utcnow()
        self.calls = 0
        self.killed_because: str | None = None
        self.reaped = False  # its end is recorded

    @property
    def alive(self) -> bool:
        return self.killed_because is None and self.process.poll() is None

    def hello(self, timeout: float) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        try:
            frame = wire.receive(self.sock)
        except (TimeoutError, OSError, wire.WireError) as exc:
            self.kill(f"did not describe the plugin within {timeout:g}s")
            return {"error": f"the plugin worker did not start: {exc or 'timed out'}"}
        finally:
            with contextlib.suppress(OSError):
                self.sock.settimeout(None)
        if frame is None:
            return {"error": f"the plugin worker {self.exit_reason()} while loading the plugin"}
        try:
            hello = wire.loads(frame)
        except wire.WireError as exc:
            self.kill("sent a hello that does not decode")
            return {"error": f"the plugin worker sent an invalid description: {exc}"}
        if not isinstance(hello, dict):
            self.kill("sent a hello that is not an object")
            return {"error": "the plugin worker sent an invalid description: not an object"}
        return hello

    def kill(self, reason: str) -> None:
        if self.killed_because is None:
            self.killed_because = reason
        # The worker leads its own session: its children (a deploy command) die with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def exit_reason(self) -> str:
        try:
            returncode = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill("stopped answering")
            returncode = None
        if self.killed_because is not None:
            return f"was stopped: {self.killed_because}"
        return _exit_reason(returncode, self.limits)

    def close(self) -> None:
        self.kill("the server stopped")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.sock.close()

    def roundtrip(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one call and serve its context callbacks until the reply; raises
        ``PluginWorkerDied`` if the worker goes away first."""
        contexts: list[Any] = []

        def index_of(value: Any) -> int | None:
            if not wire.is_context(value):
                return None
            contexts.append(value)
            return len(contexts) - 1

        payload = wire.dumps(request, wire.encoder(index_of))
        self.calls += 1
        try:
            wire.send(self.sock, payload)
            while True:
                frame = wire.receive(self.sock)
                if frame is None:
                    raise self._died()
                message: dict[str, Any] = wire.loads(frame)
                if "callback" not in message:
                    return message
                answer = self._callback(contexts, message)
                if message.get("reply"):
                    wire.send(self.sock, wire.dumps(answer))
        except (OSError, wire.WireError) as exc:
            self.kill(f"broke the protocol: {exc}")
            raise self._died() from None

    def _died(self) -> PluginWorkerDied:
        reason = self.exit_reason()
        return PluginWorkerDied(f"the plugin's worker (pid {self.pid}) {reason}", reason)

    @staticmethod
    def _callback(contexts: list[Any], message: dict[str, Any]) -> dict[str, Any]:
        method = message.get("callback")
        index = message.get("context")
        if method not in wire.CONTEXT_METHODS or not isinstance(index, int) or not 0 <= index < len(contexts):
            return {"error": f"no such context method {method!r}"}
        context = contexts[index]
        try:
            args = list(message.get("args", []))
            positional, keywords = wire.CONTEXT_SERVICES.get(str(method), (len(args), ()))
            result = getattr(context, str(method))(
                *args[:positional], **dict(zip(keywords, args[positional:], strict=False))
            )
            if asyncio.iscoroutine(result):
                # A core service (a step's notify, run_command, ...): it runs on the server's
                # event loop, and this thread (the call's) waits for it.
                loop = getattr(context, "loop", None)
                if loop is None:
                    result.close()
                    return {"error": f"{method!r} is not available here"}
                result = asyncio.run_coroutine_threadsafe(result, loop).result()
            return {"result": result}
        except KeyError as exc:
            return {"error": str(exc.args[0]) if exc.args else "not found"}
        except Exception as exc:  # noqa: BLE001 - the context's failure goes back to the plugin
            return {"error": f"{type(exc).__name__}: {exc}"}


@dataclass
class CallState:
    request: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False
    worker: WorkerProcess | None = None


class PluginProcesses:
    """The worker processes of one plugin."""

    def __init__(self, plugin_id: str, limits: HostLimits, env: dict[str, str], executor: ThreadPoolExecutor) -> None:
        self.plugin_id = plugin_id
        self.limits = limits
        self.env = env
        self.executor = executor
        self.workdir = tempfile.mkdtemp(prefix=f"shiplane-plugin-{plugin_id}-")
        self.env["HOME"] = self.env["TMPDIR"] = self.workdir
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.workers_per_plugin)
        self._async_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self.idle: list[WorkerProcess] = []
        self.live: list[WorkerProcess] = []
        self.starts = 0
        self.restarts = 0
        self.consecutive_crashes = 0
        self.next_start_at = 0.0
        self.last_exit: dict[str, Any] | None = None
        self.exits: dict[str, int] = {}
        self.stopped = False

    # -- processes ----------------------------------------------------------------------------------

    def spawn(self) -> WorkerProcess:
        worker = WorkerProcess(self.plugin_id, self.limits, self.env, self.workdir)
        with self._lock:
            self.live.append(worker)
            if self.starts:
                self.restarts += 1
            self.starts += 1
        return worker

    def _take(self) -> WorkerProcess:
        with self._lock:
            found: WorkerProcess | None = None
            dead_idle: list[WorkerProcess] = []
            while self.idle and found is None:
                candidate = self.idle.pop()
                if candidate.alive:
                    found = candidate
                else:
                    dead_idle.append(candidate)
        for dead in dead_idle:  # died while idle: recorded like any crash
            self._died(dead, dead.exit_reason(), crash=True)
        if found is not None:
            return found
        with self._lock:
            if self.stopped:
                raise PluginWorkerDied("the plugin host is stopped")
            wait = self.next_start_at - time.monotonic()
            if wait > 0:
                reason = (self.last_exit or {}).get("reason", "crashed")
                raise PluginWorkerDied(
                    f"the plugin's worker {reason}; {self.consecutive_crashes} crashes in a row, "
                    f"next start in {wait:.1f}s"
                )
        worker = self.spawn()
        hello = worker.hello(self.limits.start_timeout)
        if "error" in hello:
            self._died(worker, str(hello["error"]), crash=True)
            raise PluginWorkerDied(str(hello["error"]))
        return worker

    def _release(self, worker: WorkerProcess) -> None:
        with self._lock:
            if worker.alive and not self.stopped:
                self.idle.append(worker)
            else:
                self._forget(worker)

    def _forget(self, worker: WorkerProcess) -> None:
        if worker in self.live:
            self.live.remove(worker)
        if worker in self.idle:
            self.idle.remove(worker)

    def _died(self, worker: WorkerProcess, reason: str, *, crash: bool) -> None:
        with self._lock:
            if worker.reaped:
                return
            worker.reaped = True
        kind = "killed" if worker.killed_because else "crashed"  # before close() stops it
        worker.close()
        with self._lock:
            self._forget(worker)
            self.last_exit = {"pid": worker.pid, "reason": reason, "at": utcnow()}
            self.exits[kind] = self.exits.get(kind, 0) + 1
            if crash:
                self.consecutive_crashes += 1
                delay = 0.0 if self.consecutive_crashes <= 1 else 2.0 ** (self.consecutive_crashes - 2)
                self.next_start_at = time.monotonic() + min(delay, MAX_BACKOFF_SECONDS)

    def adopt(self, worker: WorkerProcess) -> None:
        """Keep the worker that loaded the plugin at start-up for the first calls."""
        self._release(worker)

    # -- calls --------------------------------------------------------------------------------------

    def _call_blocking(self, state: CallState) -> Any:
        self._slots.acquire()
        try:
            with state.lock:
                if state.abandoned:
                    return None
            worker = self._take()
            with state.lock:
                if state.abandoned:
                    self._release(worker)
                    return None
                state.worker = worker
            try:
                reply = worker.roundtrip(state.request)
            except PluginWorkerDied as exc:
                self._died(worker, exc.reason, crash=worker.killed_because is None)
                raise
            finally:
                with state.lock:  # a late timeout must not kill the worker once it serves another call
                    state.worker = None
            if not isinstance(reply, dict):
                worker.kill("sent a reply that is not an object")
                self._died(worker, "broke the protocol: a reply that is not an object", crash=True)
                raise PluginWorkerDied("the plugin's worker broke the protocol")
            if reply.get("fatal"):
                self._died(worker, worker.exit_reason(), crash=True)
            else:
                self._release(worker)
                with self._lock:
                    self.consecutive_crashes = 0
            if "error" in reply:
                raise rebuild_error(reply["error"])
            return reply.get("result")
        finally:
            self._slots.release()

    async def call(self, request: dict[str, Any]) -> Any:
        """Run ``request`` on a worker; if this coroutine is cancelled (the guard's timeout)
        while the call runs, the worker is killed."""
        state = CallState(request)
        loop = asyncio.get_running_loop()
        # Wait for a worker slot here, not in a thread of the pool every plugin shares: a
        # plugin whose calls queue (or are abandoned while queued) holds no thread.
        slots = self._async_slots.get(loop)
        if slots is None:
            slots = self._async_slots[loop] = asyncio.Semaphore(self.limits.workers_per_plugin)
        async with slots:
            return await self._run(loop, state)

    async def _run(self, loop: asyncio.AbstractEventLoop, state: CallState) -> Any:
        future = loop.run_in_executor(self.executor, self._call_blocking, state)
        try:
            return await future
        except asyncio.CancelledError:
            with state.lock:
                state.abandoned = True
                worker = state.worker
            if worker is not None and worker.alive:
                worker.kill("a call did not finish within its timeout")
                # Recorded now, not when the call's thread notices: the plugin is failing
                # from this moment until a fresh worker is up, which starts at once, so the
                # next call does not pay for the start.
                self._died(worker, worker.exit_reason(), crash=False)
                self.executor.submit(self.ensure_started)
            raise

    def hook_caller(self, hook_name: str) -> Callable[..., Any]:
        async def call_hook(*args: Any, **kwargs: Any) -> Any:
            return await self.call({"hook": hook_name, "args": list(args), "kwargs": kwargs})

        call_hook.__name__ = hook_name
        return call_hook

    # -- state --------------------------------------------------------------------------------------

    def failing(self) -> str | None:
        """Why the plugin cannot run now (its last worker died and none is up yet), or None."""
        with self._lock:
            if self.live or self.last_exit is None:
                return None
            return f"the plugin's worker {self.last_exit['reason']}"

    def ensure_started(self) -> None:
        """Start a worker if none is up (after a crash; respects the backoff). Blocking."""
        if self.failing() is None:
            return
        self._slots.acquire()
        try:
            self._release(self._take())
        except PluginWorkerDied:
            pass
        finally:
            self._slots.release()

    def status(self) -> dict[str, Any]:
        from shiplane.platform.envelope import rfc3339

        with self._lock:
            workers = [
                {
                    "pid": w.pid,
                    "startedAt": rfc3339(w.started_at),
                    "calls": w.calls,
                    "busy": w not in self.idle,
                    **process_usage(w.pid),
                }
                for w in self.live
            ]
            last_exit = None
            if self.last_exit is not None:
                last_exit = {**self.last_exit, "at": rfc3339(self.last_exit["at"])}
            return {
                "isolation": "process",
                "workers": workers,
                "restarts": self.restarts,
                "consecutiveCrashes": self.consecutive_crashes,
                "lastExit": last_exit,
                "limits": {
                    "memoryMb": self.limits.memory_mb or None,
                    "cpuSeconds": self.limits.cpu_seconds or None,
                    "workers": self.limits.workers_per_plugin,
                    "callTimeoutKillsWorker": True,
                },
            }

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            workers = list(self.live)
            self.live.clear()
            self.idle.clear()
        for worker in workers:
            worker.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def worker_environment(plugin_id: str) -> dict[str, str]:
    """What a worker's environment holds: how to find Python and the installed packages,
    nothing of the server's configuration (no ``SHIPLANE_*``, no database URL, no key)."""
    return clean_environment(SHIPLANE_PLUGIN_ID=plugin_id)


class PluginHost:
    """Every out-of-process plugin's workers, and the threads that talk to them."""

    def __init__(self, limits: HostLimits) -> None:
        self.limits = limits
        self.plugins: dict[str, PluginProcesses] = {}
        self.executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="shiplane-plugin-host")

    def start(self, plugin_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Start one worker per plugin, all at once, and return each plugin's hello."""
        started: dict[str, tuple[PluginProcesses, WorkerProcess]] = {}
        hellos: dict[str, dict[str, Any]] = {}
        for plugin_id in plugin_ids:
            processes = PluginProcesses(plugin_id, self.limits, worker_environment(plugin_id), self.executor)
            self.plugins[plugin_id] = processes
            try:
                started[plugin_id] = (processes, processes.spawn())
            except OSError as exc:
                hellos[plugin_id] = {"error": f"the plugin worker could not be started: {exc}"}
        for plugin_id, (processes, worker) in started.items():
            hello = worker.hello(self.limits.start_timeout)
            if "error" in hello:
                processes.stop()
            else:
                processes.adopt(worker)
            hellos[plugin_id] = hello
        return hellos

    def stop(self, plugin_id: str) -> None:
        processes = self.plugins.get(plugin_id)
        if processes is not None:
            processes.stop()

    def shutdown(self) -> None:
        for processes in self.plugins.values():
            processes.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)


def make_proxy(descriptor: dict[str, Any], processes: PluginProcesses) -> Any:
    """A capability object whose metadata came from the worker and whose contract
    methods run there."""
    kind = descriptor.get("kind")
    base = BASES.get(kind) if isinstance(kind, str) else None
    capability_id = descriptor.get("id")
    if base is None or not isinstance(capability_id, str):
        raise InvalidDescription(f"unknown capability kind {kind!r} or id {capability_id!r}")
    allowed = set(contract_methods(base))
    methods = descriptor.get("methods")
    if not isinstance(methods, list) or not set(methods) <= allowed:
        raise InvalidDescription(f"{kind} {capability_id!r}: methods must be among {sorted(allowed)}")
    attributes = descriptor.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        name in ATTRIBUTES and isinstance(value, str | bool) for name, value in attributes.items()
    ):
        raise InvalidDescription(f"{kind} {capability_id!r}: unexpected attributes")
    class_name = descriptor.get("className")
    if not isinstance(class_name, str) or not class_name.isidentifier():
        raise InvalidDescription(f"{kind} {capability_id!r}: invalid class name")

    def remote(method: str) -> Callable[..., Any]:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            request = {"kind": kind, "capability": capability_id, "method": method, "args": list(args)}
            if kwargs:
                request["kwargs"] = kwargs
            return await processes.call(request)

        call.__name__ = method
        return call

    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"{descriptor['className']} of plugin {processes.plugin_id!r}, running in its worker process",
        "id": capability_id,
        "display_name": descriptor["displayName"],
        "description": descriptor["description"],
        "config_schema": descriptor["configSchema"],
        "secret_destinations": list(descriptor.get("secretDestinations") or []),
        **attributes,
    }
    for method in methods:
        namespace[method] = remote(method)
    operations = descriptor.get("operations")
    if operations is not None:
        supported = frozenset(operations)

        def supports(self: Any, operation: str) -> bool:
            if operation not in IntegrationType.OPERATIONS:
                raise ValueError(f"unknown operation {operation!r}; one of {IntegrationType.OPERATIONS}")
            return operation in supported

        namespace["supports"] = supports
    try:
        return type(class_name, (base,), namespace)()
    except Exception as exc:  # e.g. a schema of the wrong type for the base's properties
        raise InvalidDescription(f"{kind} {capability_id!r}: {type(exc).__name__}: {exc}") from None
