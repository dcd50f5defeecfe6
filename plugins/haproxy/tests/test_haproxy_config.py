"""The haproxy router without HAProxy: its config schema (injection attempts included),
the percentage <-> weight conversions, and weights refused before any I/O."""

from __future__ import annotations

import re
from typing import Any

import pytest
from shiplane_plugin_haproxy import HaproxyRouter, percentages, server_weights
from shiplane_plugin_haproxy.router import MAX_WEIGHT
from shiplane_plugin_haproxy.runtime_api import NAME_PATTERN, RuntimeApi, parse_address
from shiplane_sdk import PluginError

ROUTER = HaproxyRouter()
BASE: dict[str, Any] = {
    "runtimeApi": "/run/haproxy/admin.sock",
    "backend": "shop",
    "controlServers": ["control-1", "control-2"],
    "candidateServers": ["candidate-1"],
}


NAME_MESSAGE = "must be 1 to 64 letters, digits, '_', '.', ':' or '-' (an HAProxy name; no space, ';' or line break)"


def errors_of(**changes: Any) -> dict[str, str]:
    config = {**BASE, **changes}
    return {error.field: error.code for error in ROUTER.validate_config(config)}


# ---------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        BASE,
        {**BASE, "runtimeApi": "127.0.0.1:9999", "timeoutSeconds": 1, "zeroShareMode": "maintenance"},
        {**BASE, "runtimeApi": "[::1]:9999", "timeoutSeconds": 60, "zeroShareMode": "drain"},
        {**BASE, "runtimeApi": "lb-1.internal.example:9999", "backend": "be_shop.v2:eu-1"},
        {**BASE, "controlServers": [f"a{i}" for i in range(32)], "candidateServers": [f"b{i}" for i in range(32)]},
        {**BASE, "backend": "x" * 64},
    ],
)
def test_valid_configs_are_accepted(config: dict[str, Any]) -> None:
    assert ROUTER.validate_config(config) == []


@pytest.mark.parametrize(
    "name",
    [
        "shop;set server shop/control-1 weight 0",  # ';' separates runtime API commands
        "shop\nset server shop/control-1 weight 0",  # so does a line break
        "shop\n",  # Python's re matches ^...$ before a final line break: the schema must still refuse it
        "shop\r",
        "shop ",
        "shop/control-1",
        "#1",
        "",
        "x" * 65,
        "shöp",
        "shop\x00",
    ],
)
def test_names_that_could_inject_commands_are_refused(name: str) -> None:
    assert errors_of(backend=name).keys() == {"backend"}
    assert errors_of(controlServers=["control-1", name]).keys() == {"controlServers.1"}
    assert errors_of(candidateServers=[name]).keys() == {"candidateServers.0"}
    messages = {error.message for error in ROUTER.validate_config({**BASE, "backend": name})}
    assert messages == {NAME_MESSAGE}


def test_the_trailing_line_break_needs_more_than_the_pattern() -> None:
    # Why the schema pairs the pattern with "not": {"pattern": "[\r\n]"}: jsonschema runs
    # patterns with re.search, whose "$" matches before a final "\n".
    assert re.search(NAME_PATTERN, "shop\n") is not None
    assert errors_of(backend="shop\n") == {"backend": "not"}


@pytest.mark.parametrize(
    "address",
    [
        "run/haproxy/admin.sock",  # relative
        "/run/haproxy/admin.sock\nshow info",
        "/run/haproxy/admin.sock\n",
        "/" + "x" * 107,  # longer than a UNIX socket path can be
        "/run/" + "é" * 60,  # 125 bytes
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        "127.0.0.1:99999",
        "host:port",
        "http://127.0.0.1:9999",
        "[::1:9999",
        "",
    ],
)
def test_bad_runtime_api_addresses_are_refused(address: str) -> None:
    assert "runtimeApi" in errors_of(runtimeApi=address)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"controlServers": []}, "controlServers"),
        ({"candidateServers": [f"b{i}" for i in range(33)]}, "candidateServers"),
        ({"controlServers": ["control-1", "control-1"]}, "controlServers"),
        ({"candidateServers": ["control-2"]}, "candidateServers.0"),  # a server on both sides
        ({"controlServers": "control-1"}, "controlServers"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": 61}, "timeoutSeconds"),
        ({"timeoutSeconds": "5"}, "timeoutSeconds"),
        ({"zeroShareMode": "off"}, "zeroShareMode"),
        ({"weights": {"control": 90}}, "weights"),  # additionalProperties: false
        ({"backend": None}, "backend"),
    ],
)
def test_other_invalid_configs_name_the_field(changes: dict[str, Any], field: str) -> None:
    assert field in errors_of(**changes)


@pytest.mark.parametrize("missing", ["runtimeApi", "backend", "controlServers", "candidateServers"])
def test_required_fields(missing: str) -> None:
    config = {key: value for key, value in BASE.items() if key != missing}
    assert [(error.field, error.code) for error in ROUTER.validate_config(config)] == [(missing, "required")]


