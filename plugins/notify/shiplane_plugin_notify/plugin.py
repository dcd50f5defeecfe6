"""The entry point of the ``notify`` plugin."""

from __future__ import annotations

from shiplane_sdk import IntegrationType, PluginInfo, hookimpl

from shiplane_plugin_notify.smtp import Smtp
from shiplane_plugin_notify.webhook import Webhook


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Notifications",
        version="0.1.0",
        vendor="Shiplane",
        description="Deliver events to signed webhooks (HMAC-SHA256) and as e-mail over SMTP.",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_integration_types() -> list[IntegrationType]:
    return [Webhook(), Smtp()]
