"""The entry point of the ``nginx`` plugin."""

from __future__ import annotations

from shiplane_sdk import PluginInfo, TrafficRouter, hookimpl

from shiplane_plugin_nginx.router import NginxRouter


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="nginx traffic router",
        version="0.1.0",
        vendor="Shiplane",
        description="Split A/B release traffic in a local nginx: weights, sticky cookies and header routing.",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_traffic_routers() -> list[TrafficRouter]:
    return [NginxRouter()]
