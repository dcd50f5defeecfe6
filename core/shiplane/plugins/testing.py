"""Contract tests out of process: a capability's stand-in running in a plugin worker.

Used by ``shiplane_sdk.testing`` when ``SHIPLANE_TEST_ISOLATION=process``: the plugin
that provides the capability (found by its installed entry point) is started once per
test session in a worker of a ``PluginHost``, exactly as the server starts it, and the
tests call the proxy the server would hold.
"""

from __future__ import annotations

import atexit
from importlib.metadata import entry_points
from typing import Any

from shiplane_sdk import ENTRY_POINT_GROUP

from shiplane.plugins.host import HostLimits, PluginHost, make_proxy

_started: dict[str, tuple[PluginHost, dict[str, Any]]] = {}


def plugin_id_of(capability: Any) -> str:
    """The entry point (plugin id) whose package defines ``capability``'s class."""
    package = type(capability).__module__.split(".")[0]
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.module.split(".")[0] == package:
            return entry_point.name
    raise LookupError(f"no installed {ENTRY_POINT_GROUP} entry point provides {type(capability).__module__}")


def in_worker(capability: Any) -> Any:
    plugin_id = plugin_id_of(capability)
    if plugin_id not in _started:
        host = PluginHost(HostLimits(memory_mb=1024, cpu_seconds=0, workers_per_plugin=1, start_timeout=60))
        atexit.register(host.shutdown)
        hello = host.start([plugin_id])[plugin_id]
        if "error" in hello:
            raise RuntimeError(f"plugin {plugin_id!r} does not load in a worker: {hello['error']}")
        _started[plugin_id] = (host, hello)
    host, hello = _started[plugin_id]
    for descriptors in hello.get("registrations", {}).values():
        for descriptor in descriptors:
            if descriptor["kind"] == capability.kind and descriptor["id"] == capability.id:
                return make_proxy(descriptor, host.plugins[plugin_id])
    raise LookupError(f"plugin {plugin_id!r} registers no {capability.kind} {capability.id!r}")
