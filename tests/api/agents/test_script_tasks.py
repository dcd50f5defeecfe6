"""Script tasks: a real ``shiplane serve`` and real ``shiplane agent run`` processes; a
script is queued with ``enqueue_script`` and awaited with ``wait_for_task`` as the
workflow step does. Output, exit codes, the environment, time limits, cancellation, an
agent that refuses scripts, and the bounds of a spec."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from shiplane.agents.runtime import NO_SCRIPTS_ERROR, SCRIPT_OUTPUT_BYTES
from shiplane.agents.tasks import AgentTasks, enqueue_script, wait_for_task
from shiplane.engine.queue import WorkQueue
from shiplane.platform.database import Database
from shiplane.platform.jwt import mint_token
from shiplane.platform.secrets import SecretBox
from shiplane.platform.settings import Settings
from shiplane.plugins.manager import PluginRegistry

from tests import openapi_conformance
from tests.conftest import make_database, run_sql
from tests.servers import Server, clean_env, production_env, shiplane_command, start_server

pytestmark = pytest.mark.slow

SECRET = "script-tasks-secret-" + "s" * 40
ENCRYPTION_KEY = "script-tasks-encryption-key-" + "k" * 20
LEASE_SECONDS = 6  # an agent renews at a third of it: a cancellation reaches it within two seconds or so
AGENT_OWN = "agent-own-value-not-for-scripts"


def until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``condition`` until it returns something truthy (bounded; nothing asserts how fast)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Stack:
    server: Server
    database_url: str
    tenant: str
    workdir: Path
    agent_id: str = ""
    refusing_id: str = ""

    def token(self, roles: list[str]) -> str:
        settings = Settings(auth_hs_secret=SECRET)
        return mint_token(settings, user_id="scripts", tenant_id=self.tenant, roles=roles, lifetime_seconds=3600)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(['admin'])}"}
        response = httpx.request(method, f"{self.server.url}{path}", headers=headers, timeout=90, **kwargs)
        openapi_conformance.check(None, method, response)  # held to the OpenAPI document
        return response

    def start_agent(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"agent-{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(
            [
                *shiplane_command(),
                "agent",
                "run",
                "--server",
                self.server.url,
                "--state-dir",
                str(self.workdir / f"state-{name}"),
                "--name",
                name,
                "--token",
                self.token(["agent-registrar"]),
                *extra,
            ],
            # An unrelated variable of the agent's own: never passed to a script.
            env=clean_env(UNRELATED_AGENT_VAR=AGENT_OWN),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def online(self, name: str) -> str:
        def find() -> str | None:
            agents = self.call("GET", "/api/v1/agents").json()["data"]
            online = [a["id"] for a in agents if a["name"] == name and a["status"] == "online"]
            return online[0] if online else None

        return str(until(find, f"agent {name} online"))

    def agent_log(self, name: str) -> str:
        return (self.workdir / f"agent-{name}.log").read_text(errors="replace")

    def run(
        self,
        spec: dict[str, Any],
        *,
        agent_id: str | None = None,
        tenant: str | None = None,
        is_cancelled: Callable[[], bool] = lambda: False,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Queue a script as the workflow step does and wait for it: wait_for_task's answer
        with the task's id."""

        async def run() -> dict[str, Any]:
            db = Database(self.database_url)
            try:
                settings = Settings(database_url=self.database_url, encryption_key=ENCRYPTION_KEY)
                queue = WorkQueue(db, owner="script-tests")
                tasks = AgentTasks(
                    db, queue, PluginRegistry(settings), SecretBox(ENCRYPTION_KEY), timedelta(seconds=LEASE_SECONDS)
                )
                task_tenant = tenant or self.tenant
                task_id = await enqueue_script(db, tasks, task_tenant, agent_id or self.agent_id, spec)
                outcome = await wait_for_task(db, task_tenant, task_id, is_cancelled=is_cancelled, timeout=timeout)
                return {**outcome, "taskId": task_id}
            finally:
                await db.dispose()

        return asyncio.run(run())

    def wait(self, task_id: str) -> dict[str, Any]:
        """wait_for_task on a task that has finished (or been cancelled) already."""

        async def run() -> dict[str, Any]:
            db = Database(self.database_url)
            try:
                return await wait_for_task(db, self.tenant, task_id, is_cancelled=lambda: False, timeout=10)
            finally:
                await db.dispose()

        return asyncio.run(run())

    def item(self, task_id: str) -> tuple[str, dict[str, Any]]:
        """The work item's state and stored payload."""
        [(state, payload)] = run_sql(
            self.database_url, "SELECT state, payload FROM work_items WHERE id = :id", {"id": task_id}
        )
        return str(state), json.loads(payload) if isinstance(payload, str) else dict(payload)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("script-tasks")
    for url in make_database(tmp):
        env = production_env(
            url, tmp / "data", SECRET, ENCRYPTION_KEY, SHIPLANE_AGENT_TASK_LEASE_SECONDS=str(LEASE_SECONDS)
        )
        server = start_server(env, tmp / "server")
        agents: list[subprocess.Popen[bytes]] = []
        try:
            stack = Stack(server, url, f"tenant-{uuid.uuid4().hex[:8]}", tmp)
            agents.append(stack.start_agent("runner"))
            agents.append(stack.start_agent("refuser", "--no-scripts"))
            stack.agent_id = stack.online("runner")
            stack.refusing_id = stack.online("refuser")
            yield stack
        finally:
            for agent in agents:
                stop(agent)
            server.stop()


