"""The entry point of the ``prometheus`` plugin."""

from __future__ import annotations

from shiplane_sdk import IntegrationType, PluginInfo, hookimpl

from shiplane_plugin_prometheus.integration import Prometheus


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Prometheus",
        version="0.1.0",
        vendor="Shiplane",
        description="Query Prometheus (PromQL, instant and range) for A/B release analysis, and check its health.",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_integration_types() -> list[IntegrationType]:
    return [Prometheus()]
