"""The ``haproxy`` router against a real HAProxy (haproxy_lab.py), with real requests through it.

Tolerance of the request shares: HAProxy's ``balance roundrobin`` is a deterministic
weighted round robin (FWRR) that is exact over every full scheduling round. The only
deviation is in the round during which the weights change: it runs on positions
computed from the old weights, and a server whose weight goes up from 0 joins at the
next round. That costs a bounded number of requests, independent of how many are sent
afterwards: starting from haproxy.cfg's weights (100/100/0), the worst seen over about
80 positions in the round was 10 requests (at 10 %). With ``REQUESTS`` = 1000 we allow
``TOLERANCE`` = 15 requests (1.5 percentage points); 0 % and 100 % must be exact. The
exact server weights are asserted separately, so a wrong conversion can't hide in the
tolerance.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shiplane_plugin_haproxy.plugin
from haproxy_lab import (
    CANDIDATE_BACKEND_CONFIG,
    CANDIDATE_BACKEND_FRONTEND,
    CONFIG,
    COOKIE,
    DOC_VALUES,
    STATE_FILE_DEFAULTS,
    STATE_FILE_GLOBAL,
    TEST_GLOBAL,
    VARIANT_HEADER,
    Haproxy,
    Lab,
    render,
    with_defaults,
    with_global,
)
from shiplane_plugin_haproxy import HaproxyRouter
from shiplane_sdk import PluginError
from shiplane_sdk.testing import PluginContract, TrafficRouterContract

REQUESTS = 1000
TOLERANCE = 15
ROUTER = HaproxyRouter()
INITIAL = {"control-1": 100, "control-2": 100, "candidate-1": 0}
DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "haproxy.md"


def split(candidate: int) -> dict[str, int]:
    return {"control": 100 - candidate, "candidate": candidate}


def candidate_count(haproxy: Haproxy, requests: int, headers: dict[str, str] | None = None) -> int:
    return sum(haproxy.get(headers).version == "candidate" for _ in range(requests))


# ---------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------


class TestHaproxyRouterContract(TrafficRouterContract):
    valid_configs = [
        {
            "runtimeApi": "/run/haproxy/admin.sock",
            "backend": "shop",
            "controlServers": ["control-1", "control-2"],
            "candidateServers": ["candidate-1"],
        },
        {
            "runtimeApi": "127.0.0.1:9999",
            "backend": "shop",
            "controlServers": ["a"],
            "candidateServers": ["b"],
            "zeroShareMode": "maintenance",
            "timeoutSeconds": 10,
        },
    ]
    invalid_configs = [
        {"runtimeApi": "/run/haproxy/admin.sock", "backend": "shop;show env", "controlServers": ["a"],
         "candidateServers": ["b"]},
        {"runtimeApi": "/run/haproxy/admin.sock", "backend": "shop", "controlServers": ["a\n"],
         "candidateServers": ["b"]},
        {"runtimeApi": "admin.sock", "backend": "shop", "controlServers": ["a"], "candidateServers": ["b"]},
        {"runtimeApi": "/run/haproxy/admin.sock", "backend": "shop", "controlServers": ["a"],
         "candidateServers": ["a"]},
    ]  # fmt: skip

    @pytest.fixture(autouse=True)
    def _lab(self, lab: Lab) -> None:
        self.lab = lab

    def make_capability(self) -> HaproxyRouter:
        return HaproxyRouter()

    def first_valid_config(self) -> dict[str, Any]:
        # The contract sets and reads weights with it: point it at the test HAProxy.
        return self.lab.config()


class TestHaproxyPluginContract(PluginContract):
    plugin_name = "haproxy"

    def make_plugin(self) -> object:
        return shiplane_plugin_haproxy.plugin


# ---------------------------------------------------------------------------
# 1. The share of new requests follows the weights
# ---------------------------------------------------------------------------

SERVER_WEIGHTS = {
    0: {"control-1": 1, "control-2": 1, "candidate-1": 0},
    10: {"control-1": 9, "control-2": 9, "candidate-1": 2},
    50: {"control-1": 1, "control-2": 1, "candidate-1": 2},
    90: {"control-1": 1, "control-2": 1, "candidate-1": 18},
    100: {"control-1": 0, "control-2": 0, "candidate-1": 1},
}


@pytest.mark.parametrize("candidate", [0, 10, 50, 90, 100])
def test_the_share_of_new_requests_follows_the_weights(lab: Lab, candidate: int) -> None:
    ROUTER.set_weights(lab.config(), split(candidate))

    assert lab.haproxy.weights() == SERVER_WEIGHTS[candidate]
    assert ROUTER.get_weights(lab.config()) == split(candidate)
    answered = candidate_count(lab.haproxy, REQUESTS)
    expected = REQUESTS * candidate // 100
    if candidate in (0, 100):
        assert answered == expected
    else:
        assert abs(answered - expected) <= TOLERANCE, f"{answered} of {REQUESTS} requests reached the candidate"


def test_the_control_servers_share_the_control_side(lab: Lab) -> None:
    ROUTER.set_weights(lab.config(), split(50))
    servers = Counter(lab.haproxy.get().server for _ in range(400))
    # Weights 1/1/2: a quarter each, within the same transient as above.
    assert all(abs(servers[name] - 100) <= TOLERANCE for name in ("control-1", "control-2")), servers


def test_the_tcp_runtime_api_works_too(lab: Lab) -> None:
    config = lab.config(runtimeApi=lab.haproxy.admin_tcp)
    ROUTER.set_weights(config, split(20))
    assert ROUTER.get_weights(config) == split(20)
    assert lab.haproxy.weights() == {"control-1": 2, "control-2": 2, "candidate-1": 1}


def test_setting_the_same_weights_again_changes_nothing(lab: Lab) -> None:
    ROUTER.set_weights(lab.config(), split(10))
    ROUTER.set_weights(lab.config(), split(10))
    assert lab.haproxy.weights() == SERVER_WEIGHTS[10]


# ---------------------------------------------------------------------------
# 2. Stickiness
# ---------------------------------------------------------------------------


def first_users(lab: Lab) -> tuple[str, str]:
    """The cookies of a new user HAProxy sent to the candidate and of one it sent to the control side."""
    cookies: dict[str, str] = {}
    for _ in range(40):
        answer = lab.haproxy.get()
        assert answer.set_cookie is not None and answer.set_cookie.startswith(f"{COOKIE}={answer.server};")
        cookies.setdefault(answer.version, answer.cookie)
        if len(cookies) == 2:
            return cookies["candidate"], cookies["control"]
    raise AssertionError(f"40 new users did not reach both sides: {cookies}")


def test_the_cookie_keeps_users_on_their_side_across_weight_changes(lab: Lab) -> None:
    config = lab.config()  # zeroShareMode drain: weight 0 only
    ROUTER.set_weights(config, split(50))
    candidate_user, control_user = first_users(lab)

    for weights in (split(50), split(0), split(100), split(10)):
        ROUTER.set_weights(config, weights)
        for _ in range(10):
            on_candidate = lab.haproxy.get({"Cookie": candidate_user})
            on_control = lab.haproxy.get({"Cookie": control_user})
            # A weight of 0 still honours the cookie: only new users follow the weights.
            assert on_candidate.version == "candidate", weights
            assert on_control.version == "control", weights
            # "indirect": no new cookie for a user whose cookie is valid.
            assert on_candidate.set_cookie is None and on_control.set_cookie is None
        if weights["candidate"] in (0, 100):
            assert candidate_count(lab.haproxy, 20) == 20 * weights["candidate"] // 100  # new users follow the weights


def test_maintenance_mode_moves_sticky_users_off_a_side_at_zero(lab: Lab) -> None:
    config = lab.config(zeroShareMode="maintenance")
    ROUTER.set_weights(config, split(50))
    candidate_user, _ = first_users(lab)

    ROUTER.set_weights(config, split(0))
    assert lab.haproxy.admin_states()["candidate-1"] & 0x01  # forced maintenance
    assert ROUTER.get_weights(config) == split(0)
    moved = lab.haproxy.get({"Cookie": candidate_user})
    assert moved.version == "control"
    assert moved.set_cookie is not None and moved.set_cookie.startswith(f"{COOKIE}=control-")  # re-stuck
    # use-server skips a server in maintenance: header routing stops too.
    assert lab.haproxy.get({VARIANT_HEADER: "candidate"}).version == "control"

    ROUTER.set_weights(config, split(50))
    assert lab.haproxy.admin_states() == {"control-1": 0, "control-2": 0, "candidate-1": 0}
    assert lab.haproxy.get({"Cookie": candidate_user}).version == "candidate"

    ROUTER.set_weights(config, split(100))
    assert lab.haproxy.admin_states() == {"control-1": 1, "control-2": 1, "candidate-1": 0}
    assert candidate_count(lab.haproxy, 20) == 20


# ---------------------------------------------------------------------------
# 3. Header routing
# ---------------------------------------------------------------------------


def test_the_header_sends_requests_to_the_candidate_at_weight_zero(lab: Lab) -> None:
    ROUTER.set_weights(lab.config(), split(0))
    for _ in range(20):
        routed = lab.haproxy.get({VARIANT_HEADER: "candidate"})
        assert (routed.version, routed.server) == ("candidate", "candidate-1")
        assert routed.set_cookie is None  # use-server routes directly: no sticky cookie is set
    assert candidate_count(lab.haproxy, 20) == 0
    assert candidate_count(lab.haproxy, 20, {VARIANT_HEADER: "control"}) == 0
    assert candidate_count(lab.haproxy, 20, {VARIANT_HEADER: "Candidate"}) == 0  # -m str: exact, case-sensitive


def test_header_routing_to_a_candidate_backend(fresh_haproxy: Callable[..., Haproxy]) -> None:
    # The variant for several candidate servers: the frontend picks a second backend.
    haproxy = fresh_haproxy(CANDIDATE_BACKEND_CONFIG)
    config = {
        "runtimeApi": str(haproxy.admin_socket),
        "backend": "shop",
        "controlServers": ["control-1", "control-2"],
        "candidateServers": ["candidate-1"],
        "zeroShareMode": "maintenance",
    }
    ROUTER.set_weights(config, split(0))
    assert candidate_count(haproxy, 20, {VARIANT_HEADER: "candidate"}) == 20  # even with candidate-1 in maintenance
    assert candidate_count(haproxy, 20) == 0


# ---------------------------------------------------------------------------
# 4. get_weights reads what HAProxy has
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"control-1": 3, "control-2": 1, "candidate-1": 4}, 50),
        ({"control-1": 1, "control-2": 1, "candidate-1": 1}, 33),
        ({"control-1": 256, "control-2": 256, "candidate-1": 1}, 1),  # 0.2 %: not shown as 0
        ({"control-1": 0, "control-2": 0, "candidate-1": 7}, 100),
        ({"control-1": 100, "control-2": 100, "candidate-1": 0}, 0),
    ],
)
def test_get_weights_reads_what_haproxy_has(lab: Lab, weights: dict[str, int], expected: int) -> None:
    for name, weight in weights.items():
        assert lab.haproxy.command(f"set server shop/{name} weight {weight}").strip() == ""
    assert ROUTER.get_weights(lab.config()) == split(expected)


def test_no_weight_at_all_is_a_plugin_error(lab: Lab) -> None:
    for name in INITIAL:
        lab.haproxy.command(f"set server shop/{name} weight 0")
    with pytest.raises(PluginError, match="has weight 0, so there is no traffic split to report"):
        ROUTER.get_weights(lab.config())


@pytest.mark.parametrize(
    "weights", [{"control": 60, "candidate": 50}, {"control": 110, "candidate": -10}, {"control": 100}]
)
def test_bad_weights_change_nothing(lab: Lab, weights: dict[str, int]) -> None:
    with pytest.raises(PluginError, match="weights must be whole percentages"):
        ROUTER.set_weights(lab.config(), weights)
    assert lab.haproxy.weights() == INITIAL


# ---------------------------------------------------------------------------
# 5. Unknown names, refusals, unreachable runtime APIs
# ---------------------------------------------------------------------------


def test_an_unknown_backend_is_a_plugin_error(lab: Lab) -> None:
    with pytest.raises(PluginError) as caught:
        ROUTER.set_weights(lab.config(backend="nope"), split(10))
    assert caught.value.message == "HAProxy has no backend 'nope' (it answered \"Can't find backend.\")."
    with pytest.raises(PluginError, match="no backend 'nope'"):
        ROUTER.get_weights(lab.config(backend="nope"))


def test_an_unknown_server_is_a_plugin_error_and_nothing_changes(lab: Lab) -> None:
    config = lab.config(candidateServers=["candidate-1", "candidate-9"])
    with pytest.raises(PluginError) as caught:
        ROUTER.set_weights(config, split(10))
    assert caught.value.message == (
        "HAProxy backend 'shop' has no server named 'candidate-9' (its servers: candidate-1, control-1, control-2)."
    )
    assert lab.haproxy.weights() == INITIAL
    with pytest.raises(PluginError, match="no server named 'candidate-9'"):
        ROUTER.get_weights(config)


def test_a_refusal_is_reported_with_haproxys_answer(lab: Lab) -> None:
    # An operator-level socket may read but not set weights.
    config = lab.config(runtimeApi=str(lab.haproxy.operator_socket))
    assert ROUTER.get_weights(config) == split(0)
    with pytest.raises(PluginError) as caught:
        ROUTER.set_weights(config, split(10))
    assert caught.value.message == (
        "HAProxy refused 'set server shop/candidate-1 weight 2': Permission denied; nothing was changed."
    )
    assert caught.value.details["haproxy"] == "Permission denied"
    assert lab.haproxy.weights() == INITIAL


def test_a_refusal_midway_undoes_what_was_already_changed(lab: Lab) -> None:
    # static-rr: HAProxy accepts only 0 or the weight haproxy.cfg gives (old-1 1, old-2 2, new-1 18).
    config = lab.config(backend="legacy", controlServers=["old-1", "old-2"], candidateServers=["new-1"])
    assert lab.haproxy.command("set server legacy/new-1 weight 0").strip() == ""
    with pytest.raises(PluginError) as caught:
        ROUTER.set_weights(config, split(90))  # new-1 0 -> 18 is accepted, then old-2 2 -> 1 is refused
    assert caught.value.message == (
        "HAProxy refused 'set server legacy/old-2 weight 1': Backend is using a static LB algorithm and only "
        "accepts weights '0%' and '100%'.; the changes already made were undone (new-1 weight 0 -> 18)."
    )
    assert caught.value.details["undone"] is True
    assert lab.haproxy.weights("legacy") == {"old-1": 1, "old-2": 2, "new-1": 0}


def test_a_side_that_cannot_take_traffic_is_reported(lab: Lab) -> None:
    for state, why in (("maint", "in maintenance"), ("drain", "draining")):
        lab.reset()
        assert lab.haproxy.command(f"set server shop/candidate-1 state {state}").strip() == ""
        with pytest.raises(PluginError) as caught:
            ROUTER.set_weights(lab.config(), split(50))
        assert caught.value.message == (
            "the weights were set, but no candidate server of HAProxy backend 'shop' can take new traffic "
            f"(candidate-1 is {why}), so HAProxy sends the candidate share to the control servers."
        )
        assert candidate_count(lab.haproxy, 10) == 0


def test_an_unreachable_runtime_api_is_a_plugin_error(lab: Lab, tmp_path: Path) -> None:
    missing = str(tmp_path / "no.sock")
    with pytest.raises(PluginError) as caught:
        ROUTER.set_weights(lab.config(runtimeApi=missing), split(10))
    assert caught.value.message == f"cannot reach HAProxy's runtime API at {missing}: No such file or directory."

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(PluginError) as caught:
        ROUTER.get_weights(lab.config(runtimeApi=closed))
    assert caught.value.message == f"cannot reach HAProxy's runtime API at {closed}: Connection refused."
    assert lab.haproxy.weights() == INITIAL


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


def test_a_runtime_api_that_does_not_answer_times_out(lab: Lab, silent_server: str) -> None:
    config = lab.config(runtimeApi=silent_server, timeoutSeconds=1)
    with pytest.raises(PluginError) as caught:
        ROUTER.set_weights(config, split(10))
    assert caught.value.message == (
        f"HAProxy's runtime API at {silent_server} did not answer 'show servers state shop' within 1 s."
    )


def test_injected_names_never_reach_haproxy(lab: Lab) -> None:
    for config in (
        lab.config(backend="shop;set server shop/control-1 weight 0"),
        lab.config(controlServers=["control-1\nset server shop/control-2 weight 0"]),
        lab.config(candidateServers=["candidate-1\n"]),
    ):
        with pytest.raises(PluginError, match="configuration is not valid"):
            ROUTER.set_weights(config, split(100))
    assert lab.haproxy.weights() == INITIAL


# ---------------------------------------------------------------------------
# Reloads
# ---------------------------------------------------------------------------


def config_for(haproxy: Haproxy) -> dict[str, Any]:
    return {
        "runtimeApi": str(haproxy.admin_socket),
        "backend": "shop",
        "controlServers": ["control-1", "control-2"],
        "candidateServers": ["candidate-1"],
    }


def test_runtime_weights_are_lost_on_reload(fresh_haproxy: Callable[..., Haproxy]) -> None:
    haproxy = fresh_haproxy(CONFIG)
    ROUTER.set_weights(config_for(haproxy), split(10))
    haproxy.reload()
    assert haproxy.weights() == INITIAL
    assert ROUTER.get_weights(config_for(haproxy)) == split(0)


def test_a_server_state_file_keeps_them_across_a_reload(fresh_haproxy: Callable[..., Haproxy]) -> None:
    template = with_defaults(with_global(CONFIG, STATE_FILE_GLOBAL), STATE_FILE_DEFAULTS)
    haproxy = fresh_haproxy(template)
    ROUTER.set_weights(config_for(haproxy), split(10))
    # What the operator's reload does first: dump the state where server-state-file points.
    (haproxy.root / "server-state").write_text(haproxy.command("show servers state"))
    haproxy.reload()
    assert haproxy.weights() == SERVER_WEIGHTS[10]
    assert ROUTER.get_weights(config_for(haproxy)) == split(10)

    # The maintenance state is restored as well.
    ROUTER.set_weights({**config_for(haproxy), "zeroShareMode": "maintenance"}, split(0))
    (haproxy.root / "server-state").write_text(haproxy.command("show servers state"))
    haproxy.reload()
    assert haproxy.weights() == SERVER_WEIGHTS[0]
    assert haproxy.admin_states()["candidate-1"] & 0x01


# ---------------------------------------------------------------------------
# The docs show what the tests run
# ---------------------------------------------------------------------------


def test_the_docs_show_the_tested_snippets() -> None:
    if not DOCS.exists():
        pytest.skip(f"{DOCS} is not here (installed without the repository)")
    docs = DOCS.read_text()
    assert render(CONFIG, DOC_VALUES).rstrip("\n") in docs
    assert render(CANDIDATE_BACKEND_FRONTEND, DOC_VALUES).rstrip("\n") in docs
    assert render(STATE_FILE_GLOBAL, DOC_VALUES) in docs and STATE_FILE_DEFAULTS in docs
    assert "level operator" in TEST_GLOBAL  # test-only, not in the docs