def test_a_script_runs_and_its_output_exit_code_and_log_are_recorded(stack: Stack) -> None:
    shown = stack.call("GET", f"/api/v1/agents/{stack.agent_id}").json()["data"]
    assert "script" in shown["capabilities"] and "local" in shown["capabilities"]

    # A string runs with /bin/sh -c; stderr is merged into the output; the default working
    # directory is a fresh temporary one, removed afterwards.
    done = stack.run({"command": "echo one; echo two >&2; printf 'three\\n'; pwd", "timeoutSeconds": 30})
    assert done["state"] == "succeeded", done
    assert done["error"] == ""
    result = done["result"]
    lines = result["output"].splitlines()
    assert lines[:3] == ["one", "two", "three"]
    assert result["log"] == lines
    assert result["exitCode"] == 0 and result["outcome"] == "succeeded"
    assert result["truncated"] is False and result["timedOut"] is False
    assert result["durationSeconds"] >= 0
    workdir = Path(lines[3])
    assert workdir.name.startswith("shiplane-script-") and not workdir.exists()
    assert stack.item(done["taskId"])[0] == "done"

    # An argv list, in a working directory of the caller's choice.
    here = stack.workdir / "chosen"
    here.mkdir()
    listed = stack.run(
        {"command": [sys.executable, "-c", "import os; print(os.getcwd())"], "workingDirectory": str(here)}
    )
    assert listed["state"] == "succeeded", listed
    assert listed["result"]["output"] == f"{here}\n" and here.exists()


def test_a_nonzero_exit_fails_the_task_with_its_exit_code(stack: Stack) -> None:
    done = stack.run({"command": "echo about to fail; exit 3"})
    assert done["state"] == "failed", done
    assert done["result"]["exitCode"] == 3 and done["result"]["timedOut"] is False
    assert done["result"]["output"] == "about to fail\n" and done["result"]["log"] == ["about to fail"]
    assert "3" in done["error"]

    missing = stack.run({"command": ["/nonexistent/command"]})
    assert missing["state"] == "failed" and missing["result"]["exitCode"] is None
    assert "cannot start the command" in missing["error"]


def test_the_env_is_passed_and_the_agents_own_is_not(stack: Stack) -> None:
    token = f"secret-{uuid.uuid4().hex}"
    done = stack.run({"command": ["env"], "env": {"GREETING": "hello world", "DEPLOY_TOKEN": token}})
    assert done["state"] == "succeeded", done
    seen = dict(line.split("=", 1) for line in done["result"]["output"].splitlines())
    assert seen["GREETING"] == "hello world" and seen["DEPLOY_TOKEN"] == token
    assert "UNRELATED_AGENT_VAR" not in seen and AGENT_OWN not in done["result"]["output"]
    assert set(seen) <= {"PATH", "HOME", "LANG", "GREETING", "DEPLOY_TOKEN"}
    assert "PATH" in seen
    # The env is sealed in the queue, and never in the agent's log.
    state, payload = stack.item(done["taskId"])
    assert state == "done" and token not in json.dumps(payload) and set(payload["env"]) == {"$encrypted"}
    assert token not in stack.agent_log("runner")


