"""Acme's own tests, built on shiplane_sdk.testing alone (no server needed)."""

from __future__ import annotations

import acme_shiplane.plugin as acme
from acme_shiplane.plugin import AcmeRegistry, ChangeTicketGate, ChecksumStep
from shiplane_sdk import GateResult
from shiplane_sdk.testing import (
    FakeGateContext,
    FakeStepContext,
    GateContract,
    IntegrationTypeContract,
    PluginContract,
    StepTypeContract,
    registered_plugin,
)


class TestChangeTicketGate(GateContract):
    valid_configs = [{}, {"pattern": r"JIRA-\d+"}]
    invalid_configs = [{"pattern": ""}, {"pattern": 5}, {"other": 1}]

    def make_capability(self) -> ChangeTicketGate:
        return ChangeTicketGate()


class TestChecksumStep(StepTypeContract):
    valid_configs = [{"text": "hello"}]
    invalid_configs = [{}, {"text": 1}]

    def make_capability(self) -> ChecksumStep:
        return ChecksumStep()


class TestAcmeRegistry(IntegrationTypeContract):
    valid_configs = [{"url": "https://registry.acme.example", "apiToken": "s3cr3t-token"}]
    invalid_configs = [{"url": "ftp://x", "apiToken": "s3cr3t-token"}, {"url": "https://x"}, {"apiToken": "short"}]

    def make_capability(self) -> AcmeRegistry:
        return AcmeRegistry()


class TestAcmePlugin(PluginContract):
    def make_plugin(self) -> object:
        return acme


def test_gate_passes_with_a_ticket_and_explains_itself() -> None:
    ctx = FakeGateContext(promotion={"reason": "ship it, CHG-4711"})
    result = ChangeTicketGate().evaluate(ctx, {})
    assert result.status == "pass"
    assert result.details["ticket"] == "CHG-4711"


def test_gate_fails_without_a_ticket() -> None:
    result = ChangeTicketGate().evaluate(FakeGateContext(promotion={"reason": "yolo"}), {})
    assert isinstance(result, GateResult) and result.status == "fail"
    assert result.details["reason"] == "yolo"


def test_checksum_outputs_the_sha256_and_logs_it() -> None:
    ctx = FakeStepContext()
    result = ChecksumStep().run(ctx, {"text": "abc"})
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert result.outputs == {"sha256": digest}
    assert any(digest in line for line in ctx.logs)


def test_tokens_are_secret_fields() -> None:
    assert AcmeRegistry().secret_fields() == ["apiToken"]
    assert ChangeTicketGate().secret_fields() == ["ticketSystemToken"]


def test_registered_for_one_test() -> None:
    with registered_plugin(acme, name="acme") as pm:
        gates = [g for batch in pm.hook.register_gates() for g in batch]
        assert [g.id for g in gates] == ["change-ticket"]
