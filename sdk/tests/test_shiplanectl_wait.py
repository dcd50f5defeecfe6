"""The waiting commands of ``shiplanectl``, run as subprocesses against a real server.

The setup is the CI pipeline's of test_shiplanectl.py (an integration on a local git
repository, a component, an approval policy, dev and a production environment needing an
approval, two releases deployed to dev with ``promote --wait``), made by the shared helpers
below. Then, each checked by its exit code (docs/cli.md) and what it prints:

- ``promote --wait --wait-blocked``: a promotion blocked by a freeze window keeps waiting
  while the window is lifted and a second identity approves, then deploys (exit 0); with a
  short ``--timeout`` it gives up while still blocked (exit 4);
- ``promotions wait ID``: a promotion approved meanwhile (exit 0), one rejected meanwhile
  (exit 1), one still awaiting approval at its ``--timeout`` (exit 4), one blocked (3),
  cancelled (1) or rolled back (1);
- ``approve --wait``: the approver's command follows the promotion to its deployment's end;
- ``rollback ENV --wait``: after two releases, the environment is back on the first one;
- ``targets check``: a ``local`` target (builtin plugin) checked by the local agent the
  server runs: healthy, or unhealthy when its directory is gone; an unknown target is 6.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_shiplanectl import ENCRYPTION_KEY, SECRET, Caller, Pipeline, set_up_pipeline, shiplanectl
from tests.conftest import make_database, once_on_sqlite
from tests.servers import production_env, start_server

pytestmark = [pytest.mark.slow, once_on_sqlite("the waiting commands of the command-line client")]

FAST = ("--timeout", "90", "--poll", "0.3")


@dataclass
class World:
    """The pipeline's setup: who acts, and the releases deployed to dev (shop-0, then shop-1)."""

    p: Pipeline
    admin: str
    ci: tuple[str, str]
    approver: tuple[str, str]
    policy: str  # the approval policy's id
    releases: dict[str, str]  # name -> id
    dev_promotions: dict[str, str]  # release name -> its dev promotion's id


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """As test_shiplanectl.py's, plus the server's local agent in the tenant and a fast promotion sweep."""
    tmp = tmp_path_factory.mktemp("shiplanectl-wait")
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    for url in make_database(tmp):
        env = production_env(
            url,
            tmp / "data",
            SECRET,
            ENCRYPTION_KEY,
            SHIPLANE_LOCAL_AGENT="true",
            SHIPLANE_LOCAL_AGENT_TENANT=tenant,
            SHIPLANE_PROMOTION_SWEEP_SECONDS="0.5",
        )
        server = start_server(env, tmp / "server")
        try:
            yield Pipeline(server, tenant, tmp)
        finally:
            server.stop()


