"""The entry point of the ``oci`` plugin."""

from __future__ import annotations

from shiplane_sdk import IntegrationType, PluginInfo, hookimpl

from shiplane_plugin_oci.integration import OciRegistry


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="OCI registries",
        version="0.1.0",
        vendor="Shiplane",
        description="Connect any OCI / Docker Registry v2 registry: list repositories, tags and manifest digests.",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_integration_types() -> list[IntegrationType]:
    return [OciRegistry()]