def test_a_script_over_its_time_limit_is_killed_with_its_process_group(stack: Stack, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    # The sleep runs in the background of the shell: ending the shell alone would leave it.
    command = f"sleep 30 & echo $! > {pid_file}; wait"
    done = stack.run({"command": command, "timeoutSeconds": 1}, timeout=60)
    assert done["state"] == "failed", done
    result = done["result"]
    assert result["timedOut"] is True and result["exitCode"] != 0
    assert "timed out" in done["error"]
    sleeper = int(pid_file.read_text())
    until(lambda: not alive(sleeper), "the script's background process to be gone", timeout=30)


def test_cancelling_the_wait_stops_the_script(stack: Stack, tmp_path: Path) -> None:
    started, finished, pid_file = tmp_path / "started", tmp_path / "finished", tmp_path / "script.pid"
    command = f"echo $$ > {pid_file}; touch {started}; sleep 20; touch {finished}"
    done = stack.run({"command": command, "timeoutSeconds": 60}, is_cancelled=started.exists, timeout=60)
    assert done["state"] == "cancelled", done
    # The agent hears of it at its next lease renewal and ends the script's process group:
    # once the shell is gone it can never touch the file.
    shell = int(pid_file.read_text())
    until(lambda: not alive(shell), "the cancelled script to be stopped", timeout=15)
    assert not finished.exists()
    assert stack.item(done["taskId"])[0] == "failed"
    again = stack.wait(done["taskId"])
    assert again["state"] == "cancelled" and again["result"]["outcome"] == "cancelled"
    # The agent goes on taking scripts.
    assert stack.run({"command": "echo still here"})["state"] == "succeeded"


def test_a_wait_that_times_out_cancels_the_task(stack: Stack, tmp_path: Path) -> None:
    pid_file, finished = tmp_path / "script.pid", tmp_path / "finished"
    command = f"echo $$ > {pid_file}; sleep 20; touch {finished}"
    done = stack.run({"command": command, "timeoutSeconds": 60}, timeout=2)
    assert done["state"] == "timeout", done
    assert stack.item(done["taskId"])[0] == "failed"
    if pid_file.exists():  # it had started: it is stopped
        shell = int(until(lambda: pid_file.read_text().strip(), "the pid"))
        until(lambda: not alive(shell), "the abandoned script to be stopped", timeout=15)
    assert not finished.exists()


def test_an_agent_run_with_no_scripts_refuses_them(stack: Stack, tmp_path: Path) -> None:
    shown = stack.call("GET", f"/api/v1/agents/{stack.refusing_id}").json()["data"]
    assert "script" not in shown["capabilities"] and "local" in shown["capabilities"]
    marker = tmp_path / "ran"
    done = stack.run({"command": f"touch {marker}"}, agent_id=stack.refusing_id)
    assert done["state"] == "failed" and done["error"] == NO_SCRIPTS_ERROR
    assert not marker.exists()


def test_specs_beyond_the_bounds_are_refused_and_output_is_kept_bounded(stack: Stack) -> None:
    too_long = stack.run({"command": "echo " + "x" * (64 * 1024)})
    assert too_long["state"] == "failed" and "over the limit" in too_long["error"]
    many = stack.run({"command": "true", "env": {f"V{i}": "x" for i in range(101)}})
    assert many["state"] == "failed" and "over the limit of 100" in many["error"]
    bad = stack.run({"command": "true", "timeoutSeconds": "soon"})
    assert bad["state"] == "failed" and "timeoutSeconds" in bad["error"]
    empty = stack.run({"command": []})
    assert empty["state"] == "failed" and "command" in empty["error"]

    # 400 KiB of output: the last 256 KiB are kept, and it says so.
    script = "import sys\nfor i in range(4000): sys.stdout.write(f'{i:06d} ' + 'y' * 95 + '\\n')"
    big = stack.run({"command": [sys.executable, "-c", script]})
    assert big["state"] == "succeeded", big["error"]
    result = big["result"]
    assert result["truncated"] is True and len(result["output"].encode()) <= SCRIPT_OUTPUT_BYTES
    assert result["output"].endswith(f"{3999:06d} {'y' * 95}\n")
    assert len(result["log"]) <= 500 and result["log"][0].startswith("000000 ")


def test_a_script_for_another_tenants_agent_is_refused(stack: Stack) -> None:
    with pytest.raises(ValueError, match="no agent"):
        stack.run({"command": "true"}, tenant=f"tenant-{uuid.uuid4().hex[:8]}")


def test_a_spec_is_copied_field_by_field(stack: Stack) -> None:
    # Nothing else a spec carries reaches the queue.
    done = stack.run({"command": "true", "env": {"A": "b"}, "other": "dropped"})
    assert done["state"] == "succeeded", done
    stored = stack.item(done["taskId"])[1]
    assert set(stored) == {"action", "command", "env"} and stored["action"] == "script"