def promote_and_wait(p: Pipeline, caller: Caller, release: str, environment: str) -> dict[str, Any]:
    done = p.run(caller, "promote", release, environment, "--wait", *FAST, "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    promotion: dict[str, Any] = json.loads(done.stdout)
    assert promotion["state"] == "succeeded"
    return promotion


@contextmanager
def background(p: Pipeline, caller: Caller, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A ``shiplanectl`` command left running (a pipeline step waiting) while the test acts; killed
    (by its pid) if the test fails before it ends."""
    with subprocess.Popen(
        [*shiplanectl(), *args],
        env=p.env(caller),
        cwd=p.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def first_progress(process: subprocess.Popen[str]) -> str:
    """The first progress line a waiting command printed (it has read the promotion once).

    Bounded: the command prints it at once, or exits (its own ``--timeout``), closing the pipe."""
    assert process.stderr is not None
    return process.stderr.readline()


def finish(process: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def world(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> World:
    p = pipeline
    admin, ci, approver, policy = set_up_pipeline(p, tmp_path_factory.mktemp("repo"))
    synced = p.run(ci, "components", "sync", "api")
    assert synced.returncode == 0 and "added 2" in synced.stdout, synced.stderr
    releases = {
        "shop-0": p.json(ci, "releases", "create", "--name", "shop-0", "--component", "api=v1.0.0")["id"],
        "shop-1": p.json(ci, "releases", "from-latest", "--component", "api", "--name", "shop-1")["id"],
    }
    dev = {name: promote_and_wait(p, ci, name, "dev")["id"] for name in ("shop-0", "shop-1")}
    return World(p, admin, ci, approver, policy, releases, dev)


def test_promote_wait_blocked_waits_until_a_freeze_is_lifted_and_approved(world: World) -> None:
    p, ci = world.p, world.ci
    # "stage": frozen for an hour, and one approval needed.
    body = json.dumps({"requiredPredecessors": [], "approvalPolicyId": world.policy})
    p.json(
        world.admin,
        "environments",
        "create",
        "--name",
        "stage",
        "--order",
        "3",
        "--gate",
        "freeze-window",
        "--body",
        body,
    )
    now = datetime.now(UTC)
    window = p.json(
        world.admin,
        "environments",
        "freeze",
        "stage",
        "--starts",
        (now - timedelta(minutes=1)).isoformat(),
        "--ends",
        (now + timedelta(hours=1)).isoformat(),
        "--reason",
        "release freeze",
    )
    # Still blocked at its --timeout: exit 4, the promotion printed.
    gave_up = p.run(ci, "promote", "shop-0", "stage", "--wait", "--wait-blocked", "--timeout", "1", "-o", "json")
    assert gave_up.returncode == 4, gave_up.stdout + gave_up.stderr
    left = json.loads(gave_up.stdout)
    assert left["state"] == "blocked" and "timed out after 1s" in gave_up.stderr
    assert "blocked by gate freeze-window" in gave_up.stderr
    # The pipeline keeps waiting through the block while the freeze is lifted and a second identity
    # approves (an approval given while blocked makes the server evaluate it again).
    with background(p, ci, "promote", "shop-1", "stage", "--wait", "--wait-blocked", *FAST, "-o", "json") as waiting:
        deadline = time.monotonic() + 60
        blocked: list[Any] = []
        while not blocked:
            assert time.monotonic() < deadline and waiting.poll() is None, "the promotion to stage never got blocked"
            rows = p.json(ci, "promotions", "list", "--environment", "stage", "--state", "blocked")
            blocked = [r for r in rows if r["releaseId"] == world.releases["shop-1"]]
            time.sleep(0.2)
        assert p.run(world.admin, "environments", "unfreeze", "stage", window["id"]).returncode == 0
        approved = p.run(world.approver, "approve", blocked[0]["id"], "--comment", "freeze lifted")
        assert approved.returncode == 0, approved.stdout + approved.stderr
        code, out, err = finish(waiting)
    assert code == 0, out + err
    assert json.loads(out)["state"] == "succeeded"
    assert "blocked by gate freeze-window" in err and ": blocked" in err and ": succeeded" in err
    assert p.json(ci, "environments", "get", "stage")["currentReleaseId"] == world.releases["shop-1"]
    # The first one is blocked until its recheck: waiting on it without --wait-blocked is exit 3;
    # once cancelled, exit 1.
    still = p.run(ci, "promotions", "wait", left["id"], *FAST, "-o", "json")
    assert still.returncode == 3 and json.loads(still.stdout)["state"] == "blocked", still.stdout + still.stderr
    assert p.run(ci, "promotions", "cancel", left["id"], "--comment", "not now").returncode == 0
    cancelled = p.run(ci, "promotions", "wait", left["id"], "--wait-blocked", *FAST, "-o", "json")
    assert cancelled.returncode == 1 and json.loads(cancelled.stdout)["state"] == "cancelled"


def test_approve_wait_and_promotions_wait_follow_an_approved_promotion(world: World) -> None:
    p = world.p
    requested = p.run(world.ci, "promote", "shop-1", "prod", "--reason", "ship it", "-o", "json")
    assert requested.returncode == 0, requested.stdout + requested.stderr
    promotion = json.loads(requested.stdout)
    assert promotion["state"] == "awaiting_approval"
    # The pipeline follows the promotion it requested; the approver approves and follows it too.
    with background(p, world.ci, "promotions", "wait", promotion["id"], *FAST, "-o", "json") as waiting:
        first = first_progress(waiting)
        assert f"promotion {promotion['id']}: awaiting_approval (0 of 1 approval(s))" in first, first
        approved = p.run(
            world.approver, "approve", promotion["id"], "--comment", "checked", "--wait", *FAST, "-o", "json"
        )
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert json.loads(approved.stdout)["state"] == "succeeded"
        # It followed the promotion from the approval to its deployment's end.
        progress = approved.stderr.splitlines()
        assert len(progress) >= 2 and ": succeeded" not in progress[0], approved.stderr
        assert ": succeeded (deployed); deployment " in progress[-1], approved.stderr
        code, out, err = finish(waiting)
    assert code == 0, out + err
    assert json.loads(out)["state"] == "succeeded" and ": succeeded" in err
    assert p.json(world.ci, "environments", "get", "prod")["currentReleaseId"] == world.releases["shop-1"]


def test_promotions_wait_times_out_then_sees_a_rejection(world: World) -> None:
    p = world.p
    requested = p.json(world.ci, "promote", "shop-0", "prod", "--reason", "an old one")
    assert requested["state"] == "awaiting_approval"
    # Nobody decides within --timeout: exit 4, the promotion as it is.
    timed_out = p.run(
        world.ci, "promotions", "wait", requested["id"], "--timeout", "0.5", "--poll", "0.2", "-o", "json"
    )
    assert timed_out.returncode == 4, timed_out.stdout + timed_out.stderr
    assert json.loads(timed_out.stdout)["state"] == "awaiting_approval"
    with background(p, world.ci, "promotions", "wait", requested["id"], *FAST, "-o", "json") as waiting:
        first = first_progress(waiting)
        assert f"promotion {requested['id']}: awaiting_approval (0 of 1 approval(s))" in first, first
        rejected = p.run(world.approver, "reject", requested["id"], "--comment", "not this one")
        assert rejected.returncode == 0, rejected.stderr
        code, out, err = finish(waiting)
    assert code == 1, out + err  # rejected: the operation failed
    assert json.loads(out)["state"] == "rejected" and ": rejected" in err


def test_rollback_wait_returns_to_the_earlier_release(world: World) -> None:
    p = world.p
    assert p.json(world.ci, "environments", "get", "dev")["currentReleaseId"] == world.releases["shop-1"]
    rolled = p.run(world.ci, "rollback", "dev", "--reason", "shop-1 is bad", "--wait", *FAST, "-o", "json")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    job = json.loads(rolled.stdout)
    assert job["kind"] == "rollback" and job["state"] == "succeeded"
    assert job["releaseId"] == world.releases["shop-0"] and ": succeeded" in rolled.stderr
    assert p.json(world.ci, "environments", "get", "dev")["currentReleaseId"] == world.releases["shop-0"]
    # The promotion that had deployed shop-1 there is now rolled back: waiting on it is exit 1.
    replaced = p.run(world.ci, "promotions", "wait", world.dev_promotions["shop-1"], *FAST, "-o", "json")
    assert replaced.returncode == 1, replaced.stdout + replaced.stderr
    assert json.loads(replaced.stdout)["state"] == "rolled_back"
    # Nothing older to return to from an environment never deployed: refused, exit 1.
    p.json(world.admin, "environments", "create", "--name", "empty", "--order", "9")
    refused = p.run(world.ci, "rollback", "empty", "--reason", "nothing", "--wait", *FAST, "-o", "json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"]["code"] == "INVALID_STATE"


def test_targets_check_runs_the_health_check_on_the_local_agent(world: World, tmp_path: Path) -> None:
    p, admin = world.p, world.admin
    deadline = time.monotonic() + 60
    agents: list[Any] = []
    while not any(a["name"] == "local" and a["status"] == "online" for a in agents):
        assert time.monotonic() < deadline, f"the server's local agent never came online: {agents}"
        agents = p.json(admin, "agents", "list")
        time.sleep(0.2)
    site = tmp_path / "site"
    site.mkdir()
    edge = p.json(admin, "environments", "create", "--name", "edge", "--order", "8")
    target = p.json(
        admin,
        "api",
        "POST",
        "targets",
        "-d",
        json.dumps({"name": "here", "environmentId": edge["id"], "type": "local", "config": {"directory": str(site)}}),
    )
    checked = p.run(admin, "targets", "check", target["id"], "-o", "json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = json.loads(checked.stdout)
    assert result["state"] == "done" and result["health"]["status"] == "healthy"
    assert str(site) in result["health"]["message"]
    # The directory gone: the check still runs (exit 0) and reports the target unhealthy.
    site.rmdir()
    table = p.run(admin, "targets", "check", target["id"])
    assert table.returncode == 0, table.stdout + table.stderr
    verdict = table.stdout.splitlines()[0]
    assert verdict == f"{target['id']}: unhealthy: {site} is missing or not writable", table.stdout
    assert p.json(admin, "targets", "get", target["id"])["health"]["status"] == "unhealthy"
    assert p.run(admin, "targets", "check", "no-such-target").returncode == 6
