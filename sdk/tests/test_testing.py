"""The fakes, the fixtures of the pytest plugin, and resolve()."""

import asyncio
from datetime import datetime

import pytest

from shiplane_sdk import GateContext, StepContext, TargetContext
from shiplane_sdk.testing import FakeGateContext, FakeStepContext, FakeTargetContext, resolve


def test_fakes_satisfy_the_context_protocols():
    assert isinstance(FakeStepContext(), StepContext)
    assert isinstance(FakeGateContext(), GateContext)
    assert isinstance(FakeTargetContext(), TargetContext)


def test_fake_step_context_records_and_answers():
    ctx = FakeStepContext(inputs={"env": "prod"}, integrations={"hub": {"url": "u"}}, secrets={"token": "s"})
    ctx.log("one")
    ctx.log("two")
    ctx.write_artifact("report.txt", b"first", "text/plain")
    ctx.write_artifact("report.txt", b"second", "text/plain")
    ctx.write_artifact("blob", b"\x00")
    assert ctx.logs == ["one", "two"]
    assert [(a.name, a.content) for a in ctx.artifacts] == [("report.txt", b"second"), ("blob", b"\x00")]
    assert ctx.artifact("blob").content_type == "application/octet-stream"
    assert ctx.integration("hub") == {"url": "u"}
    assert ctx.secret("token") == "s"
    with pytest.raises(KeyError, match="nope"):
        ctx.secret("nope")
    with pytest.raises(KeyError, match="nope"):
        ctx.integration("nope")
    assert ctx.is_cancelled() is False
    ctx.cancel()
    assert ctx.is_cancelled() is True


def test_fake_gate_context_defaults():
    ctx = FakeGateContext()
    assert ctx.release["components"][0]["digest"].startswith("sha256:")
    assert ctx.promotion is None
    assert ctx.now.tzinfo is not None
    ctx.log("judged")
    assert ctx.logs == ["judged"]


def test_fake_target_context_for_a_config():
    ctx = FakeTargetContext.for_config({"path": "/srv"}, tenant_id="t2")
    assert ctx.target["config"] == {"path": "/srv"} and ctx.tenant_id == "t2"
    ctx.cancelled = True
    assert ctx.is_cancelled()


def test_fixtures_from_the_pytest_plugin(fake_step_context, fake_gate_context, fake_target_context):
    assert isinstance(fake_step_context, FakeStepContext)
    assert isinstance(fake_gate_context, FakeGateContext)
    assert isinstance(fake_gate_context.now, datetime)
    assert isinstance(fake_target_context, FakeTargetContext)


def test_fixtures_are_fresh_per_test(fake_step_context):
    assert fake_step_context.logs == []
    fake_step_context.log("left over?")


def test_fixtures_are_fresh_per_test_again(fake_step_context):
    assert fake_step_context.logs == []


def test_resolve_plain_values_and_awaitables():
    async def answer():
        await asyncio.sleep(0)
        return 42

    class Awaitable:
        def __await__(self):
            return answer().__await__()

    assert resolve(7) == 7
    assert resolve(answer()) == 42
    assert resolve(Awaitable()) == 42
