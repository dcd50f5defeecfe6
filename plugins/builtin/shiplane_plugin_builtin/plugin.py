"""The entry point: Shiplane's built-in capabilities, registered like any vendor's."""

from __future__ import annotations

from shiplane_sdk import Gate, PluginInfo, RolloutStrategy, StepType, TargetType, hookimpl

from shiplane_plugin_builtin import __doc__ as _doc
from shiplane_plugin_builtin.core_steps import Approval as ApprovalStep
from shiplane_plugin_builtin.core_steps import Deploy, GateStep, HealthCheck, Manual, Notify, Script
from shiplane_plugin_builtin.gates import Approval, FreezeWindow, PipelineOrder, Policy, ReleaseNotDeprecated
from shiplane_plugin_builtin.http_step import HttpRequest
from shiplane_plugin_builtin.steps import Wait
from shiplane_plugin_builtin.strategies import AB, AllAtOnce, BlueGreen, Canary, Rolling
from shiplane_plugin_builtin.targets import Local


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Shiplane built-ins",
        version="0.1.0",
        vendor="Shiplane",
        description=_doc or "",
        homepage=None,
        sdk_requires=">=0.1,<1",
    )


@hookimpl
def register_rollout_strategies() -> list[RolloutStrategy]:
    return [AllAtOnce(), Rolling(), Canary(), BlueGreen(), AB()]


@hookimpl
def register_step_types() -> list[StepType]:
    return [Wait(), HttpRequest(), Script(), ApprovalStep(), Manual(), Notify(), GateStep(), HealthCheck(), Deploy()]


@hookimpl
def register_gates() -> list[Gate]:
    return [PipelineOrder(), FreezeWindow(), Approval(), Policy(), ReleaseNotDeprecated()]


@hookimpl
def register_target_types() -> list[TargetType]:
    return [Local()]
