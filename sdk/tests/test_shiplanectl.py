"""A CI pipeline that runs nothing but ``shiplanectl`` subprocesses against a real server.

Setup as an admin would do it (an integration on a local git repository, a component,
an approval policy, dev and prod), then the pipeline as a release-manager token: sync
versions, a release from the latest versions, promote to dev and to prod with
``--wait`` (prod waits for an approval given with a second account), the evidence
downloaded and verified offline, and the exit codes of a blocked promotion (a freeze
window), of a failed one (its deployment workflow fails), of a refused approval, an
unknown resource and a bad token. The pipeline and the approver are service accounts
(client id and secret in the environment, tokens from ``/oauth/token``); the admin's
setup uses a token of the identity provider (minted as tests/e2e do).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings
from tests.api.releases import Repo
from tests.conftest import make_database, once_on_sqlite
from tests.servers import Server, production_env, start_server

pytestmark = [pytest.mark.slow, once_on_sqlite("the command-line client against a real server")]

SECRET = "shiplanectl-tests-secret-" + "s" * 40
# A bearer token, a service account's (client id, secret), or nobody.
Caller = str | tuple[str, str] | None
ENCRYPTION_KEY = "shiplanectl-tests-encryption-key-" + "k" * 20


def shiplanectl() -> list[str]:
    script = Path(sys.executable).parent / "shiplanectl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "shiplane_sdk.ctl"]


@dataclass
class Pipeline:
    server: Server
    tenant: str
    workdir: Path

    def token(self, user: str, roles: list[str]) -> str:
        settings = Settings(auth_hs_secret=SECRET)
        return mint_token(settings, user_id=user, tenant_id=self.tenant, roles=roles, lifetime_seconds=3600)

    def account(self, admin: str, name: str, role: str) -> tuple[str, str]:
        """A service account made with ``shiplanectl``: its client id and secret."""
        secret_file = self.workdir / f"{name}.secret"
        made = self.json(
            admin, "service-accounts", "create", "--name", name, "--role", role, "--secret-file", str(secret_file)
        )
        return made["clientId"], secret_file.read_text().strip()

    def env(self, token: Caller) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLANE_")}
        env["SHIPLANE_SERVER"] = self.server.url
        env["SHIPLANE_CONFIG"] = str(self.workdir / "no-config.yaml")
        if isinstance(token, tuple):
            env["SHIPLANE_CLIENT_ID"], env["SHIPLANE_CLIENT_SECRET"] = token
        elif token is not None:
            env["SHIPLANE_TOKEN"] = token
        return env

    def run(self, token: Caller, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*shiplanectl(), *args],
            env=self.env(token),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, token: Caller, *args: str) -> Any:
        done = self.run(token, *args, "-o", "json")
        assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    tmp = tmp_path_factory.mktemp("shiplanectl")
    for url in make_database(tmp):
        oauth_key = tmp / "oauth-key.pem"
        oauth_key.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        env = production_env(url, tmp / "data", SECRET, ENCRYPTION_KEY, SHIPLANE_OAUTH_SIGNING_KEY_PATH=str(oauth_key))
        server = start_server(env, tmp / "server")
        try:
            yield Pipeline(server, f"tenant-{uuid.uuid4().hex[:8]}", tmp)
        finally:
            server.stop()


def set_up_pipeline(p: Pipeline, workdir: Path) -> tuple[str, tuple[str, str], tuple[str, str], str]:
    """The admin's setup of a pipeline, with ``shiplanectl`` only: git integration, component
    ``api`` (tags v1.0.0 and v1.1.0), policy ``prod-one``, ``dev`` and ``prod`` (approval, pipeline
    order, freeze windows). Returns the admin's token, the pipeline's and the approver's accounts, the
    policy's id."""
    admin = p.token("admin-ada", ["admin"])
    ci = p.account(admin, "ci-bot", "release-manager")
    approver = p.account(admin, "approver-bo", "approver")
    repo = Repo(workdir / "repo")
    for tag in ("v1.0.0", "v1.1.0"):
        repo.commit()
        repo.tag(tag)
    integration = p.json(
        admin,
        "integrations",
        "create",
        "--name",
        "repo",
        "--type",
        "git",
        "--data",
        json.dumps({"url": str(repo.path)}),
    )
    p.json(admin, "components", "create", "--name", "api", "--integration", integration["id"], "--reference", ".")
    policy = p.json(admin, "approval-policies", "create", "--name", "prod-one", "--required", "1", "--role", "approver")
    p.json(admin, "environments", "create", "--name", "dev", "--order", "1")
    p.json(
        admin,
        "environments",
        "create",
        "--name",
        "prod",
        "--order",
        "2",
        "--production",
        "--gate",
        "pipeline-order",
        "--gate",
        "freeze-window",
        "--approval-policy",
        policy["id"],
    )
    return admin, ci, approver, policy["id"]


