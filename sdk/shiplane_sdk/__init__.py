"""Shiplane plugin SDK.

What a plugin vendor imports to extend Shiplane, and all it imports: the
``hookimpl`` marker, the hook specifications (:mod:`shiplane_sdk.hookspecs`),
the capability base classes, their result models, and the context protocols
capabilities receive. Test helpers live in :mod:`shiplane_sdk.testing`.

A minimal plugin::

    from shiplane_sdk import Gate, GateResult, PluginInfo, hookimpl

    class AlwaysPass(Gate):
        id = "always-pass"
        display_name = "Always pass"
        description = "Lets every promotion through."

        def evaluate(self, ctx, config):
            return GateResult.passed("nothing to check")

    @hookimpl
    def plugin_info():
        return PluginInfo(name="Example", version="1.0.0", vendor="Acme")

    @hookimpl
    def register_gates():
        return [AlwaysPass()]
"""

from shiplane_sdk._version import __version__
from shiplane_sdk.capabilities import (
    CAPABILITY_ID_PATTERN,
    CAPABILITY_KINDS,
    INTEGRATION_CATEGORIES,
    Capability,
    CapabilityKind,
    Gate,
    IntegrationCategory,
    IntegrationType,
    RolloutStrategy,
    StepType,
    TargetType,
    TrafficRouter,
)
from shiplane_sdk.context import GateContext, StepContext, TargetContext
from shiplane_sdk.exceptions import (
    CapabilityNotSupported,
    ConfigValidationError,
    PluginError,
    ShiplaneSDKError,
    StepCancelled,
)
from shiplane_sdk.hookspecs import HOOK_NAMES, REGISTRATION_HOOKS
from shiplane_sdk.markers import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl
from shiplane_sdk.models import (
    AuditRecord,
    Batch,
    ConfigError,
    ConnectionTestResult,
    DeployResult,
    DiscoveredItem,
    Event,
    GateResult,
    HealthReport,
    MetricPoint,
    MetricQuery,
    MetricResult,
    MetricSeries,
    NotificationMessage,
    PluginInfo,
    StepResult,
    StepWait,
    TargetRef,
    TrafficStep,
    VersionInfo,
)
from shiplane_sdk.plugin_manager import create_plugin_manager

__all__ = [
    # constants
    "CAPABILITY_ID_PATTERN",
    "CAPABILITY_KINDS",
    "ENTRY_POINT_GROUP",
    "HOOK_NAMES",
    "INTEGRATION_CATEGORIES",
    "PROJECT_NAME",
    "REGISTRATION_HOOKS",
    "__version__",
    # hooks
    "create_plugin_manager",
    "hookimpl",
    # capabilities
    "Capability",
    "CapabilityKind",
    "Gate",
    "IntegrationCategory",
    "IntegrationType",
    "RolloutStrategy",
    "StepType",
    "TargetType",
    "TrafficRouter",
    # contexts
    "GateContext",
    "StepContext",
    "TargetContext",
    # models
    "Batch",
    "ConfigError",
    "ConnectionTestResult",
    "DeployResult",
    "DiscoveredItem",
    "Event",
    "GateResult",
    "HealthReport",
    "AuditRecord",
    "MetricPoint",
    "MetricQuery",
    "MetricResult",
    "MetricSeries",
    "NotificationMessage",
    "PluginInfo",
    "StepResult",
    "StepWait",
    "TargetRef",
    "TrafficStep",
    "VersionInfo",
    # exceptions
    "CapabilityNotSupported",
    "ConfigValidationError",
    "PluginError",
    "ShiplaneSDKError",
    "StepCancelled",
]
