"""The entry point of the ``siem`` plugin."""

from __future__ import annotations

from shiplane_sdk import IntegrationType, PluginInfo, hookimpl

from shiplane_plugin_siem.splunk import SplunkHec
from shiplane_plugin_siem.syslog import Syslog


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="SIEM audit streaming",
        version="0.1.0",
        vendor="Shiplane",
        description="Stream each tenant's hash-chained audit trail to Splunk HTTP Event Collector and to syslog "
        "receivers (RFC 5424 over TCP or TLS).",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_integration_types() -> list[IntegrationType]:
    return [SplunkHec(), Syslog()]
