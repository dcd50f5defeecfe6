"""The ``nginx`` traffic router against a real nginx (see nginx_server.py), with real requests through it.

Shares are checked with a binomial tolerance: ``SAMPLE`` requests without cookies at
candidate weight p have a candidate share with standard deviation sqrt(p(1-p)/SAMPLE),
at most 1.58 percentage points for 1000 requests (p = 50%). ``TOLERANCE`` = 6 points
is 3.8 standard deviations there (6.3 at 10% and 90%): a correct router fails one
check with a probability under 2e-4. At 0 and 100 the split is exact.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
import shiplane_plugin_nginx.plugin
from nginx_server import (
    DOCS_INCLUDE_FILE,
    HEADER_VALUE,
    HTTP_SNIPPET,
    LOCATION_SNIPPET,
    NginxServer,
)
from shiplane_plugin_nginx import http_snippet, location_snippet
from shiplane_plugin_nginx.render import read_state
from shiplane_plugin_nginx.router import NginxRouter
from shiplane_sdk import PluginError
from shiplane_sdk.testing import PluginContract, TrafficRouterContract

SAMPLE = 1000
EXACT_SAMPLE = 200
TOLERANCE = 6.0  # percentage points, see the module's docstring
DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "nginx.md"

router = NginxRouter()


def weights(candidate: int) -> dict[str, int]:
    return {"control": 100 - candidate, "candidate": candidate}


def cookie_pair(set_cookie: str) -> str:
    """``name=value`` of a Set-Cookie header."""
    return set_cookie.split(";", 1)[0].strip()


# ---------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------


MINIMAL: dict[str, Any] = {
    "name": "app",
    "includeFile": "/etc/nginx/shiplane/app.conf",
    "mainConfig": "/etc/nginx/nginx.conf",
    "controlServers": ["10.0.0.5:8080"],
    "candidateServers": ["10.0.0.6:8080"],
}


@pytest.fixture
def live_contract(nginx: NginxServer) -> None:
    TestNginxContract.live = nginx.config()


@pytest.mark.usefixtures("live_contract")
class TestNginxContract(TrafficRouterContract):
    live: ClassVar[dict[str, Any] | None] = None
    valid_configs = [
        MINIMAL,
        {
            "name": "shop_api2",
            "includeFile": "/etc/nginx/conf.d/shiplane-shop.conf",
            "mainConfig": "/usr/local/nginx/conf/nginx.conf",
            "prefix": "/usr/local/nginx",
            "nginxBinary": "/usr/local/nginx/sbin/nginx",
            "pidFile": "/usr/local/nginx/logs/nginx.pid",
            "controlServers": ["blue-1.internal:8080", "blue-2.internal:8080", "[2001:db8::5]:8080"],
            "candidateServers": ["green-1.internal:8080"],
            "sticky": True,
            "cookieName": "shop_side",
            "cookieMaxAgeSeconds": 0,
            "cookieSecure": True,
            "headerRouting": {"name": "X-Beta", "value": "yes"},
            "timeoutSeconds": 60,
        },
    ]
    invalid_configs = [
        {},
        {"name": "app", "includeFile": "/a.conf", "mainConfig": "/n.conf", "controlServers": ["a:80"]},
        {**MINIMAL, "controlServers": []},
        {**MINIMAL, "candidateServers": ["10.0.0.6:8080; }"]},
        {**MINIMAL, "name": "app;"},
        {**MINIMAL, "includeFile": "relative.conf"},
        {**MINIMAL, "weights": {"control": 100}},
    ]

    def make_capability(self) -> NginxRouter:
        return NginxRouter()

    def first_valid_config(self) -> dict[str, Any]:
        assert self.live is not None
        return self.live


class TestNginxPlugin(PluginContract):
    plugin_name = "nginx"

    def make_plugin(self) -> object:
        return shiplane_plugin_nginx.plugin


# ---------------------------------------------------------------------------
# 1. Shares follow the weights
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("candidate", [0, 10, 50, 90, 100])
def test_shares_of_requests_follow_the_weights(nginx: NginxServer, candidate: int) -> None:
    router.set_weights(nginx.config(), weights(candidate))
    if candidate in (0, 100):
        sides = nginx.sides(EXACT_SAMPLE)
        expected = "candidate" if candidate == 100 else "control"
        assert sides == {expected: EXACT_SAMPLE}
        return
    sides = nginx.sides(SAMPLE)
    assert set(sides) == {"control", "candidate"}
    share = 100 * sides["candidate"] / SAMPLE
    assert abs(share - candidate) <= TOLERANCE, f"candidate share {share}% at weight {candidate}"


def test_no_cookie_is_set_when_every_request_goes_to_one_side(nginx: NginxServer) -> None:
    for candidate in (0, 100):
        router.set_weights(nginx.config(), weights(candidate))
        with nginx.client() as client:
            assert nginx.ask(client).set_cookie is None


# ---------------------------------------------------------------------------
# 2. Stickiness
# ---------------------------------------------------------------------------


def test_a_client_keeping_its_cookie_stays_on_its_side_across_weight_changes(nginx: NginxServer) -> None:
    router.set_weights(nginx.config(), weights(50))
    first: list[tuple[str, str]] = []  # (side, cookie) per client
    with nginx.client() as client:
        for _ in range(40):
            answer = nginx.ask(client)
            assert answer.set_cookie is not None
            attributes = [part.strip() for part in answer.set_cookie.split(";")]
            assert attributes[1:] == ["Path=/", "Max-Age=86400", "HttpOnly", "SameSite=Lax"]
            pair = cookie_pair(answer.set_cookie)
            assert re.fullmatch(rf"shiplane_variant={answer.side}\.[0-9a-f]{{8}}", pair), pair
            first.append((answer.side, pair))
    assert {side for side, _ in first} == {"control", "candidate"}

    for candidate in (10, 90, 30, 70, 90, 10):
        router.set_weights(nginx.config(), weights(candidate))
        with nginx.client() as client:
            for side, pair in first:
                for _ in range(3):
                    answer = nginx.ask(client, cookie=pair)
                    assert answer.side == side, f"a {side} client was sent to {answer.side} at weight {candidate}"
                    assert answer.set_cookie is None  # its cookie stands


def test_the_split_decides_again_after_it_ended(nginx: NginxServer) -> None:
    router.set_weights(nginx.config(), weights(50))
    with nginx.client() as client:
        old = cookie_pair(nginx.ask(client).set_cookie or "")
    # The release is rolled back (0) or promoted (100): every client goes to that side,
    # cookies or not; a later split starts afresh with cookies of its own.
    router.set_weights(nginx.config(), weights(0))
    with nginx.client() as client:
        assert {nginx.ask(client, cookie=f"shiplane_variant=candidate.{old[-8:]}").side for _ in range(20)} == {
            "control"
        }
    router.set_weights(nginx.config(), weights(20))
    with nginx.client() as client:
        answer = nginx.ask(client, cookie=old)
    assert answer.set_cookie is not None, "a cookie of an earlier split must be replaced"
    assert cookie_pair(answer.set_cookie)[-8:] != old[-8:]


def test_without_stickiness_no_cookie_is_set_and_cookies_are_ignored(nginx: NginxServer) -> None:
    router.set_weights(nginx.config(), weights(50))
    with nginx.client() as client:
        pair = cookie_pair(nginx.ask(client).set_cookie or "")
    router.set_weights(nginx.config(sticky=False), weights(50))
    with nginx.client() as client:
        answers = [nginx.ask(client, cookie=pair) for _ in range(100)]
    assert all(answer.set_cookie is None for answer in answers)
    assert {answer.side for answer in answers} == {"control", "candidate"}


# ---------------------------------------------------------------------------
# 3. Header routing
# ---------------------------------------------------------------------------


def test_the_routing_header_sends_every_request_to_the_candidate_even_at_weight_zero(nginx: NginxServer) -> None:
    router.set_weights(nginx.config(), weights(0))
    with nginx.client() as client:
        routed = [nginx.ask(client, header=HEADER_VALUE) for _ in range(50)]
        shouted = [nginx.ask(client, header=HEADER_VALUE.upper()) for _ in range(10)]
        other = [nginx.ask(client, header=HEADER_VALUE + "x") for _ in range(10)]
        plain = [nginx.ask(client) for _ in range(50)]
    assert {answer.side for answer in routed + shouted} == {"candidate"}
    assert all(answer.set_cookie is None for answer in routed)
    assert {answer.side for answer in other + plain} == {"control"}


def test_the_routing_header_wins_over_a_control_cookie(nginx: NginxServer) -> None:
    router.set_weights(nginx.config(), weights(50))
    with nginx.client() as client:
        control_cookie = next(
            cookie_pair(a.set_cookie or "") for a in (nginx.ask(client) for _ in range(200)) if a.side == "control"
        )
        answers = [nginx.ask(client, cookie=control_cookie, header=HEADER_VALUE) for _ in range(20)]
        without = [nginx.ask(client, cookie=control_cookie) for _ in range(20)]
    assert {answer.side for answer in answers} == {"candidate"}
    assert {answer.side for answer in without} == {"control"}


def test_without_header_routing_the_header_changes_nothing(nginx: NginxServer) -> None:
    config = nginx.config()
    del config["headerRouting"]
    router.set_weights(config, weights(0))
    assert nginx.sides(30, header=HEADER_VALUE) == {"control": 30}


# ---------------------------------------------------------------------------
# 4. Reading the weights back, refusing bad weights
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("candidate", [0, 37, 100])
def test_get_weights_reads_back_what_was_applied(nginx: NginxServer, candidate: int) -> None:
    router.set_weights(nginx.config(), weights(candidate))
    assert router.get_weights(nginx.config()) == weights(candidate)
    state = read_state(nginx.include_file.read_text())
    assert state is not None and state.weights == weights(candidate)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"control": 50, "candidate": 60}, "sum to 100"),
        ({"control": 110, "candidate": -10}, "0 to 100"),
        ({"control": 50.5, "candidate": 49.5}, "whole percentages"),
        ({"control": True, "candidate": 99}, "whole percentages"),
        ({"control": 100}, "exactly the keys"),
        ({"control": 90, "candidate": 10, "shadow": 0}, "exactly the keys"),
        ({"a": 90, "b": 10}, "exactly the keys"),
        ([90, 10], "exactly the keys"),
    ],
)
def test_bad_weights_are_a_plugin_error_and_change_nothing(nginx: NginxServer, bad: Any, reason: str) -> None:
    router.set_weights(nginx.config(), weights(30))
    before, workers = nginx.include_file.read_bytes(), nginx.workers()
    with pytest.raises(PluginError, match=reason):
        router.set_weights(nginx.config(), bad)
    assert nginx.include_file.read_bytes() == before
    assert nginx.workers() == workers  # not reloaded
    assert router.get_weights(nginx.config()) == weights(30)


def test_get_weights_without_an_include_file_says_so(nginx: NginxServer, tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        router.get_weights(nginx.config(includeFile=str(tmp_path / "missing.conf")))


# ---------------------------------------------------------------------------
# 5. A configuration nginx refuses, or a reload that fails, changes nothing
# ---------------------------------------------------------------------------


def _assert_unchanged(nginx: NginxServer, before: bytes, workers: set[int]) -> None:
    assert nginx.include_file.read_bytes() == before
    assert nginx.workers() == workers  # nginx was not reloaded
    assert router.get_weights(nginx.config()) == weights(50)
    assert set(nginx.sides(200)) == {"control", "candidate"}  # still split, not all candidate


def test_an_unloadable_main_config_keeps_the_previous_file_and_traffic(nginx: NginxServer) -> None:
    router.set_weights(nginx.config(), weights(50))
    before, workers = nginx.include_file.read_bytes(), nginx.workers()
    nginx.write_main_config(extra="    shiplane_no_such_directive on;")
    try:
        with pytest.raises(PluginError) as refused:
            router.set_weights(nginx.config(), weights(100))
        assert refused.value.message.startswith("nginx refused the configuration: ")
        assert 'unknown directive "shiplane_no_such_directive"' in refused.value.message
        assert "\n" not in refused.value.message
    finally:
        nginx.write_main_config()
    _assert_unchanged(nginx, before, workers)


def test_a_server_address_nginx_rejects_keeps_the_previous_file_and_traffic(nginx: NginxServer) -> None:
    router.set_weights(nginx.config(), weights(50))
    before, workers = nginx.include_file.read_bytes(), nginx.workers()
    config = nginx.config(candidateServers=["[1:2:3]:8080"])  # passes the schema, not nginx
    assert router.validate_config(config) == []
    with pytest.raises(PluginError, match=r'nginx refused the configuration: invalid IPv6 address .*"\[1:2:3\]:8080"'):
        router.set_weights(config, weights(100))
    _assert_unchanged(nginx, before, workers)


def test_a_failed_reload_puts_the_previous_file_back(nginx: NginxServer, tmp_path: Path) -> None:
    router.set_weights(nginx.config(), weights(50))
    before, workers = nginx.include_file.read_bytes(), nginx.workers()
    not_nginx = tmp_path / "other.pid"
    not_nginx.write_text(f"{os.getpid()}\n")
    with pytest.raises(PluginError, match="is not an nginx master process"):
        router.set_weights(nginx.config(pidFile=str(not_nginx)), weights(100))
    with pytest.raises(PluginError, match="nginx is not running: its pid file .* does not exist"):
        router.set_weights(nginx.config(pidFile=str(tmp_path / "none.pid")), weights(100))
    _assert_unchanged(nginx, before, workers)


def test_an_nginx_that_hangs_is_given_up_on_and_the_previous_file_put_back(nginx: NginxServer, tmp_path: Path) -> None:
    router.set_weights(nginx.config(), weights(50))
    before, workers = nginx.include_file.read_bytes(), nginx.workers()
    hanging = tmp_path / "bin" / "nginx"
    hanging.parent.mkdir()
    hanging.write_text("#!/bin/sh\nsleep 60\n")  # a child of its own, holding the pipes
    hanging.chmod(0o755)
    with pytest.raises(PluginError, match="nginx -T did not finish within 1 s"):
        router.set_weights(nginx.config(nginxBinary=str(hanging), timeoutSeconds=1), weights(100))
    _assert_unchanged(nginx, before, workers)


def test_concurrent_changes_are_applied_one_at_a_time(nginx: NginxServer) -> None:
    results: dict[int, BaseException | None] = {}

    def change(candidate: int) -> None:
        try:
            router.set_weights(nginx.config(), weights(candidate))
            results[candidate] = None
        except BaseException as exc:  # reported by the assertion below
            results[candidate] = exc

    threads = [threading.Thread(target=change, args=(candidate,)) for candidate in (20, 40, 60, 80)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == {20: None, 40: None, 60: None, 80: None}
    applied = router.get_weights(nginx.config())
    assert applied["candidate"] in (20, 40, 60, 80)
    assert f"    {applied['candidate']}% candidate;" in nginx.include_file.read_text()


def test_an_include_file_the_main_config_does_not_include_is_refused(nginx: NginxServer) -> None:
    elsewhere = nginx.root / "shiplane" / "elsewhere.conf"
    with pytest.raises(PluginError, match=r"does not include .*elsewhere\.conf"):
        router.set_weights(nginx.config(includeFile=str(elsewhere)), weights(10))
    assert not elsewhere.exists()


def test_a_file_the_router_did_not_write_is_never_overwritten(nginx: NginxServer) -> None:
    foreign = nginx.root / "shiplane" / "foreign.conf"
    foreign.write_text("server_tokens off;\n")
    with pytest.raises(PluginError, match="was not written by the nginx router"):
        router.set_weights(nginx.config(includeFile=str(foreign)), weights(10))
    assert foreign.read_text() == "server_tokens off;\n"
    with pytest.raises(PluginError, match="records no weights"):
        router.get_weights(nginx.config(includeFile=str(foreign)))


def test_an_invalid_config_is_a_plugin_error(nginx: NginxServer) -> None:
    with pytest.raises(PluginError, match="configuration is invalid .*controlServers.0"):
        router.set_weights(nginx.config(controlServers=["127.0.0.1:80;\n}"]), weights(10))


def test_the_write_is_atomic_and_leaves_no_temporary_file(nginx: NginxServer) -> None:
    mode = 0o640
    nginx.include_file.chmod(mode)
    router.set_weights(nginx.config(), weights(25))
    assert nginx.include_file.stat().st_mode & 0o777 == mode  # replaced, keeping its mode
    leftovers = [p.name for p in nginx.include_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    nginx.include_file.chmod(0o644)


# ---------------------------------------------------------------------------
# Bootstrap and documentation
# ---------------------------------------------------------------------------


def test_init_writes_the_first_include_file_once(nginx: NginxServer, tmp_path: Path) -> None:
    include = tmp_path / "first.conf"
    config_file = tmp_path / "router.json"
    config_file.write_text(json.dumps(nginx.config(includeFile=str(include))))
    command = [sys.executable, "-m", "shiplane_plugin_nginx", "init", str(config_file)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert first.returncode == 0, first.stderr
    assert f"wrote {include}" in first.stdout
    assert http_snippet(str(include)) in first.stdout
    assert "proxy_pass http://$shiplane_app_upstream;" in first.stdout
    assert router.get_weights(nginx.config(includeFile=str(include))) == weights(0)
    again = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert again.returncode == 0 and "kept the existing" in again.stdout


def test_the_snippets_are_what_the_plugin_documents(nginx: NginxServer) -> None:
    assert HTTP_SNIPPET == http_snippet(DOCS_INCLUDE_FILE)
    assert LOCATION_SNIPPET == location_snippet("app")
    assert LOCATION_SNIPPET.replace("\n", "\n#     ") in nginx.include_file.read_text()


def test_docs_show_the_tested_snippets() -> None:
    if not DOCS.exists():
        pytest.skip("docs/plugins/nginx.md is not beside this distribution")
    text = DOCS.read_text()
    assert HTTP_SNIPPET in text
    assert "\n".join(f"        {line}" for line in LOCATION_SNIPPET.splitlines()) in text
