"""A plugin worker: one third-party plugin in its own process (``docs/plugins/isolation.md``).

Started by the server's plugin host as ``python -m shiplane.plugins.worker --fd N
--plugin ID``, with the memory and CPU limits applied here before the plugin is
imported, an environment holding no server setting, and one end of a socket pair
as its only channel. It loads the plugin as the server would (entry point, pluggy,
``plugin_info``, the ``register_*`` hooks), sends a *hello* describing it, then
answers one call at a time until the server closes the channel or kills it.

Imports only the standard library, the SDK and the wire format: nothing of the
server (settings, database, keys) exists in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import resource
import socket
import sys
import threading
from importlib.metadata import entry_points
from typing import Any

from shiplane_sdk import (
    ENTRY_POINT_GROUP,
    HOOK_NAMES,
    REGISTRATION_HOOKS,
    Capability,
    ConfigValidationError,
    IntegrationType,
    PluginInfo,
    ShiplaneSDKError,
    create_plugin_manager,
)

from shiplane.plugins import wire

#: Capability methods that run on the server from the capability's data, never here.
LOCAL_METHODS = frozenset({"describe", "supports", "secret_fields", "destination_fields", "require_valid_config"})
#: Capability attributes besides the common ones that a worker reports.
ATTRIBUTES = ("category", "idempotent", "progressive")
# Exit status after an out-of-memory failure, so the server reports why it ended.
EXIT_OUT_OF_MEMORY = 70


def contract_methods(base: type[Capability]) -> list[str]:
    """The methods of a capability kind that run plugin code (in the worker)."""
    names = {"validate_config"}
    for klass in base.__mro__:
        if klass is Capability or not issubclass(klass, Capability):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and callable(value) and name not in LOCAL_METHODS:
                names.add(name)
    return sorted(names)


class Channel:
    """The worker's end of the socket: replies, and callbacks to the server's context."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()  # plugin threads may log concurrently

    def send(self, message: dict[str, Any]) -> None:
        with self.lock:
            wire.send(self.sock, wire.dumps(message))

    def callback(self, index: int, method: str, args: tuple[Any, ...], reply: bool) -> Any:
        message = {"callback": method, "context": index, "args": list(args), "reply": reply}
        with self.lock:
            wire.send(self.sock, wire.dumps(message))
            if not reply:
                return None
            frame = wire.receive(self.sock)
        if frame is None:
            os._exit(0)  # the server is gone
        answer = wire.loads(frame)
        if "error" in answer:
            raise KeyError(answer["error"])
        return answer.get("result")