def test_a_service_account_drives_shiplanectl(pipeline: Pipeline, tmp_path: Path) -> None:
    p = pipeline
    admin = p.token("admin-ada", ["admin"])
    secret_file = tmp_path / "ci.secret"
    account = p.json(
        admin,
        "service-accounts",
        "create",
        "--name",
        "ci-reader",
        "--role",
        "viewer",
        "--secret-file",
        str(secret_file),
    )
    assert account["clientSecret"].startswith("(written to") and secret_file.stat().st_mode & 0o777 == 0o600
    env = p.env(None)
    env["SHIPLANE_CLIENT_ID"] = account["clientId"]
    env["SHIPLANE_CLIENT_SECRET"] = secret_file.read_text().strip()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*shiplanectl(), *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    listed = run("environments", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert run("environments", "create", "--name", "nope").returncode == 5  # a viewer
    assert p.run(admin, "service-accounts", "revoke", account["clientId"]).returncode == 0
    assert run("environments", "list").returncode == 5  # revoked: no token any more


def test_a_ci_pipeline_with_shiplanectl_only(pipeline: Pipeline, tmp_path: Path) -> None:
    p = pipeline
    # The admin's setup.
    admin, ci, approver, _ = set_up_pipeline(p, tmp_path)
    listed = p.run(admin, "environments", "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].split()[:2] == ["ID", "NAME"]

    # The pipeline: sync versions, seal the latest, promote to dev and wait.
    synced = p.run(ci, "components", "sync", "api")
    assert synced.returncode == 0 and "added 2" in synced.stdout, synced.stderr
    release = p.json(ci, "releases", "from-latest", "--component", "api", "--name", "shop-1")
    assert release["state"] == "ready" and release["components"][0]["version"] == "v1.1.0"
    dev = p.run(ci, "promote", "shop-1", "dev", "--wait", "--timeout", "90", "--poll", "0.3", "-o", "json")
    assert dev.returncode == 0, dev.stderr
    dev_promotion = json.loads(dev.stdout)
    assert dev_promotion["state"] == "succeeded"
    assert "deploying" in dev.stderr and "deployment" in dev.stderr  # the progress display

    # Its run's logs, followed to the end through the WebSocket stream.
    logs = p.run(ci, "runs", "logs", dev_promotion["workflowRunId"], "--follow", "--timeout", "60")
    assert logs.returncode == 0 and "succeeded" in logs.stderr, logs.stderr
    printed = p.run(ci, "runs", "logs", dev_promotion["workflowRunId"])
    assert printed.returncode == 0 and printed.stdout.startswith("[deploy] "), printed.stdout + printed.stderr
    jobs = p.json(ci, "jobs", "list", "--promotion", dev_promotion["id"])
    assert [j["state"] for j in jobs] == ["succeeded"]
    followed = p.run(ci, "jobs", "logs", jobs[0]["id"], "--follow", "--timeout", "60")
    assert followed.returncode == 0, followed.stderr

    # Prod needs an approval: the pipeline waits while a second account approves.
    waiting = subprocess.Popen(
        [
            *shiplanectl(),
            "promote",
            "shop-1",
            "prod",
            "--reason",
            "ship it",
            "--wait",
            "--timeout",
            "90",
            "--poll",
            "0.3",
            "-o",
            "json",
        ],
        env=p.env(ci),
        cwd=p.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        pending: list[Any] = []
        while not pending:
            assert time.monotonic() < deadline, "the prod promotion never waited for an approval"
            pending = p.json(approver, "promotions", "pending")
            time.sleep(0.3)
        [promotion] = pending
        # The requester may not approve (a release-manager lacks the permission): exit 5.
        refused = p.run(ci, "approve", promotion["id"])
        assert refused.returncode == 5 and "FORBIDDEN" in refused.stderr
        approved = p.run(approver, "approve", promotion["id"], "--comment", "checked")
        assert approved.returncode == 0, approved.stderr
        out, err = waiting.communicate(timeout=90)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 0, err
    assert json.loads(out)["state"] == "succeeded"
    assert "awaiting_approval" in err and "succeeded" in err

    # The evidence, downloaded and verified offline (no server, no token).
    keys = tmp_path / "keys.json"
    assert p.run(ci, "evidence", "keys", "-f", str(keys)).returncode == 0
    packets = tmp_path / "packets"
    downloaded = p.run(ci, "evidence", "download", "--promotion", promotion["id"], "-f", str(packets))
    assert downloaded.returncode == 0, downloaded.stderr
    files = sorted(packets.glob("*.dsse.json"))
    assert len(files) == 2  # the decision and the deployment's outcome
    offline = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLANE_")}
    verify = subprocess.run(
        [*shiplanectl(), "evidence", "verify", *map(str, files), "--keys", str(keys)],
        env=offline,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("OK: ") == 2 and "promotion-decision/v1 (approved)" in verify.stdout
    envelope = json.loads(files[0].read_text())
    payload = bytearray(envelope["payload"].encode())
    payload[10] = ord("A") if payload[10] != ord("A") else ord("B")
    envelope["payload"] = payload.decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(envelope))
    verify = subprocess.run(
        [*shiplanectl(), "evidence", "verify", str(tampered), "--keys", str(keys)],
        env=offline,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 1 and verify.stdout.startswith("INVALID: ")

    # Blocked: a freeze window on prod. Exit 3, the gate named.
    now = datetime.now(UTC)
    frozen = p.run(
        admin,
        "environments",
        "freeze",
        "prod",
        "--starts",
        (now - timedelta(minutes=1)).isoformat(),
        "--ends",
        (now + timedelta(hours=1)).isoformat(),
        "--reason",
        "quarter close",
    )
    assert frozen.returncode == 0, frozen.stderr
    p.json(ci, "releases", "create", "--name", "shop-0", "--component", "api=v1.0.0")
    assert p.run(ci, "promote", "shop-0", "dev", "--wait", "--timeout", "90", "--poll", "0.3").returncode == 0
    blocked = p.run(ci, "promote", "shop-0", "prod", "--wait", "-o", "json")
    assert blocked.returncode == 3, blocked.stdout + blocked.stderr
    answer = json.loads(blocked.stdout)
    assert answer["state"] == "blocked" and [g["type"] for g in answer["gates"]] == ["freeze-window"]
    assert "freeze-window" in blocked.stderr

    # Failed: an environment whose deployment workflow fails. Exit 1.
    failing_gate = {"gate": "policy", "config": {"rules": {"properties": {"name": {"pattern": "^hotfix-"}}}}}
    template = p.json(
        admin,
        "api",
        "POST",
        "workflow-templates",
        "-d",
        json.dumps({"name": "smoke-fails", "nodes": [{"id": "smoke", "type": "gate", "config": failing_gate}]}),
    )
    p.json(
        admin,
        "environments",
        "create",
        "--name",
        "broken",
        "--order",
        "3",
        "--workflow-template",
        template["id"],
        "--body",
        json.dumps({"requiredPredecessors": []}),
    )
    failed = p.run(ci, "promote", "shop-1", "broken", "--wait", "--timeout", "90", "--poll", "0.3", "-o", "json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert json.loads(failed.stdout)["state"] == "failed"

    # The other documented codes.
    assert p.run(ci, "releases", "get", "no-such-release").returncode == 6
    assert p.run("not-a-token", "releases", "list").returncode == 5
    assert p.run(ci, "releases", "deprecate", "shop-1").returncode == 2  # --reason missing
    conflict = p.run(ci, "releases", "deprecate", "shop-1", "--reason", "CVE", "-o", "json")
    assert conflict.returncode == 0
    again = p.run(ci, "releases", "deprecate", "shop-1", "--reason", "CVE", "-o", "json")
    assert again.returncode == 1 and json.loads(again.stdout)["error"]["code"] == "INVALID_STATE"
    compare = p.json(ci, "releases", "compare", "shop-0", "shop-1")
    assert [c["to"]["version"] for c in compare["changed"]] == ["v1.1.0"]
    assert [r["name"] for r in p.json(ci, "releases", "list")] == ["shop-0", "shop-1"]


def test_configuration_from_a_profile_and_completion(pipeline: Pipeline, tmp_path: Path) -> None:
    p = pipeline
    token_file = tmp_path / "token"
    token_file.write_text(p.token("viewer-vi", ["viewer"]) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "current: local\nprofiles:\n"
        f"  local:\n    server: {p.server.url}\n    tokenFile: {token_file}\n"
        "  elsewhere:\n    server: http://127.0.0.1:9\n    token: x\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLANE_")}
    env["SHIPLANE_CONFIG"] = str(config)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*shiplanectl(), *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    listed = run("plugins", "list", "-o", "yaml")
    assert listed.returncode == 0, listed.stderr
    assert "- id: " in listed.stdout
    # Another profile: nothing listens there (exit 7 after the bounded retries).
    assert run("--profile", "elsewhere", "plugins", "list", "--retries", "0").returncode == 7
    assert run("--profile", "missing", "plugins", "list").returncode == 2
    # A flag wins over the profile.
    assert run("plugins", "list", "--server", "http://127.0.0.1:9", "--retries", "1").returncode == 7
    for shell in ("bash", "zsh"):
        script = run("completion", shell)
        assert script.returncode == 0 and "shiplanectl" in script.stdout and "promote" in script.stdout