def test_an_invalid_config_is_a_plugin_error_before_any_io() -> None:
    config = {**BASE, "runtimeApi": "127.0.0.1:9", "backend": "shop;show info"}
    with pytest.raises(PluginError, match=r"configuration is not valid: backend: must be 1 to 64"):
        ROUTER.set_weights(config, {"control": 90, "candidate": 10})
    with pytest.raises(PluginError, match=r"configuration is not valid"):
        ROUTER.get_weights(config)


def test_the_client_refuses_to_send_a_separator_whatever_the_caller() -> None:
    api = RuntimeApi("127.0.0.1:9", 1)
    for line in ("show info; show env", "show info\nshow env", "show info\r"):
        with pytest.raises(PluginError, match="refusing to send"):
            api.command(line)


def test_addresses_parse() -> None:
    assert str(parse_address("/run/haproxy/admin.sock")) == "/run/haproxy/admin.sock"
    assert (parse_address("127.0.0.1:9999").host, parse_address("127.0.0.1:9999").port) == ("127.0.0.1", 9999)
    assert (parse_address("[::1]:9999").host, str(parse_address("[::1]:9999"))) == ("::1", "[::1]:9999")


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"control": 60, "candidate": 50}, "sum 110"),
        ({"control": 50, "candidate": 40}, "sum 90"),
        ({"control": 110, "candidate": -10}, "negative"),
        ({"control": -1, "candidate": 101}, "negative"),
        ({"control": 90.0, "candidate": 10.0}, "not int"),
        ({"control": True, "candidate": 99}, "bool"),
        ({"control": "90", "candidate": "10"}, "strings"),
        ({"control": 100}, "one side"),
        ({"A": 90, "B": 10}, "other keys"),
        ({"control": 90, "candidate": 10, "other": 0}, "extra key"),
        ([90, 10], "not a dict"),
        (None, "none"),
    ],
)
def test_bad_weights_are_a_plugin_error_before_any_io(bad: Any, reason: str) -> None:
    # Nothing listens on port 9 of 127.0.0.1: reaching it would be a different error.
    config = {**BASE, "runtimeApi": "127.0.0.1:9"}
    with pytest.raises(PluginError, match=r"^weights must be whole percentages from 0 to 100 .* summing to 100"):
        ROUTER.set_weights(config, bad)


FIXTURE_SERVERS = (["control-1", "control-2"], ["candidate-1"])


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (0, {"control-1": 1, "control-2": 1, "candidate-1": 0}),
        (10, {"control-1": 9, "control-2": 9, "candidate-1": 2}),
        (50, {"control-1": 1, "control-2": 1, "candidate-1": 2}),
        (90, {"control-1": 1, "control-2": 1, "candidate-1": 18}),
        (100, {"control-1": 0, "control-2": 0, "candidate-1": 1}),
        (37, {"control-1": 63, "control-2": 63, "candidate-1": 74}),
    ],
)
def test_server_weights_for_the_fixture_backend(candidate: int, expected: dict[str, int]) -> None:
    assert server_weights(candidate, *FIXTURE_SERVERS) == expected


def test_uneven_sides_spread_by_at_most_one() -> None:
    # 1 % with one control server: the candidate side can't hold less than 1/257 of the weight per server.
    assert server_weights(1, ["a"], ["k1", "k2", "k3", "k4"]) == {"a": 198, "k1": 1, "k2": 1, "k3": 0, "k4": 0}
    assert server_weights(37, ["a", "b", "c"], ["x", "y"]) == {"a": 42, "b": 42, "c": 42, "x": 37, "y": 37}


@pytest.mark.parametrize("control_count", [1, 2, 3, 5, 7, 16, 31, 32])
@pytest.mark.parametrize("candidate_count", [1, 2, 3, 5, 7, 16, 31, 32])
def test_every_percentage_is_exact_and_reads_back(control_count: int, candidate_count: int) -> None:
    control = [f"a{i}" for i in range(control_count)]
    candidate = [f"b{i}" for i in range(candidate_count)]
    for percent in range(101):
        weights = server_weights(percent, control, candidate)
        assert all(0 <= weight <= MAX_WEIGHT for weight in weights.values())
        for side in (control, candidate):
            assert max(weights[s] for s in side) - min(weights[s] for s in side) <= 1
        control_total = sum(weights[s] for s in control)
        candidate_total = sum(weights[s] for s in candidate)
        assert candidate_total * (100 - percent) == control_total * percent  # the exact ratio
        assert percentages(control_total, candidate_total) == {"control": 100 - percent, "candidate": percent}


def test_percentages_round_and_never_hide_a_side_with_weight() -> None:
    assert percentages(9, 2) == {"control": 82, "candidate": 18}  # 18.18 %
    assert percentages(1, 1) == {"control": 50, "candidate": 50}
    assert percentages(199, 1) == {"control": 99, "candidate": 1}  # 0.5 % rounds half up
    assert percentages(256 * 32, 1) == {"control": 99, "candidate": 1}  # 0.004 %: still not 0
    assert percentages(1, 256 * 32) == {"control": 1, "candidate": 99}
    assert percentages(0, 7) == {"control": 0, "candidate": 100}
    assert percentages(7, 0) == {"control": 100, "candidate": 0}
    with pytest.raises(ValueError):
        percentages(0, 0)
