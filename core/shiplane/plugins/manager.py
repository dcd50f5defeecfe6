"""Discovery, loading and the capability registry.

Plugins are the entry points of the group ``shiplane.plugins``, loaded with
stevedore. A plugin that fails to import, declares an SDK range this SDK does not
satisfy, implements a hook that does not exist (pluggy's ``check_pending``), or
whose registration hooks raise or return the wrong thing is recorded as
``failed`` with the reason, and the server starts anyway. Each loaded plugin is
registered with pluggy under its entry-point name, which is the plugin id.

Per-plugin hooks (``plugin_info``, ``plugin_health``, the ``register_*`` hooks,
``on_event``) are called one plugin at a time through its own hook
implementation, so every result and every failure is attributed to the plugin
that produced it and every call can be guarded separately.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import Distribution, EntryPoint, entry_points
from typing import Any

import pluggy
import shiplane_sdk
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from shiplane_sdk import (
    CAPABILITY_KINDS,
    REGISTRATION_HOOKS,
    Capability,
    HealthReport,
    PluginInfo,
    create_plugin_manager,
)
from stevedore import NamedExtensionManager

from shiplane.platform.settings import Settings
from shiplane.platform.tasks import stop_task
from shiplane.plugins.guard import REFUSED, PluginCallFailed, PluginGuard
from shiplane.plugins.host import HostLimits, InvalidDescription, PluginHost, PluginProcesses, make_proxy

log = logging.getLogger("shiplane.plugins")

ENTRY_POINT_GROUP = shiplane_sdk.ENTRY_POINT_GROUP
# Distributions that ship with Shiplane: enabled for every tenant unless disabled.
FIRST_PARTY_DISTRIBUTIONS = frozenset(
    {
        "shiplane-plugin-builtin",
        "shiplane-plugin-ssh",
        "shiplane-plugin-oci",
        "shiplane-plugin-git",
        "shiplane-plugin-notify",
    }
)
DEFAULT_SDK_REQUIRES = ">=0.1,<1"
HEALTH_CACHE_SECONDS = 10.0
# Older reports are not shown in the plugin list (which never calls plugin code).
HEALTH_MAX_AGE_SECONDS = 60.0
# Failures where the guard refused the probe without running plugin code: they say
# nothing about the plugin's own health, so they are not cached.
REFUSED_KINDS = REFUSED

# API names of the capability kinds.
KIND_API_NAMES = {
    "integration_type": "integrationTypes",
    "step_type": "stepTypes",
    "gate": "gates",
    "rollout_strategy": "rolloutStrategies",
    "target_type": "targetTypes",
    "traffic_router": "trafficRouters",
}


@dataclass
class LoadedPlugin:
    id: str
    distribution: str | None
    version: str | None
    name: str
    vendor: str | None
    description: str
    homepage: str | None
    sdk_requires: str | None
    first_party: bool
    load_state: str = "loaded"  # loaded | failed
    load_error: str | None = None
    obj: Any = None
    # Out of process: its workers, and the lifecycle hooks (plugin_health, on_event,
    # startup, shutdown) it implements there.
    processes: PluginProcesses | None = None
    remote_hooks: frozenset[str] = frozenset()
    capabilities: dict[str, dict[str, Capability]] = field(default_factory=lambda: {k: {} for k in CAPABILITY_KINDS})

    @property
    def failed(self) -> bool:
        return self.load_state == "failed"


@dataclass(frozen=True)
class RegisteredCapability:
    plugin_id: str
    capability: Capability


def _dist_metadata(entry_point: EntryPoint) -> dict[str, Any]:
    dist: Distribution | None = getattr(entry_point, "dist", None)
    if dist is None:
        return {"distribution": None, "version": None, "vendor": None, "description": "", "homepage": None}
    meta: Any = dist.metadata  # an email.message.Message in practice
    homepage = meta.get("Home-page")
    for url in meta.get_all("Project-URL") or []:
        label, _, value = url.partition(",")
        if label.strip().lower() in ("homepage", "home", "source") and not homepage:
            homepage = value.strip()
    return {
        "distribution": meta.get("Name"),
        "version": dist.version,
        "vendor": meta.get("Author") or meta.get("Author-email") or meta.get("Maintainer"),
        "description": meta.get("Summary") or "",
        "homepage": homepage,
    }


class PluginRegistry:
    """Every installed plugin, its load state, and what it registered."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pm: pluggy.PluginManager = create_plugin_manager()
        self.plugins: dict[str, LoadedPlugin] = {}
        self._installed: dict[str, EntryPoint] = {}
        self._health: dict[str, tuple[float, dict[str, Any]]] = {}
        self._health_locks: dict[str, asyncio.Lock] = {}
        self._prober: asyncio.Task[None] | None = None
        self.capabilities: dict[str, dict[str, RegisteredCapability]] = {k: {} for k in CAPABILITY_KINDS}
        self.guard = PluginGuard(
            settings.plugin_call_timeout_seconds,
            settings.plugin_breaker_threshold,
            settings.plugin_breaker_reset_seconds,
        )
        self.host = PluginHost(
            HostLimits(
                memory_mb=settings.plugin_worker_memory_mb,
                cpu_seconds=settings.plugin_worker_cpu_seconds,
                workers_per_plugin=settings.plugin_workers_per_plugin,
                start_timeout=settings.plugin_worker_start_timeout_seconds,
            )
        )

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> PluginRegistry:
        failures: dict[str, tuple[EntryPoint, BaseException]] = {}

        def on_failure(_manager: Any, entry_point: EntryPoint, error: BaseException) -> None:
            failures[entry_point.name] = (entry_point, error)

        # Only permitted plugins are imported at all: a denied plugin's code never runs.
        # stevedore's cached entry points carry no distribution, so metadata comes from importlib.
        self._installed = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        names = sorted(name for name in self._installed if self._permitted(name))
        # Plugins that run in worker processes are never imported here.
        isolated = [name for name in names if self.out_of_process(name)]
        hellos = self.host.start(isolated)
        manager = NamedExtensionManager(
            namespace=ENTRY_POINT_GROUP,
            names=[name for name in names if name not in hellos],
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
        entries: list[tuple[str, EntryPoint, Any, BaseException | None]] = []
        for extension in manager.extensions:
            entries.append((extension.name, extension.entry_point, extension.plugin, None))
        for name, (entry_point, load_error) in failures.items():
            entries.append((name, entry_point, None, load_error))
        for name in hellos:
            entries.append((name, self._installed[name], None, None))
        for name, entry_point, obj, error in sorted(entries, key=lambda e: e[0]):
            if name in self.plugins:
                log.warning("duplicate plugin id; keeping the first", extra={"plugin": name})
                continue
            if name in hellos:
                self._load_remote(name, entry_point, hellos[name])
            else:
                self._load_one(name, entry_point, obj, error)
        self._record_denied()
        return self

    def out_of_process(self, plugin_id: str) -> bool:
        """Whether the plugin runs in worker processes: third-party plugins do, first-party
        ones do not, unless the operator's settings name the plugin (or ``*``)."""
        if plugin_id in self.settings.plugins_in_process:
            return False
        wanted = self.settings.plugins_out_of_process
        if plugin_id in wanted or "*" in wanted:
            return True
        entry_point = self._installed.get(plugin_id)
        distribution = _dist_metadata(entry_point)["distribution"] if entry_point is not None else None
        return distribution not in FIRST_PARTY_DISTRIBUTIONS

    def _permitted(self, plugin_id: str) -> bool:
        if plugin_id in self.settings.plugins_deny:
            return False
        allow = self.settings.plugins_allow
        return allow is None or plugin_id in allow

    def _record_denied(self) -> None:
        # Plugins the operator's allow/deny lists keep out are listed as failed, with why.
        for entry_point in self._installed.values():
            if entry_point.name not in self.plugins and not self._permitted(entry_point.name):
                plugin = self._new(entry_point.name, entry_point)
                self._fail(plugin, "not loaded: excluded by SHIPLANE_PLUGINS_ALLOW / SHIPLANE_PLUGINS_DENY")

    def _new(self, name: str, entry_point: EntryPoint) -> LoadedPlugin:
        meta = _dist_metadata(self._installed.get(name, entry_point))
        plugin = LoadedPlugin(
            id=name,
            distribution=meta["distribution"],
            version=meta["version"],
            name=name,
            vendor=meta["vendor"],
            description=meta["description"],
            homepage=meta["homepage"],
            sdk_requires=None,
            first_party=meta["distribution"] in FIRST_PARTY_DISTRIBUTIONS,
        )
        self.plugins[name] = plugin
        return plugin

    def _fail(self, plugin: LoadedPlugin, reason: str) -> None:
        plugin.load_state = "failed"
        plugin.load_error = reason
        plugin.capabilities = {k: {} for k in CAPABILITY_KINDS}
        if plugin.obj is not None and self.pm.is_registered(plugin.obj):
            self.pm.unregister(plugin.obj)
        if plugin.processes is not None:
            plugin.processes.stop()
        log.error("plugin failed to load", extra={"plugin": plugin.id, "reason": reason})

    def _load_one(self, name: str, entry_point: EntryPoint, obj: Any, error: BaseException | None) -> None:
        plugin = self._new(name, entry_point)
        if error is not None:
            self._fail(plugin, f"import failed: {type(error).__name__}: {error}")
            return
        if inspect.isclass(obj):
            try:
                obj = obj()
            except Exception as exc:
                self._fail(plugin, f"could not instantiate {entry_point.value}: {type(exc).__name__}: {exc}")
                return
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # PluginValidationError, or a name/object clash
            self._fail(plugin, f"hook validation failed: {exc}")
            return
        plugin.obj = obj
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._fail(plugin, f"unknown hook: {exc}")
            return
        if not self._read_info(plugin):
            return
        self._register_capabilities(plugin)

    def hook_impl(self, plugin_id: str, hook_name: str) -> Callable[..., Any] | None:
        """The plugin's own implementation of a hook, or None if it has none."""
        plugin = self.plugins.get(plugin_id)
        if plugin is not None and plugin.processes is not None and not plugin.failed:
            return plugin.processes.hook_caller(hook_name) if hook_name in plugin.remote_hooks else None
        if plugin is None or plugin.obj is None or not self.pm.is_registered(plugin.obj):
            return None
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == plugin_id:
                return impl.function  # type: ignore[no-any-return]
        return None

    def _read_info(self, plugin: LoadedPlugin) -> bool:
        impl = self.hook_impl(plugin.id, "plugin_info")
        info: Any = None
        if impl is not None:
            try:
                info = self.guard.call_blocking(plugin.id, "plugin_info", impl)
            except PluginCallFailed as exc:
                self._fail(plugin, f"plugin_info failed: {exc.reason}")
                return False
            if not isinstance(info, PluginInfo):
                self._fail(plugin, f"plugin_info returned {type(info).__name__}, not PluginInfo")
                return False
        return self._apply_info(plugin, info)

    def _apply_info(self, plugin: LoadedPlugin, info: PluginInfo | None) -> bool:
        requires = info.sdk_requires if info is not None else DEFAULT_SDK_REQUIRES
        plugin.sdk_requires = requires
        if info is not None:
            plugin.name = info.name
            plugin.version = info.version or plugin.version
            plugin.vendor = info.vendor or plugin.vendor
            plugin.description = info.description or plugin.description
            plugin.homepage = info.homepage or plugin.homepage
        try:
            compatible = SpecifierSet(requires).contains(shiplane_sdk.__version__, prereleases=True)
        except InvalidSpecifier:
            compatible = False
        if not compatible:
            self._fail(
                plugin,
                f"incompatible SDK: the plugin requires shiplane-sdk{requires}, "
                f"installed is {shiplane_sdk.__version__}",
            )
            return False
        return True

    def _register_capabilities(self, plugin: LoadedPlugin) -> None:
        results: dict[str, Any] = {}
        for hook_name, base in REGISTRATION_HOOKS.items():
            impl = self.hook_impl(plugin.id, hook_name)
            if impl is None:
                continue
            try:
                results[hook_name] = self.guard.call_blocking(plugin.id, hook_name, impl)
            except PluginCallFailed as exc:
                self._fail(plugin, f"{hook_name} failed: {exc.reason}")
                return
            if not isinstance(results[hook_name], list | tuple) or not all(
                isinstance(c, base) for c in results[hook_name]
            ):
                self._fail(plugin, f"{hook_name} must return a list of {base.__name__} instances")
                return
        self._record_capabilities(plugin, results)

    def _load_remote(self, name: str, entry_point: EntryPoint, hello: dict[str, Any]) -> None:
        """A plugin its worker loaded: what it said in its hello, with proxies for its capabilities."""
        plugin = self._new(name, entry_point)
        plugin.processes = self.host.plugins.get(name)
        info = hello.get("info")
        if "error" in hello:
            self._fail(plugin, str(hello["error"]))
            return
        if not self._apply_info(plugin, info if isinstance(info, PluginInfo) else None):
            return
        assert plugin.processes is not None
        registrations: dict[str, list[dict[str, Any]]] = hello.get("registrations", {})
        try:
            results = {
                str(hook_name): [make_proxy(descriptor, plugin.processes) for descriptor in descriptors]
                for hook_name, descriptors in dict(registrations).items()
            }
            plugin.remote_hooks = frozenset(str(h) for h in hello.get("hooks", []))
        except (InvalidDescription, AttributeError, TypeError, ValueError) as exc:
            self._fail(plugin, f"the plugin worker sent an invalid description: {exc}")
            return
        self._record_capabilities(plugin, results)

    def _record_capabilities(self, plugin: LoadedPlugin, results: dict[str, Any]) -> None:
        found: dict[str, dict[str, Capability]] = {k: {} for k in CAPABILITY_KINDS}
        for hook_name, result in results.items():
            for capability in result:
                kind = capability.kind
                if not capability.id or capability.id in found[kind]:
                    self._fail(plugin, f"{hook_name}: missing or duplicate id {capability.id!r}")
                    return
                owner = self.capabilities[kind].get(capability.id)
                if owner is not None:
                    self._fail(plugin, f"{kind} {capability.id!r} is already provided by plugin {owner.plugin_id!r}")
                    return
                found[kind][capability.id] = capability
        plugin.capabilities = found
        for kind, items in found.items():
            for cap_id, capability in items.items():
                self.capabilities[kind][cap_id] = RegisteredCapability(plugin.id, capability)

    # -- lifecycle ----------------------------------------------------------------------------

    async def startup(self) -> None:
        for plugin in self.loaded():
            impl = self.hook_impl(plugin.id, "startup")
            if impl is None:
                continue
            try:
                await self.guard.call(plugin.id, "startup", impl)
            except Exception as exc:
                self._unregister_capabilities(plugin)
                self._fail(plugin, f"startup failed: {exc}")

    def start_health_probes(self, every_seconds: float) -> None:
        """Probe every plugin's own ``plugin_health`` in the background, so listings show a
        hanging or failing plugin without anyone asking for its health first."""
        if every_seconds > 0 and self._prober is None:
            self._prober = asyncio.create_task(self._probe_forever(every_seconds), name="shiplane-plugin-health")

    async def _probe_forever(self, every_seconds: float) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            # A plugin whose worker died gets a fresh one (after its backoff) without waiting for traffic.
            for plugin in self.loaded():
                if plugin.processes is not None and plugin.processes.failing():
                    await asyncio.get_running_loop().run_in_executor(
                        self.host.executor, plugin.processes.ensure_started
                    )
            plugins = [p.id for p in self.loaded() if self.hook_impl(p.id, "plugin_health") is not None]
            # Concurrently: one hanging plugin's probe (bounded by the guard's timeout)
            # does not delay the others'.
            results = await asyncio.gather(*(self.plugin_health(pid) for pid in plugins), return_exceptions=True)
            for plugin_id, result in zip(plugins, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    log.warning("plugin health probe failed", extra={"plugin": plugin_id, "error": repr(result)})

    async def shutdown(self) -> None:
        await stop_task(self._prober)
        self._prober = None
        for plugin in self.loaded():
            impl = self.hook_impl(plugin.id, "shutdown")
            if impl is not None:
                try:
                    await self.guard.call(plugin.id, "shutdown", impl, timeout=5.0)
                except Exception:
                    log.exception("plugin shutdown failed", extra={"plugin": plugin.id})
        self.guard.shutdown()
        self.host.shutdown()

    def _unregister_capabilities(self, plugin: LoadedPlugin) -> None:
        for kind, items in plugin.capabilities.items():
            for cap_id in items:
                self.capabilities[kind].pop(cap_id, None)

    # -- queries ---------------------------------------------------------------------------------

    def loaded(self) -> list[LoadedPlugin]:
        return [p for p in self.plugins.values() if not p.failed]

    def cached_health(self, plugin_id: str) -> dict[str, Any] | None:
        """The plugin's last own health report, without calling it; ``None`` if there is
        none or it is older than HEALTH_MAX_AGE_SECONDS. A plugin whose worker died and has
        no fresh one yet is failing, whatever it last said."""
        plugin = self.plugins.get(plugin_id)
        if plugin is not None and plugin.processes is not None:
            down = plugin.processes.failing()
            if down is not None:
                return {"status": "failing", "message": down, "details": {}}
        entry = self._health.get(plugin_id)
        if entry is None or time.monotonic() - entry[0] > HEALTH_MAX_AGE_SECONDS:
            return None
        return entry[1]

    async def plugin_health(self, plugin_id: str) -> dict[str, Any] | None:
        """The plugin's own ``plugin_health``, at most every HEALTH_CACHE_SECONDS.

        Health probes do not count against the breaker: any tenant may ask for a
        plugin's health, and asking must not trip the breaker that decides whether
        another tenant's gates can run (nor take its half-open trial: while the
        breaker is not closed the guard refuses the probe). Probes are single-flight
        per plugin: concurrent requests wait for the one running and share its result.
        A refused probe (breaker not closed, too many calls running) is not cached.
        """
        plugin = self.plugins.get(plugin_id)
        if plugin is not None and plugin.processes is not None:
            down = plugin.processes.failing()
            if down is not None:
                return {"status": "failing", "message": down, "details": {}}
        impl = self.hook_impl(plugin_id, "plugin_health")
        if impl is None:
            return None
        lock = self._health_locks.setdefault(plugin_id, asyncio.Lock())
        async with lock:
            entry = self._health.get(plugin_id)
            if entry is not None and time.monotonic() - entry[0] < HEALTH_CACHE_SECONDS:
                return entry[1]
            try:
                report = await self.guard.call(plugin_id, "plugin_health", impl, count=False)
                if not isinstance(report, HealthReport):
                    raise PluginCallFailed(plugin_id, "plugin_health", f"returned {type(report).__name__}")
                own: dict[str, Any] = report.model_dump(mode="json")
            except PluginCallFailed as exc:
                own = {"status": "failing", "message": exc.reason, "details": {}}
                if exc.kind in REFUSED_KINDS:
                    return own
            self._health[plugin_id] = (time.monotonic(), own)
            return own

    def runtime(self, plugin: LoadedPlugin, *, detail: bool = True) -> dict[str, Any]:
        """Where the plugin runs (``process``, ``in_process``; ``none`` when it failed to
        load) and, in detail, its worker processes: pids, restarts, resource use, limits."""
        if plugin.failed:
            return {"isolation": "none"}
        if plugin.processes is None:
            return {"isolation": "in_process"}
        return plugin.processes.status() if detail else {"isolation": "process"}

    def default_enabled(self, plugin: LoadedPlugin) -> bool:
        return plugin.first_party or self.settings.plugins_enabled_by_default
