from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shiplane_sdk import (
    Batch,
    ConfigError,
    Event,
    GateResult,
    HealthReport,
    PluginInfo,
    StepResult,
    TargetRef,
    TrafficStep,
    VersionInfo,
)


def test_gate_result_helpers():
    assert GateResult.passed().status == "pass"
    failed = GateResult.failed("too many critical vulnerabilities", {"critical": 3, "max": 0})
    assert (failed.status, failed.details) == ("fail", {"critical": 3, "max": 0})
    assert GateResult.pending("freeze ends at 18:00").status == "pending"
    assert GateResult.warn("no tests ran").status == "warn"


def test_helpers_copy_details():
    details = {"a": 1}
    result = GateResult.passed("ok", details)
    details["a"] = 2
    assert result.details == {"a": 1}


def test_statuses_are_checked():
    with pytest.raises(ValidationError):
        GateResult(status="passed")
    with pytest.raises(ValidationError):
        HealthReport(status="healthy")
    with pytest.raises(ValidationError):
        StepResult(status="cancelled")


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError, match="detials"):
        GateResult(status="pass", detials={})


def test_camel_case_aliases():
    step = TrafficStep(weight=25, pauseSeconds=60)
    assert step.pause_seconds == 60
    assert step.model_dump(by_alias=True) == {"weight": 25, "pauseSeconds": 60, "manual": False, "analysis": None}
    assert ConfigError(field="a.b", message="m", code="type").model_dump(by_alias=True)["field"] == "a.b"


@pytest.mark.parametrize("weight", [-1, 101])
def test_traffic_weight_is_a_percentage(weight):
    with pytest.raises(ValidationError):
        TrafficStep(weight=weight)


def test_plugin_info_defaults_and_sdk_range():
    info = PluginInfo(name="Acme", version="2.0.0")
    assert info.sdk_requires == ">=0.1,<1"
    assert info.homepage is None
    assert info.supports_sdk()
    assert info.supports_sdk("0.9.3")
    assert not info.supports_sdk("1.0.0")
    assert not info.supports_sdk("not a version")
    assert PluginInfo(name="x", version="1", sdk_requires=">=0.1.0rc1").supports_sdk("0.1.0rc2")


def test_plugin_info_rejects_a_bad_specifier():
    with pytest.raises(ValidationError, match="specifier"):
        PluginInfo(name="Acme", version="1", sdk_requires="0.1 or later")


def test_event_is_immutable():
    event = Event(
        id="e1",
        type="promotion.approved",
        tenant_id="t1",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        resource_type="promotion",
        resource_id="p1",
        data={"by": "u1"},
    )
    with pytest.raises(ValidationError):
        event.type = "x"


def test_batches_and_versions():
    batch = Batch(index=0, targets=[TargetRef(id="t1", name="web-1", labels={"zone": "a"})])
    assert batch.targets[0].labels == {"zone": "a"}
    with pytest.raises(ValidationError):
        Batch(index=-1, targets=[])
    version = VersionInfo(tag="1.2.3", createdAt="2026-01-01T00:00:00Z")
    assert version.digest is None and version.created_at.year == 2026
