"""Third-party plugins run in worker processes: a timeout that holds, a crash that stays put.

The ``test-misbehaving`` plugin's gate does what its config says: spin in C with the
GIL held (a catastrophic ``re`` pattern), allocate past its memory limit, call
``os._exit``, segfault through ``ctypes``, or report its environment. Each runs for
real in the plugin's worker, through the app's registry and guard; the server keeps
serving, the plugin shows ``failing`` with the reason, and the next call gets a fresh
worker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.plugins.host import PluginWorkerDied
from shiplane_sdk import GateResult

from tests.api.plugins import PLUGINS, app_client, caller_for, enable
from tests.api.plugins.test_plugin_isolation import evaluate, gate_context
from tests.conftest import Caller

TIMEOUT = 1.0
SERVER_SECRET = "server-secret-that-no-plugin-may-read"


@pytest.fixture(scope="module")
def hosted(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    overrides = {
        "plugin_call_timeout_seconds": TIMEOUT,
        "plugin_breaker_threshold": 1000,
        "plugin_worker_memory_mb": 512,
        "plugins_allow": ["builtin", "test-misbehaving", "acme"],
        "plugin_workers_per_plugin": 1,
    }
    with pytest.MonkeyPatch.context() as patch:
        # What an operator's server process typically carries in its environment.
        patch.setenv("SHIPLANE_ENCRYPTION_KEY", SERVER_SECRET)
        patch.setenv("SHIPLANE_DATABASE_URL", database_url)
        patch.setenv("AWS_SECRET_ACCESS_KEY", SERVER_SECRET)
        with app_client(database_url, tmp_path_factory.mktemp("host"), **overrides) as client:
            yield client


@pytest.fixture
def admin_of(hosted: TestClient) -> Caller:
    caller = caller_for(hosted, ["admin"])
    enable(caller, "test-misbehaving")
    return caller


def misbehave(client: TestClient, caller: Caller, action: str) -> tuple[GateResult, list[str]]:
    return evaluate(client, caller, "misbehave", gate_context(caller), {"do": action})


def runtime(caller: Caller) -> dict[str, Any]:
    body = caller.get(f"{PLUGINS}/test-misbehaving").json()["data"]
    return dict(body["runtime"], health=body["health"])


def assert_recovers(client: TestClient, caller: Caller, restarts_before: int) -> None:
    result, lines = misbehave(client, caller, "ok")
    assert result.status == "pass", result.message
    state = runtime(caller)
    assert state["health"] == "ok"
    assert state["restarts"] == restarts_before + 1
    assert [w["pid"] for w in state["workers"]] == [result.details["pid"]]
    assert lines and f"pid {result.details['pid']}" in lines[0]


def test_a_third_party_plugin_runs_in_its_own_process_and_says_so(hosted: TestClient, admin_of: Caller) -> None:
    result, lines = misbehave(hosted, admin_of, "ok")
    assert result.status == "pass"
    worker_pid = result.details["pid"]
    assert worker_pid != os.getpid()
    # The context's log line came back over the channel.
    assert lines == [f"evaluated for {admin_of.tenant_id} in pid {worker_pid}"]
    state = runtime(admin_of)
    assert state["isolation"] == "process"
    assert [w["pid"] for w in state["workers"]] == [worker_pid]
    assert state["workers"][0]["rssBytes"] > 0 and "cpuSeconds" in state["workers"][0]
    assert state["limits"]["memoryMb"] == 512
    builtin = admin_of.get(f"{PLUGINS}/builtin").json()["data"]["runtime"]
    assert builtin == {"isolation": "in_process"}
    listed = {p["id"]: p for p in admin_of.get(PLUGINS).json()["data"]}
    assert listed["test-misbehaving"]["runtime"] == {"isolation": "process"}


def test_a_plugin_spinning_in_c_is_cut_off_at_the_timeout_while_others_are_served(
    hosted: TestClient, admin_of: Caller
) -> None:
    before = runtime(admin_of)
    outcome: dict[str, Any] = {}

    def hostile() -> None:
        outcome["result"] = misbehave(hosted, admin_of, "regex")[0]

    thread = threading.Thread(target=hostile)
    thread.start()
    other = caller_for(hosted, ["admin"])
    # Wait until the worker is busy with the catastrophic pattern...
    while not runtime(other)["workers"][0]["busy"]:
        pass
    # ...then another tenant is served while it spins: in process, the GIL held by
    # the C regex engine would freeze the event loop until the pattern gave up.
    served = other.get("/api/v1/environments")
    assert served.status_code == 200
    assert thread.is_alive(), "the other tenant's request had to wait for the hostile call"
    thread.join(timeout=30)
    result = outcome["result"]
    assert result.status == "fail"
    assert f"timed out after {TIMEOUT:g}s" in result.message
    state = runtime(admin_of)
    assert "did not finish within its timeout" in state["lastExit"]["reason"]
    assert state["lastExit"]["pid"] == before["workers"][0]["pid"]
    # Failing until the fresh worker (started at once) is up; never the killed one again.
    assert state["health"] == "failing" or state["workers"][0]["pid"] != before["workers"][0]["pid"]
    assert_recovers(hosted, admin_of, before["restarts"])


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("memory", "ran out of memory (limit 512 MiB)"),
        ("exit", "exited with status 3"),
        ("segfault", "killed by SIGSEGV"),
    ],
)
def test_a_crashing_plugin_leaves_the_server_serving_and_recovers(
    hosted: TestClient, admin_of: Caller, action: str, reason: str
) -> None:
    before = runtime(admin_of)
    result, _ = misbehave(hosted, admin_of, action)
    assert result.status == "fail"
    if action == "memory":
        assert "MemoryError" in result.message
    else:
        assert reason in result.message
    # The server is up and the plugin says why it is failing.
    assert admin_of.get("/api/v1/environments").status_code == 200
    state = runtime(admin_of)
    assert state["health"] == "failing"
    assert state["workers"] == []
    assert reason in state["lastExit"]["reason"]
    health = admin_of.get(f"{PLUGINS}/test-misbehaving/health").json()["data"]
    assert health["status"] == "failing" and reason in health["pluginHealth"]["message"]
    assert_recovers(hosted, admin_of, before["restarts"])


def test_repeated_crashes_back_off_before_the_next_start(hosted: TestClient, admin_of: Caller) -> None:
    # Straight to the plugin's workers: a gate evaluation would first have its config
    # checked, a successful call that ends a run of crashes.
    processes = hosted.app.state.shiplane.plugins.plugins["test-misbehaving"].processes  # type: ignore[attr-defined]

    def evaluate_directly(action: str) -> Any:
        request = {"kind": "gate", "capability": "misbehave", "method": "evaluate"}
        request["args"] = [gate_context(admin_of), {"do": action}]
        try:
            return hosted.portal.call(processes.call, request)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - the failure is what is asserted
            return exc

    assert "exited with status 3" in str(evaluate_directly("exit"))
    assert "exited with status 3" in str(evaluate_directly("exit"))  # the first restart is at once
    refused = evaluate_directly("ok")  # the second waits
    assert isinstance(refused, PluginWorkerDied)
    assert "2 crashes in a row, next start in" in str(refused)
    assert runtime(admin_of)["consecutiveCrashes"] == 2
    assert runtime(admin_of)["health"] == "failing"
    result = refused
    while not isinstance(result, GateResult):  # the backoff (1 s) ends; nothing asserts how long it took
        result = evaluate_directly("ok")
    assert result.status == "pass"
    assert runtime(admin_of)["consecutiveCrashes"] == 0


def test_a_worker_finds_no_server_secret_in_its_environment(
    hosted: TestClient, admin_of: Caller, database_url: str
) -> None:
    result, _ = misbehave(hosted, admin_of, "environ")
    environ: dict[str, str] = result.details["environ"]
    assert not [k for k in environ if k.startswith("SHIPLANE_") and k != "SHIPLANE_PLUGIN_ID"]
    assert environ["SHIPLANE_PLUGIN_ID"] == "test-misbehaving"
    for value in environ.values():
        assert SERVER_SECRET not in value
        assert database_url not in value
    settings = hosted.app.state.shiplane.settings  # type: ignore[attr-defined]
    for secret in (settings.auth_hs_secret, settings.encryption_key):
        assert not any(secret in value for value in environ.values())
    assert set(environ) <= {
        "PATH",
        "LANG",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "SHIPLANE_PLUGIN_ID",
        "HOME",
        "TMPDIR",
        "LC_CTYPE",
    }


def test_the_operator_can_run_a_third_party_plugin_in_process(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugins_allow": ["builtin", "test-misbehaving"], "plugins_in_process": ["test-misbehaving"]}
    with app_client(database_url, tmp_path, **overrides) as client:
        caller = caller_for(client)
        enable(caller, "test-misbehaving")
        result, _ = misbehave(client, caller, "ok")
        assert result.details["pid"] == os.getpid()
        assert runtime(caller)["isolation"] == "in_process"


def test_a_first_party_plugin_moves_out_with_a_setting(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugins_allow": ["builtin"], "plugins_out_of_process": ["builtin"]}
    with app_client(database_url, tmp_path, **overrides) as client:
        caller = caller_for(client)
        state = caller.get(f"{PLUGINS}/builtin").json()["data"]
        assert state["runtime"]["isolation"] == "process"
        assert state["runtime"]["workers"][0]["pid"] != os.getpid()
        # Its capabilities work through the worker: a config checked there.
        body = {"name": "r1", "pluginId": "builtin", "capabilityKind": "rollout_strategy", "capabilityId": "rolling"}
        bad = caller.post("/api/v1/plugin-instances", json={**body, "config": {"batchSize": 0}})
        assert bad.status_code == 400 and bad.json()["error"]["validationErrors"][0]["field"] == "config.batchSize"
        good = caller.post("/api/v1/plugin-instances", json={**body, "config": {"batchSize": 2}})
        assert good.status_code == 201, good.text


@pytest.mark.parametrize("isolation", ["in_process", "process"])
def test_the_example_vendor_plugin_passes_its_contract_tests_both_ways(isolation: str) -> None:
    # The vendor's own test suite, unchanged, run as a vendor would: the contract kit
    # calls the capability in the test process, or its stand-in in a plugin worker.
    env = {**os.environ, "SHIPLANE_TEST_ISOLATION": isolation}
    root = Path(__file__).resolve().parents[3]
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "examples/acme-plugin/tests")],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert " passed" in completed.stdout


def test_process_mode_of_the_contract_kit_calls_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    import acme_shiplane.plugin as acme
    from shiplane.plugins import testing
    from shiplane_sdk.testing import FakeGateContext
    from shiplane_sdk.testing.isolation import under_test

    monkeypatch.setenv("SHIPLANE_TEST_ISOLATION", "process")
    gate = under_test(acme.ChangeTicketGate())
    assert type(gate).__module__ == "shiplane.plugins.host" and gate.id == "change-ticket"
    result = asyncio.run(gate.evaluate(FakeGateContext(promotion={"reason": "ship it, CHG-4711"}), {}))
    assert result.status == "pass" and result.details["ticket"] == "CHG-4711"
    workers = testing._started["acme"][0].plugins["acme"].status()["workers"]
    assert [w["calls"] for w in workers] == [1] and workers[0]["pid"] != os.getpid()
    monkeypatch.setenv("SHIPLANE_TEST_ISOLATION", "in_process")
    assert isinstance(under_test(acme.ChangeTicketGate()), acme.ChangeTicketGate)


def metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_calls_by_result_and_worker_exits(hosted: TestClient, admin_of: Caller) -> None:
    crashed = 'shiplane_plugin_worker_exits_total{how="crashed",plugin="test-misbehaving"}'
    ok = 'shiplane_plugin_calls_total{plugin="test-misbehaving",result="ok"}'
    errors = 'shiplane_plugin_calls_total{plugin="test-misbehaving",result="error"}'
    before = {name: metric(hosted, name) for name in (crashed, ok, errors)}
    misbehave(hosted, admin_of, "exit")
    assert metric(hosted, crashed) == before[crashed] + 1
    assert metric(hosted, errors) == before[errors] + 1
    assert metric(hosted, 'shiplane_plugin_worker_down{plugin="test-misbehaving"}') == 1
    misbehave(hosted, admin_of, "ok")  # its config check and its evaluation
    assert metric(hosted, ok) >= before[ok] + 2
    assert metric(hosted, 'shiplane_plugin_worker_down{plugin="test-misbehaving"}') == 0
    assert metric(hosted, 'shiplane_plugin_workers{plugin="test-misbehaving",state="idle"}') == 1
    assert metric(hosted, 'shiplane_plugin_worker_rss_bytes{plugin="test-misbehaving"}') > 0


def test_the_background_probe_starts_a_fresh_worker_without_traffic(database_url: str, tmp_path: Path) -> None:
    overrides = {"plugins_allow": ["builtin", "test-misbehaving"], "plugin_health_probe_seconds": 0.2}
    with app_client(database_url, tmp_path, **overrides) as client:
        caller = caller_for(client)
        enable(caller, "test-misbehaving")
        misbehave(client, caller, "exit")
        # No call follows: the probe notices the dead worker and starts another.
        while runtime(caller)["workers"] == []:
            threading.Event().wait(0.05)
        state = runtime(caller)
        assert state["health"] == "ok" and state["restarts"] >= 1
        assert state["workers"][0]["calls"] == 0


def test_a_step_in_a_worker_uses_its_context_through_the_channel(hosted: TestClient, admin_of: Caller) -> None:
    from shiplane_sdk import StepResult
    from shiplane_sdk.testing import FakeStepContext

    registry = hosted.app.state.shiplane.plugins  # type: ignore[attr-defined]
    step = registry.capabilities["step_type"]["use-context"].capability
    ctx = FakeStepContext(
        inputs={"version": "1.4.0"},
        integrations={"registry": {"url": "https://registry.example"}},
        secrets={"token": "s3cr3t-value"},
    )
    ctx.cancel()

    async def run() -> Any:
        return await registry.guard.call("test-misbehaving", "step", step.run, ctx, {}, tenant_id=admin_of.tenant_id)

    result = hosted.portal.call(run)
    assert isinstance(result, StepResult) and result.status == "succeeded"
    assert result.outputs == {
        "cancelled": True,
        "registry": {"url": "https://registry.example"},
        "tokenLength": len("s3cr3t-value"),
        "missing": "KeyError: \"no integration named 'missing' in this fake context\"",
    }
    assert ctx.logs == ["run run-1 step step-1 inputs ['version']"]
    [artifact] = ctx.artifacts
    assert (artifact.name, artifact.content, artifact.content_type) == (
        "report.bin",
        bytes(range(256)),
        "application/x-test",
    )


def test_a_step_in_a_worker_awaits_the_core_services_through_the_channel(hosted: TestClient, admin_of: Caller) -> None:
    from shiplane_sdk import StepResult
    from shiplane_sdk.testing import FakeStepContext

    registry = hosted.app.state.shiplane.plugins  # type: ignore[attr-defined]
    step = registry.capabilities["step_type"]["use-services"].capability
    ctx = FakeStepContext(
        integrations={"ops": {}},
        requested_by="user-7",
        decisions=[{"action": "approve", "by": "user-8"}],
        command_result={"exitCode": 0, "output": "hi\n"},
        gate_results={"freeze-window": {"status": "fail"}},
    )

    async def run() -> Any:
        # The server runs the coroutines on its loop while the worker's call waits for them.
        ctx.loop = asyncio.get_running_loop()  # type: ignore[attr-defined]
        return await registry.guard.call("test-misbehaving", "step", step.run, ctx, {}, tenant_id=admin_of.tenant_id)

    result = hosted.portal.call(run)
    assert isinstance(result, StepResult) and result.status == "succeeded", result
    assert result.outputs == {
        "command": {"exitCode": 0, "output": "hi\n"},
        "gate": "fail",
        "missing": "KeyError: \"no target 'missing' in this fake context\"",
        "requestedBy": "user-7",
        "decisions": [{"action": "approve", "by": "user-8"}],
    }
    assert ctx.notifications == [
        {"integration": "ops", "subject": "subject", "body": "body", "severity": "warning", "data": {"k": 1}}
    ]
    [command] = ctx.commands
    assert command["command"] == ["echo", "hi"] and command["agent"] == "runner" and command["env"] == {"A": "b"}


def test_calls_queued_for_one_plugins_workers_hold_no_shared_threads(hosted: TestClient, admin_of: Caller) -> None:
    # 70 calls queue for test-misbehaving's single worker (the first spins); the host's
    # 64 threads are shared by every plugin, and acme's call must still get one.
    registry = hosted.app.state.shiplane.plugins  # type: ignore[attr-defined]
    hog = registry.plugins["test-misbehaving"].processes
    acme = registry.plugins["acme"].processes
    spin = {"kind": "gate", "capability": "misbehave", "method": "evaluate"}
    fine = {"kind": "gate", "capability": "change-ticket", "method": "evaluate"}

    async def work() -> Any:
        ctx = gate_context(admin_of, reason="ship it, CHG-1")
        queued = [asyncio.create_task(hog.call({**spin, "args": [ctx, {"do": "regex"}]})) for _ in range(70)]
        await asyncio.sleep(0.5)
        try:
            return await asyncio.wait_for(acme.call({**fine, "args": [ctx, {}]}), 20)
        finally:
            for task in queued:
                task.cancel()
            await asyncio.gather(*queued, return_exceptions=True)

    result = hosted.portal.call(work)
    assert result.status == "pass" and result.details["ticket"] == "CHG-1"
