"""The entry point of the ``haproxy`` plugin."""

from __future__ import annotations

from shiplane_sdk import PluginInfo, TrafficRouter, hookimpl

from shiplane_plugin_haproxy.router import HaproxyRouter


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="HAProxy traffic router",
        version="0.1.0",
        vendor="Shiplane",
        description="Split A/B release traffic by setting HAProxy server weights through its runtime API.",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_traffic_routers() -> list[TrafficRouter]:
    return [HaproxyRouter()]
