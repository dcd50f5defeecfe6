"""The entry point of the ``ssh`` plugin."""

from __future__ import annotations

from shiplane_sdk import PluginInfo, TargetType, hookimpl

from shiplane_plugin_ssh.target import Ssh


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="SSH targets",
        version="0.1.0",
        vendor="Shiplane",
        description="Deploy onto hosts over SSH: key authentication, verified host keys.",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_target_types() -> list[TargetType]:
    return [Ssh()]
