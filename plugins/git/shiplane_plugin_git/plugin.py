"""The entry point of the ``git`` plugin."""

from __future__ import annotations

from shiplane_sdk import IntegrationType, PluginInfo, hookimpl

from shiplane_plugin_git.integration import Git


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Git repositories",
        version="0.1.0",
        vendor="Shiplane",
        description="A git repository's tags (and branch heads) as versions, commit ids as digests.",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_integration_types() -> list[IntegrationType]:
    return [Git()]
