"""The server side of the plugin protocol trusts nothing a worker sends.

A worker runs third-party code, which can replace the worker's own code: what comes
over the channel (the hello, replies) is decoded strictly, and a description the
server cannot use fails that plugin, never the server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from shiplane.platform.settings import Settings
from shiplane.plugins import wire
from shiplane.plugins.host import InvalidDescription, PluginProcesses, make_proxy
from shiplane.plugins.manager import PluginRegistry
from shiplane_sdk import Gate, GateResult

GOOD = {
    "kind": "gate",
    "id": "lying",
    "className": "LyingGate",
    "displayName": "Lying",
    "description": "",
    "configSchema": {"type": "object"},
    "secretDestinations": [],
    "attributes": {},
    "operations": None,
    "methods": ["evaluate", "validate_config"],
}


WORKERS = SimpleNamespace(plugin_id="lying")


def test_values_round_trip_with_their_types() -> None:
    now = datetime.now(UTC)
    value = {"result": GateResult.passed("ok", {"n": 1}), "at": now, "blob": b"\x00\xff", "items": (1, 2)}
    decoded = wire.loads(wire.dumps(value))
    assert decoded == {"result": GateResult.passed("ok", {"n": 1}), "at": now, "blob": b"\x00\xff", "items": [1, 2]}


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"\xff\xfe",
        json.dumps({wire.TAG: "model", "name": "NoSuchModel", "value": {}}).encode(),
        json.dumps({wire.TAG: "model", "name": "GateResult", "value": {"status": "maybe"}}).encode(),
        json.dumps({wire.TAG: "datetime", "value": "yesterday"}).encode(),
        json.dumps({wire.TAG: "bytes", "value": "***"}).encode(),
        json.dumps({wire.TAG: "exploit"}).encode(),
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_frame_that_does_not_decode_is_a_wire_error(frame: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.loads(frame)


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "backdoor"},
        {"kind": None},
        {"id": 5},
        {"methods": ["evaluate", "describe"]},  # would replace a server-side method
        {"methods": "evaluate"},
        {"attributes": {"evaluate": "x"}},
        {"attributes": {"category": {"nested": 1}}},
        {"className": "Not An Identifier"},
    ],
)
def test_a_description_the_server_cannot_use_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidDescription):
        make_proxy({**GOOD, **change}, WORKERS)  # type: ignore[arg-type]


def test_a_good_description_makes_a_proxy_of_the_sdk_class() -> None:
    proxy = make_proxy(GOOD, WORKERS)  # type: ignore[arg-type]
    assert isinstance(proxy, Gate) and proxy.id == "lying"
    assert proxy.describe()["configSchema"] == {"type": "object"}


def test_a_plugin_whose_worker_lies_fails_alone(tmp_path: Path) -> None:
    settings = Settings(mode="development", data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    registry = PluginRegistry(settings).load()
    try:
        entry_point = registry._installed["builtin"]
        registry.host.plugins["lying"] = PluginProcesses("lying", registry.host.limits, {}, registry.host.executor)
        hello = {"registrations": {"register_gates": [{**GOOD, "kind": "backdoor"}]}, "hooks": []}
        registry._load_remote("lying", entry_point, hello)
        assert registry.plugins["lying"].failed
        assert "invalid description" in (registry.plugins["lying"].load_error or "")
        assert "lying" not in registry.capabilities["gate"]
        assert not registry.plugins["builtin"].failed
    finally:
        registry.host.shutdown()
