"""Testing helpers for Shiplane plugins (``pip install shiplane-sdk[testing]``).

- Fake contexts: :class:`FakeStepContext`, :class:`FakeGateContext`,
  :class:`FakeTargetContext` (also pytest fixtures ``fake_step_context``,
  ``fake_gate_context``, ``fake_target_context``, available once the SDK is
  installed).
- :func:`registered_plugin`: register a plugin with a fresh plugin manager for one
  test, exactly as the server does (misspelled hooks fail).
- :func:`resolve`: the result of a capability call, awaited if it is awaitable.
- Contract test base classes: :class:`GateContract`, :class:`StepTypeContract`,
  :class:`IntegrationTypeContract`, :class:`RolloutStrategyContract`,
  :class:`TargetTypeContract`, :class:`TrafficRouterContract` and
  :class:`PluginContract`. Subclass one as ``class Test...`` and get its tests.
"""

from shiplane_sdk.testing.contracts import (
    CapabilityContract,
    GateContract,
    IntegrationTypeContract,
    PluginContract,
    RolloutStrategyContract,
    StepTypeContract,
    TargetTypeContract,
    TrafficRouterContract,
)
from shiplane_sdk.testing.fakes import (
    FakeGateContext,
    FakeStepContext,
    FakeTargetContext,
    RecordedArtifact,
)
from shiplane_sdk.testing.plugins import registered_plugin, resolve

__all__ = [
    "CapabilityContract",
    "FakeGateContext",
    "FakeStepContext",
    "FakeTargetContext",
    "GateContract",
    "IntegrationTypeContract",
    "PluginContract",
    "RecordedArtifact",
    "RolloutStrategyContract",
    "StepTypeContract",
    "TargetTypeContract",
    "TrafficRouterContract",
    "registered_plugin",
    "resolve",
]
