"""The pytest plugin of shiplane-sdk, loaded automatically once it is installed.

It only defines fixtures (no hooks, no options, no side effects), so it is
harmless in any test suite.
"""

from __future__ import annotations

import pytest

from shiplane_sdk.testing.fakes import FakeGateContext, FakeStepContext, FakeTargetContext


@pytest.fixture
def fake_step_context() -> FakeStepContext:
    """A fresh :class:`~shiplane_sdk.testing.FakeStepContext`."""
    return FakeStepContext()


@pytest.fixture
def fake_gate_context() -> FakeGateContext:
    """A fresh :class:`~shiplane_sdk.testing.FakeGateContext`."""
    return FakeGateContext()


@pytest.fixture
def fake_target_context() -> FakeTargetContext:
    """A fresh :class:`~shiplane_sdk.testing.FakeTargetContext`."""
    return FakeTargetContext()
