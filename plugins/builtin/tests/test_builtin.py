"""The built-in plugin, tested the way a vendor tests theirs: with shiplane_sdk.testing."""

from __future__ import annotations

from typing import Any

import shiplane_plugin_builtin.plugin as builtin
from shiplane_plugin_builtin.gates import Approval, FreezeWindow, PipelineOrder, Policy, ReleaseNotDeprecated
from shiplane_plugin_builtin.steps import Wait
from shiplane_plugin_builtin.strategies import AB, AllAtOnce, BlueGreen, Canary, Rolling
from shiplane_sdk import TargetRef
from shiplane_sdk.testing import (
    FakeGateContext,
    GateContract,
    PluginContract,
    RolloutStrategyContract,
    StepTypeContract,
)


class TestBuiltinPlugin(PluginContract):
    def make_plugin(self) -> object:
        return builtin


class TestPipelineOrder(GateContract):
    valid_configs = [{}]
    invalid_configs = [{"x": 1}]

    def make_capability(self) -> PipelineOrder:
        return PipelineOrder()


class TestFreezeWindow(GateContract):
    valid_configs = [{}, {"allowOverride": False}]
    invalid_configs = [{"allowOverride": "no"}]

    def make_capability(self) -> FreezeWindow:
        return FreezeWindow()


class TestApproval(GateContract):
    valid_configs = [{}, {"requiredApprovals": 2}]
    invalid_configs = [{"requiredApprovals": 0}, {"requiredApprovals": "two"}]

    def make_capability(self) -> Approval:
        return Approval()


class TestPolicy(GateContract):
    valid_configs = [{"rules": {"type": "object"}}]
    invalid_configs = [{}, {"rules": "strict"}, {"rules": {"type": "no-such-type"}}]

    def make_capability(self) -> Policy:
        return Policy()


class TestReleaseNotDeprecated(GateContract):
    valid_configs = [{}]
    invalid_configs = [{"strict": True}]

    def make_capability(self) -> ReleaseNotDeprecated:
        return ReleaseNotDeprecated()


class TestWait(StepTypeContract):
    valid_configs = [{"seconds": 0}]
    invalid_configs = [{}, {"seconds": -1}]

    def make_capability(self) -> Wait:
        return Wait()


class TestAllAtOnce(RolloutStrategyContract):
    valid_configs = [{}]
    invalid_configs = [{"batchSize": 2}]

    def make_capability(self) -> AllAtOnce:
        return AllAtOnce()


class TestRolling(RolloutStrategyContract):
    valid_configs = [{"batchSize": 2}, {"batchPercent": 50}, {}]
    invalid_configs = [{"batchSize": 0}, {"batchPercent": 101}]

    def make_capability(self) -> Rolling:
        return Rolling()


class TestCanary(RolloutStrategyContract):
    valid_configs = [{}, {"steps": [{"weight": 20, "pauseSeconds": 30}, {"weight": 100}]}]
    invalid_configs = [{"steps": []}, {"steps": [{"weight": 120}]}]

    def make_capability(self) -> Canary:
        return Canary()


class TestBlueGreen(TestCanary):
    def make_capability(self) -> BlueGreen:
        return BlueGreen()


class TestAB(TestCanary):
    def make_capability(self) -> AB:
        return AB()


def ctx(**parts: Any) -> FakeGateContext:
    return FakeGateContext(**parts)


def test_pipeline_order_names_the_missing_predecessors() -> None:
    environment = {"id": "prod", "requiredPredecessors": ["dev", "qa"]}
    failed = PipelineOrder().evaluate(ctx(environment=environment, release={"succeededEnvironmentIds": ["dev"]}), {})
    assert failed.status == "fail" and failed.details["missing"] == ["qa"]
    passed = PipelineOrder().evaluate(
        ctx(environment=environment, release={"succeededEnvironmentIds": ["qa", "dev"]}), {}
    )
    assert passed.status == "pass"


def test_freeze_window_blocks_unless_overridden() -> None:
    environment = {
        "freezeWindows": [{"id": "w1", "active": True, "reason": "black friday"}, {"id": "w2", "active": False}]
    }
    blocked = FreezeWindow().evaluate(ctx(environment=environment, promotion={}), {})
    assert blocked.status == "fail" and "black friday" in blocked.message
    override = {"freezeOverride": {"by": "alice", "reason": "hotfix"}}
    assert FreezeWindow().evaluate(ctx(environment=environment, promotion=override), {}).status == "warn"
    strict = FreezeWindow().evaluate(ctx(environment=environment, promotion=override), {"allowOverride": False})
    assert strict.status == "fail"
    assert FreezeWindow().evaluate(ctx(environment={"freezeWindows": []}), {}).status == "pass"


def test_approval_counts_distinct_approvers_and_a_rejection_blocks() -> None:
    gate = Approval()
    one = {"approvals": [{"userId": "a", "decision": "approve"}, {"userId": "a", "decision": "approve"}]}
    assert gate.evaluate(ctx(promotion=one), {"requiredApprovals": 2}).status == "pending"
    two = {"approvals": [{"userId": "a", "decision": "approve"}, {"userId": "b", "decision": "approve"}]}
    assert gate.evaluate(ctx(promotion=two), {"requiredApprovals": 2}).status == "pass"
    rejected = {"approvals": [*two["approvals"], {"userId": "c", "decision": "reject"}]}
    result = gate.evaluate(ctx(promotion=rejected), {"requiredApprovals": 2})
    assert result.status == "fail" and result.details["rejectedBy"] == ["c"]
    assert gate.evaluate(ctx(promotion=None), {}).status == "pending"


def test_policy_judges_the_release_and_lists_violations() -> None:
    rules = {
        "properties": {
            "components": {
                "items": {"properties": {"metadata": {"properties": {"criticalVulnerabilities": {"maximum": 0}}}}}
            }
        }
    }
    clean = {"components": [{"metadata": {"criticalVulnerabilities": 0}}]}
    dirty = {"components": [{"metadata": {"criticalVulnerabilities": 0}}, {"metadata": {"criticalVulnerabilities": 2}}]}
    assert Policy().evaluate(ctx(release=clean), {"rules": rules}).status == "pass"
    failed = Policy().evaluate(ctx(release=dirty), {"rules": rules, "name": "no-critical"})
    assert failed.status == "fail"
    assert failed.details["violations"][0]["path"] == "components.1.metadata.criticalVulnerabilities"
    assert Policy().validate_config({"rules": {"type": 5}})[0].field.startswith("rules")


def test_rolling_takes_a_size_or_a_percentage_not_both() -> None:
    errors = Rolling().validate_config({"batchSize": 1, "batchPercent": 10})
    assert [e.code for e in errors] == ["not"]


def test_rolling_plans_are_stable_and_cover_every_target() -> None:
    targets = [TargetRef(id=f"t{i}", name=f"host-{i}", labels={}) for i in (3, 1, 2, 5, 4)]
    batches = Rolling().plan(targets, {"batchSize": 2})
    assert [[t.name for t in b.targets] for b in batches] == [["host-1", "host-2"], ["host-3", "host-4"], ["host-5"]]
    assert [len(b.targets) for b in Rolling().plan(targets, {"batchPercent": 40})] == [2, 2, 1]