class RemoteContext:
    """A context whose data came over the channel and whose methods call back."""

    def __init__(self, channel: Channel, index: int, attrs: dict[str, Any]) -> None:
        self._channel = channel
        self._index = index
        for name, value in attrs.items():
            setattr(self, name, value)

    def log(self, line: str) -> None:
        self._channel.callback(self._index, "log", (str(line),), reply=False)

    def write_artifact(self, name: str, content: bytes, content_type: str = "application/octet-stream") -> None:
        self._channel.callback(self._index, "write_artifact", (name, bytes(content), content_type), reply=True)

    def is_cancelled(self) -> bool:
        return bool(self._channel.callback(self._index, "is_cancelled", (), reply=True))

    def integration(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._channel.callback(self._index, "integration", (name,), reply=True)
        return result

    def secret(self, name: str) -> str:
        return str(self._channel.callback(self._index, "secret", (name,), reply=True))

    # The step context's core services: the server runs them; this worker's thread waits.

    async def _service(self, method: str, *args: Any) -> Any:
        return await asyncio.to_thread(self._channel.callback, self._index, method, args, True)

    async def notify(
        self,
        integration: str,
        subject: str,
        body: str,
        *,
        severity: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        await self._service("notify", integration, subject, body, severity, data)

    async def evaluate_gate(
        self, gate: str, config: dict[str, Any], *, release: str | None = None, environment: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._service("evaluate_gate", gate, config, release, environment)
        return result

    async def check_target(self, target: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._service("check_target", target)
        return result

    async def run_command(
        self,
        command: str | list[str],
        *,
        agent: str | None = None,
        agent_labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        timeout_seconds: float = 600,
        working_directory: str | None = None,
        secret_env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._service(
            "run_command", command, agent, agent_labels, env, timeout_seconds, working_directory, secret_env
        )
        return result

    async def deploy(
        self, strategy: str = "all-at-once", strategy_config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._service("deploy", strategy, strategy_config)
        return result


def apply_limits(memory_mb: int, cpu_seconds: int) -> None:
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_seconds > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def describe_error(exc: BaseException) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ShiplaneSDKError):
        # The most derived SDK class: the server raises that again (a vendor subclass of
        # PluginError arrives as PluginError).
        error["sdk"] = next(k.__name__ for k in type(exc).__mro__ if k.__module__.startswith("shiplane_sdk"))
        if isinstance(exc, ConfigValidationError):
            error["errors"] = [e.model_dump() for e in exc.errors]
        details = getattr(exc, "details", None)
        if isinstance(details, dict):
            error["details"] = details
    return error


class Worker:
    def __init__(self, plugin_id: str, channel: Channel) -> None:
        self.plugin_id = plugin_id
        self.channel = channel
        self.loop = asyncio.new_event_loop()
        self.hooks: dict[str, Any] = {}
        self.capabilities: dict[tuple[str, str], Capability] = {}

    def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if inspect.isawaitable(result):
            result = self.loop.run_until_complete(result)
        return result

    def _call_hook(self, name: str) -> tuple[Any, str | None]:
        try:
            result = self.run(self.hooks[name])
        except BaseException as exc:  # noqa: BLE001 - reported as the plugin's failure
            return None, f"{type(exc).__name__}: {exc}"
        if inspect.isawaitable(result):
            return None, "must be synchronous, returned an awaitable"
        return result, None

    def load(self) -> dict[str, Any]:
        """The hello: the plugin's info, hooks and capabilities, or why it cannot load."""
        found = list(entry_points(group=ENTRY_POINT_GROUP, name=self.plugin_id))
        if not found:
            return {"error": f"no entry point {self.plugin_id!r} in group {ENTRY_POINT_GROUP}"}
        entry_point = found[0]
        try:
            obj = entry_point.load()
        except BaseException as exc:  # noqa: BLE001 - an import may raise anything
            return {"error": f"import failed: {type(exc).__name__}: {exc}"}
        if inspect.isclass(obj):
            try:
                obj = obj()
            except Exception as exc:
                return {"error": f"could not instantiate {entry_point.value}: {type(exc).__name__}: {exc}"}
        manager = create_plugin_manager()
        try:
            manager.register(obj, name=self.plugin_id)
        except Exception as exc:
            return {"error": f"hook validation failed: {exc}"}
        try:
            manager.check_pending()
        except Exception as exc:
            return {"error": f"unknown hook: {exc}"}
        for name in HOOK_NAMES:
            for impl in getattr(manager.hook, name).get_hookimpls():
                self.hooks[name] = impl.function
        info = None
        if "plugin_info" in self.hooks:
            info, failure = self._call_hook("plugin_info")
            if failure is not None:
                return {"error": f"plugin_info failed: {failure}"}
            if not isinstance(info, PluginInfo):
                return {"error": f"plugin_info returned {type(info).__name__}, not PluginInfo"}
        registrations: dict[str, list[dict[str, Any]]] = {}
        for hook_name, base in REGISTRATION_HOOKS.items():
            if hook_name not in self.hooks:
                continue
            result, failure = self._call_hook(hook_name)
            if failure is not None:
                return {"info": info, "error": f"{hook_name} failed: {failure}"}
            if not isinstance(result, list | tuple) or not all(isinstance(c, base) for c in result):
                return {"info": info, "error": f"{hook_name} must return a list of {base.__name__} instances"}
            registrations[hook_name] = [self._describe(capability, base) for capability in result]
        lifecycle = [n for n in self.hooks if n not in REGISTRATION_HOOKS and n != "plugin_info"]
        return {"info": info, "hooks": lifecycle, "registrations": registrations}

    def _describe(self, capability: Capability, base: type[Capability]) -> dict[str, Any]:
        self.capabilities.setdefault((capability.kind, capability.id), capability)
        attributes = {
            name: getattr(capability, name)
            for name in ATTRIBUTES
            if isinstance(getattr(capability, name, None), str | bool)
        }
        operations = None
        if isinstance(capability, IntegrationType):
            operations = [op for op in IntegrationType.OPERATIONS if capability.supports(op)]
        return {
            "kind": capability.kind,
            "id": capability.id,
            "className": type(capability).__name__,
            "displayName": capability.display_name,
            "description": capability.description,
            "configSchema": capability.config_schema,
            "secretDestinations": list(capability.secret_destinations),
            "attributes": attributes,
            "operations": operations,
            "methods": contract_methods(base),
        }

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            if "hook" in request:
                function = self.hooks[request["hook"]]
            else:
                capability = self.capabilities[(request["kind"], request["capability"])]
                function = getattr(capability, request["method"])
            result = self.run(function, *request.get("args", []), **request.get("kwargs", {}))
            return {"result": result}
        except MemoryError:
            return {"error": {"type": "MemoryError", "message": "the worker ran out of memory"}, "fatal": True}
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin is its failure, not ours
            return {"error": describe_error(exc)}

    def serve(self) -> None:
        while True:
            frame = wire.receive(self.channel.sock)
            if frame is None:
                return
            request = wire.loads(frame, lambda index, attrs: RemoteContext(self.channel, index, attrs))
            reply = self.handle(request)
            try:
                self.channel.send(reply)
            except (TypeError, ValueError) as exc:  # a result that cannot cross the boundary
                error = {"type": "TypeError", "message": f"the result cannot be sent to the server: {exc}"}
                self.channel.send({"error": error})
            if reply.get("fatal"):
                os._exit(EXIT_OUT_OF_MEMORY)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shiplane-plugin-worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    args = parser.parse_args(argv)
    apply_limits(args.memory_mb, args.cpu_seconds)
    sock = socket.socket(fileno=args.fd)
    # Whatever the plugin prints goes to the server's log stream, never into the channel.
    sys.stdout = sys.stderr
    channel = Channel(sock)
    worker = Worker(args.plugin, channel)
    try:
        hello = worker.load()
    except MemoryError:
        hello = {"error": "import failed: MemoryError: the worker ran out of memory"}
    try:
        channel.send(hello)
    except (TypeError, ValueError) as exc:
        channel.send({"error": f"the plugin's description cannot be sent to the server: {exc}"})
        return
    if "error" not in hello:
        worker.serve()


if __name__ == "__main__":
    main()
